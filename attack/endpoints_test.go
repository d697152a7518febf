package attack

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/evilop"
)

// providerTimeout is how long authgate waits for the provider's token and
// JWKS endpoints (oidcflow.Discovery's default client timeout); a hung
// provider must cost a login no more than this plus some slack.
const providerTimeout = 10 * time.Second

// TestMaliciousTokenEndpoint: a token endpoint that errors, hangs, redirects
// or answers garbage ends the callback with a clear 502 within a bound, and
// hands out nothing.
func TestMaliciousTokenEndpoint(t *testing.T) {
	t.Parallel()
	var captured atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		captured.Add(1)
	}))
	t.Cleanup(elsewhere.Close)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	huge := &evilop.Counter{}

	for _, tc := range []struct {
		name     string
		endpoint func(op *evilop.Provider) http.HandlerFunc
		bound    time.Duration
	}{
		{"500", func(*evilop.Provider) http.HandlerFunc {
			return evilop.Status(http.StatusInternalServerError, "text/plain", "internal error")
		}, 0},
		{"invalid_grant", func(*evilop.Provider) http.HandlerFunc {
			return evilop.Status(http.StatusBadRequest, "application/json", `{"error":"invalid_grant","error_description":"code already used"}`)
		}, 0},
		{"HTML error page with 200", func(*evilop.Provider) http.HandlerFunc {
			return evilop.Status(http.StatusOK, "text/html", "<html><body>Gateway says hi</body></html>")
		}, 0},
		{"garbage JSON", func(*evilop.Provider) http.HandlerFunc {
			return evilop.Status(http.StatusOK, "application/json", `{"access_token": 5, "id_token": [`)
		}, 0},
		{"binary garbage", func(*evilop.Provider) http.HandlerFunc {
			return evilop.Status(http.StatusOK, "application/octet-stream", "\x00\xff\xfe\x01{{{")
		}, 0},
		{"empty access token", func(op *evilop.Provider) http.HandlerFunc {
			return op.Rewrite(func(b map[string]any) { b["access_token"] = "" })
		}, 0},
		{"huge body", func(*evilop.Provider) http.HandlerFunc {
			return evilop.Huge(`{"access_token":"`, 256<<20, huge)
		}, 0},
		{"redirect to another host", func(*evilop.Provider) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+"/token", http.StatusTemporaryRedirect)
			}
		}, 0},
		{"hangs", func(*evilop.Provider) http.HandlerFunc { return evilop.Hang(release) }, providerTimeout + 3*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			op := evilop.Start(t, evilop.Options{Key: keys().ec})
			g := startGate(t, op, gateOptions{})
			op.SetScenario(evilop.Scenario{TokenEndpoint: tc.endpoint(op)})
			b := g.newClient()
			cb := b.navigate(b.startLogin("/app"))
			bound := tc.bound
			if bound == 0 {
				bound = 3 * time.Second
			}
			if cb.Elapsed > bound {
				t.Errorf("callback took %s, bound %s", cb.Elapsed, bound)
			}
			wantRefused(t, tc.name, cb, http.StatusBadGateway, "token_exchange_failed")
			if strings.Contains(g.Logs.String(), op.ClientSecret) {
				t.Error("the client secret is in the log")
			}
		})
	}
	// Runs once every subtest above has finished.
	t.Cleanup(func() {
		if n := captured.Load(); n != 0 {
			t.Errorf("authgate followed the token endpoint's redirect (%d requests elsewhere, with the code and client credentials)", n)
		}
		if n := huge.Load(); n > 32<<20 {
			t.Errorf("authgate read %d bytes of a huge token response", n)
		}
	})
}

// TestMaliciousJWKS: a JWKS endpoint that is huge, garbage or slow. With no
// keys loaded a login is refused with a clear 502 and recovers once the
// endpoint behaves; a slow refetch costs a login at most the provider
// timeout, and never stalls requests whose key is already known.
func TestMaliciousJWKS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		jwks func(sent *evilop.Counter) http.HandlerFunc
	}{
		{"huge", func(sent *evilop.Counter) http.HandlerFunc { return evilop.Huge(`{"keys":[`, 256<<20, sent) }},
		{"garbage", func(*evilop.Counter) http.HandlerFunc {
			return evilop.Status(http.StatusOK, "text/html", "<html>maintenance</html>")
		}},
		{"down (503)", func(*evilop.Counter) http.HandlerFunc {
			return evilop.Status(http.StatusServiceUnavailable, "text/plain", "unavailable")
		}},
	} {
		t.Run(tc.name+" from the start", func(t *testing.T) {
			t.Parallel()
			sent := &evilop.Counter{}
			op := evilop.Start(t, evilop.Options{Key: keys().ec})
			op.SetScenario(evilop.Scenario{JWKS: tc.jwks(sent)})
			g := startGate(t, op, gateOptions{}) // not fatal: /readyz says so
			b := g.newClient()
			wantRefused(t, "callback without keys", b.login(), http.StatusBadGateway, "invalid_id_token")
			if n := sent.Load(); n > 32<<20 {
				t.Errorf("authgate read %d bytes of a huge JWKS", n)
			}
			wantError(t, "bearer without keys", g.newClient().get("/app", "Authorization", "Bearer "+op.Mint(nil)),
				http.StatusUnauthorized, "keyset_unavailable")

			// The endpoint recovers; after the refetch interval so does authgate,
			// without a restart.
			op.SetScenario(evilop.Scenario{})
			g.Clock.Advance(max(g.Config.JWKSMinRefetchInterval, 12*time.Second) + time.Second)
			g.newClient().fullLogin()
		})
	}

	t.Run("slow refetch", func(t *testing.T) {
		t.Parallel()
		k := keys()
		release := make(chan struct{})
		defer close(release)
		op := evilop.Start(t, evilop.Options{Key: k.ec})
		g := startGate(t, op, gateOptions{})
		known := op.Mint(nil)
		// The provider rotates and its JWKS hangs.
		op.SetKeys(k.ec2, k.ec2)
		op.SetScenario(evilop.Scenario{JWKS: evilop.Hang(release)})
		g.Clock.Advance(max(g.Config.JWKSMinRefetchInterval, 12*time.Second) + time.Second)

		b := g.newClient()
		callback := b.startLogin("/app")
		done := make(chan *response, 1)
		go func() { done <- b.navigate(callback) }()
		// While the refetch hangs, a token of a known key is served at once.
		time.Sleep(200 * time.Millisecond)
		r := g.newClient().get("/app", "Authorization", "Bearer "+known)
		if r.StatusCode != http.StatusOK || r.Elapsed > time.Second {
			t.Errorf("known-key request during a hung JWKS refetch: %d after %s", r.StatusCode, r.Elapsed)
		}
		cb := <-done
		if cb.Elapsed > providerTimeout+3*time.Second {
			t.Errorf("callback took %s", cb.Elapsed)
		}
		wantRefused(t, "callback with a hung JWKS", cb, http.StatusBadGateway, "invalid_id_token")
		if n := op.Calls("jwks"); n != 2 {
			t.Errorf("JWKS fetched %d times, want 2 (start-up and one refetch)", n)
		}
	})
}
