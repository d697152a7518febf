package proxy_test

import (
	"net/http"
	"testing"

	"github.com/authgate/authgate/internal/flowtest"
)

// TestProxyAndForwardAuthAgree (§1): both modes share one decision, so on the
// same request they never disagree: the proxy forwards exactly when
// forward-auth answers 200, and both deny with the same status otherwise.
func TestProxyAndForwardAuthAgree(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{PublicRoutes: "/public/,/health", RouteRules: "/admin/=role:admin"})
	auth := map[string]string{
		"anonymous": "",
		"admin":     "Bearer " + env.AccessToken("alice", nil),
		"user":      "Bearer " + env.AccessToken("carol", nil),
		"garbage":   "Bearer garbage",
		"expired":   "Bearer " + env.AccessToken("carol", map[string]any{"exp": 1_000_000_000}),
	}
	host := env.Server.Listener.Addr().String()
	for _, uri := range []string{
		"/", "/x?y=1", "/public/x", "/health", "/health/", "/PUBLIC/x", "//admin", "/admin/x", "/ADMIN/x",
		"/admin;x/y", "/public/../admin", "/public/%2e%2e/admin", "/public%2F..%2Fadmin", "/public;/../admin", "/%2Fadmin",
	} {
		for who, authz := range auth {
			hdr := []string{"Accept", "application/json"}
			if authz != "" {
				hdr = append(hdr, "Authorization", authz)
			}
			before := env.Upstream.Count()
			presp, pbody := rawRequest(t, env, "GET", uri, hdr...)
			forwarded := env.Upstream.Count() > before

			fhdr := append([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http", "X-Forwarded-Host", host, "X-Forwarded-Uri", uri}, hdr...)
			fresp, fbody := rawRequest(t, env, "GET", "/auth/forward", fhdr...)
			switch {
			case forwarded != (fresp.StatusCode == http.StatusOK):
				t.Errorf("%s as %s: proxy forwarded=%v (%d %s), forward-auth %d %s", uri, who, forwarded, presp.StatusCode, pbody, fresp.StatusCode, fbody)
			case !forwarded && presp.StatusCode != fresp.StatusCode:
				t.Errorf("%s as %s: proxy denies with %d %s, forward-auth with %d %s", uri, who, presp.StatusCode, pbody, fresp.StatusCode, fbody)
			}
			if forwarded && fresp.StatusCode == http.StatusOK {
				for _, h := range identityHeaders {
					if got, want := fresp.Header.Get(h), env.Upstream.Last().Header.Get(h); got != want {
						t.Errorf("%s as %s: forward-auth says %s %q, the proxy sent %q", uri, who, h, got, want)
					}
				}
			}
		}
	}
}
