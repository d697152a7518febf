package oidcflow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/flowtest"
)

// TestNoTokenLeaks runs every path of the flow (successes and refusals) and
// then scans everything authgate answered, every URL the browser or
// authgate asked the provider for, and authgate's whole log (§8, §9): no
// access or refresh token anywhere, the ID token only as the id_token_hint
// of the end-session URL, and no exchange code, cookie value, client secret
// or cookie secret in the log.
func TestNoTokenLeaks(t *testing.T) {
	t.Parallel()
	for _, o := range []flowtest.Options{{}, {FrontendURL: "http://app.example.test", InternalURL: true, Production: true}} {
		env := flowtest.New(t, o)
		var logOnly []flowtest.Secret

		// A complete login, step by step, keeping the exchange code.
		b := env.NewBrowser()
		cb := b.Callback(b.Authorize(b.StartLogin("/start")))
		code := flowtest.ExchangeCode(t, cb)
		logOnly = append(logOnly, flowtest.Secret{Name: "exchange code", Value: code})
		if o.FrontendURL == "" {
			b.Navigate(cb.Header.Get("Location"))
			b.Get("/auth/complete.js")
		}
		b.Exchange(code)
		b.Exchange(code) // replay
		b.Navigate("/start")
		b.Get("/auth/session", api...)

		// A stranger tries the code and a state of another login.
		other := env.NewBrowser()
		c2 := b.Authorize(b.StartLogin("/"))
		other.Callback(c2)
		code3 := flowtest.ExchangeCode(t, b.Callback(b.Authorize(b.StartLogin("/"))))
		logOnly = append(logOnly, flowtest.Secret{Name: "exchange code", Value: code3})
		other.Exchange(code3)
		b.Exchange(code3)

		// Refresh (API and navigation), expiry, and the logouts.
		b.Fetch("/auth/refresh", "")
		b.Navigate("/auth/refresh?rd=/r")
		env.Clock.Advance(6 * time.Minute)
		b.Get("/expired", api...)
		b.Navigate(b.Navigate("/expired").Header.Get("Location"))
		b.Post("/auth/refresh", "", "", "Origin", "https://evil.example")
		for name, v := range b.Session().Sealed {
			logOnly = append(logOnly, flowtest.Secret{Name: "cookie " + name, Value: v})
		}
		b.Fetch("/auth/logout", "")
		b2 := env.NewBrowser()
		b2.LoginAs("bob")
		for name, v := range b2.Session().Sealed {
			logOnly = append(logOnly, flowtest.Secret{Name: "cookie " + name, Value: v})
		}
		b2.Get("/x", api...)
		b2.Navigate("/auth/logout")

		// A refresh token the provider refuses.
		b3 := env.NewBrowser()
		b3.LoginAs("")
		providerRefresh(t, env, b3.Session().Refresh)
		b3.Fetch("/auth/refresh", "")

		issued := env.IssuedTokens()
		if len(issued) < 10 {
			t.Fatalf("only %d tokens issued; the scenario did not run", len(issued))
		}
		idTokens := map[string]bool{}
		for _, tok := range issued {
			if tok.Kind == "id_token" {
				idTokens[tok.Value] = true
			}
		}
		leaks := env.Leaks(env.Secrets(), func(where string, s flowtest.Secret) bool {
			// The end-session URL carries the ID token by design (§2.7).
			if s.Name != "id_token" {
				return false
			}
			return strings.Contains(where, "/auth/logout") && !strings.Contains(where, "(request URL)") ||
				strings.Contains(where, "/end-session/")
		})
		for _, l := range leaks {
			t.Error(l)
		}
		log := env.Logs.String()
		if log == "" {
			t.Fatal("nothing was logged; the log scan proves nothing")
		}
		for _, s := range append(logOnly, env.Secrets()...) {
			if len(s.Value) >= 8 && strings.Contains(log, s.Value) {
				t.Errorf("%s is in the log", s.Name)
			}
		}
		// The upstream never saw a token either (no authgate cookie forwarded).
		if last := env.Upstream.Last(); last != nil {
			for _, s := range append(logOnly, env.Secrets()...) {
				for _, v := range last.Header.Values("Cookie") {
					if strings.Contains(v, s.Value) {
						t.Errorf("%s reached the upstream in a Cookie header", s.Name)
					}
				}
			}
		}
	}
}
