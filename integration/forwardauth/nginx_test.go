package forwardauth_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/authgate/authgate/internal/gateproc"
	"github.com/authgate/authgate/internal/nginxtest"
)

// nginxSnippet is deploy/nginx/authgate.conf, included verbatim.
func nginxSnippet(t *testing.T) map[string]string {
	return map[string]string{"authgate.conf": readFile(t, "../../deploy/nginx/authgate.conf")}
}

// TestNginx runs the front-proxy suite behind a real Nginx whose server {}
// includes deploy/nginx/authgate.conf as shipped; only the upstream and
// server blocks around it are generated.
func TestNginx(t *testing.T) {
	t.Parallel()
	gateAddr, proxyAddr := gateproc.FreeAddr(t), gateproc.FreeAddr(t)
	base := "http://" + proxyAddr
	prov := startProvider(t, base+"/auth/callback")
	a := startApp(t)
	gateproc.Start(t, binary, gateAddr, gateEnv(prov, base))
	nginxtest.Start(t, nginxtest.Config{
		Files: nginxSnippet(t),
		HTTP: fmt.Sprintf(`
    upstream authgate { server %s; }
    upstream app { server %s; }
    server {
        listen %s;
        include authgate.conf;
    }`, gateAddr, a.Addr(), proxyAddr),
		Wait: []string{proxyAddr},
	})
	runFrontSuite(t, front{base: base, prov: prov, app: a})

	t.Run("the verify location is internal", func(t *testing.T) {
		r := newBrowser(t).nav(base+"/auth/verify", "X-Original-URL", base+"/public/x", "X-Original-Method", "GET")
		if r.Status != http.StatusNotFound {
			t.Errorf("client call of /auth/verify: %d %s", r.Status, r.Body)
		}
	})

	t.Run("the subrequest describes the original method", func(t *testing.T) {
		// A form POST cannot be replayed after login, so it returns to "/"
		// with a 303: proof that X-Original-Method carried POST, not the
		// subrequest's GET.
		r := newBrowser(t).do(http.MethodPost, base+"/form", "a=1",
			append([]string{"Content-Type", "application/x-www-form-urlencoded"}, navHeaders...)...)
		if r.Status != http.StatusSeeOther || r.Location != base+"/auth/login?rd=%2F" {
			t.Errorf("POST navigation without session: %d %q", r.Status, r.Location)
		}
	})
}
