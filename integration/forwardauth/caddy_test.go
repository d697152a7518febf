package forwardauth_test

import (
	"testing"

	"github.com/authgate/authgate/internal/caddytest"
	"github.com/authgate/authgate/internal/gateproc"
)

// TestCaddy runs the front-proxy suite behind a real Caddy running
// deploy/caddy/Caddyfile as shipped; its addresses come from the environment.
func TestCaddy(t *testing.T) {
	t.Parallel()
	gateAddr, proxyAddr := gateproc.FreeAddr(t), gateproc.FreeAddr(t)
	base := "http://" + proxyAddr
	prov := startProvider(t, base+"/auth/callback")
	a := startApp(t)
	gateproc.Start(t, binary, gateAddr, gateEnv(prov, base))
	caddytest.Start(t, "../../deploy/caddy/Caddyfile", map[string]string{
		"SITE_ADDRESS":      base,
		"AUTHGATE_UPSTREAM": gateAddr,
		"APP_UPSTREAM":      a.Addr(),
	}, proxyAddr)
	runFrontSuite(t, front{base: base, prov: prov, app: a})
}
