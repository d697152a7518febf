package forwardauth_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/gateproc"
	"github.com/authgate/authgate/internal/nginxtest"
)

// TestNginxMultiAppSSO is the central-auth-host layout: two apps on their own
// hosts and authgate's /auth/ on a third, all behind one Nginx (server_name),
// with cookie_domain covering all three. A login started on app1 returns
// there by absolute URL, and app2 is reached without logging in again.
//
// allowed_redirect_hosts carries the port because the test Nginx cannot
// listen on 80: an entry without a port matches only URLs without one.
func TestNginxMultiAppSSO(t *testing.T) {
	t.Parallel()
	gateAddr, proxyAddr := gateproc.FreeAddr(t), gateproc.FreeAddr(t)
	_, port, _ := net.SplitHostPort(proxyAddr)
	authBase := "http://auth.example.test:" + port
	app1 := "http://app1.example.test:" + port
	app2 := "http://app2.example.test:" + port
	prov := startProvider(t, authBase+"/auth/callback")
	a := startApp(t)
	gateproc.Start(t, binary, gateAddr, gateEnv(prov, authBase,
		"AUTHGATE_COOKIE_DOMAIN", "example.test",
		"AUTHGATE_ALLOWED_REDIRECT_HOSTS", ".example.test:"+port))
	var servers strings.Builder
	for _, host := range []string{"auth.example.test", "app1.example.test", "app2.example.test"} {
		fmt.Fprintf(&servers, `
    server {
        listen %s;
        server_name %s;
        include authgate.conf;
    }`, proxyAddr, host)
	}
	nginxtest.Start(t, nginxtest.Config{
		Files: nginxSnippet(t),
		HTTP: fmt.Sprintf(`
    upstream authgate { server %s; }
    upstream app { server %s; }
%s`, gateAddr, a.Addr(), servers.String()),
		Wait: []string{proxyAddr},
	})

	b := newBrowser(t)
	start := b.nav(app1 + "/page?x=1")
	if start.Status != http.StatusFound || !strings.HasPrefix(start.Location, authBase+"/auth/login?rd=") || queryRD(t, start.Location) != app1+"/page?x=1" {
		t.Fatalf("app1 without session: %d %q, want 302 to the central login with an absolute return URL", start.Status, start.Location)
	}
	r := b.login(prov, "alice", app1+"/page?x=1")
	if r.Status != http.StatusOK || r.Body != "app: /page?x=1" {
		t.Fatalf("back at app1 after login: %d %s", r.Status, r.Body)
	}
	if seen := a.last(t); seen.Host != "app1.example.test:"+port {
		t.Errorf("app saw Host %q", seen.Host)
	}
	checkIdentity(t, a.last(t).Header, wantAlice)

	authorizations := prov.Stats().Authorize
	r = b.nav(app2 + "/other")
	if r.Status != http.StatusOK || r.Body != "app: /other" {
		t.Fatalf("app2 after logging in on app1: %d %q %s", r.Status, r.Location, r.Body)
	}
	if seen := a.last(t); seen.Host != "app2.example.test:"+port {
		t.Errorf("app saw Host %q", seen.Host)
	}
	checkIdentity(t, a.last(t).Header, wantAlice)
	if n := prov.Stats().Authorize; n != authorizations {
		t.Errorf("app2 needed another authorization at the provider (%d → %d)", authorizations, n)
	}

	// Return URLs to hosts outside allowed_redirect_hosts are refused at login.
	for _, rd := range []string{
		"http://evil.test:" + port + "/x",
		"http://app1.example.test.evil.test:" + port + "/x",
		"http://evilexample.test:" + port + "/x",
		"http://app1.example.test/x", // right host, other port
		"//app1.example.test:" + port + "/x",
	} {
		r := newBrowser(t).nav(authBase + "/auth/login?rd=" + url.QueryEscape(rd))
		if r.Status != http.StatusBadRequest || decodeError(t, r).Error != "invalid_redirect" {
			t.Errorf("login with rd=%s: %d %q %s", rd, r.Status, r.Location, r.Body)
		}
	}
}
