package proxy_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/flowtest"
)

// TestPublicRoutesCannotBeEscaped (§6): public routes are matched on the
// cleaned, decoded path, and no spelling of a protected path gets through
// without a session.
func TestPublicRoutesCannotBeEscaped(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{PublicRoutes: "/public/,/health"})
	for _, tc := range []struct {
		target string
		public bool // else: must not reach the upstream
	}{
		{"/public/x", true},
		{"/public/", true},
		{"/public", true},
		{"/health", true},
		{"//public/x", true},
		{"/public/../admin", false},
		{"/public/%2e%2e/admin", false},
		{"/public/%2E%2E/admin", false},
		{"/public/.%2e/admin", false},
		{"/public/%2e./admin", false},
		{"/public/x/../../admin", false},
		{"/public/./admin", false},
		{"//admin", false},
		{"///admin", false},
		{"/public;/../admin", false},
		{"/public/..;/admin", false},
		{"/public/.;/admin", false},
		{"/public;x=1/../admin", false},
		{"/PUBLIC/x", false},
		{"/Public/x", false},
		{"/public%2F..%2Fadmin", false},
		{"/public%2f%2e%2e%2fadmin", false},
		{"/%2Fadmin", false},
		{"/%2F%2Fadmin", false},
		{"/public/..%2Fadmin", false},
		{"/public\\..\\admin", false},
		{"/public%5C..%5Cadmin", false},
		{"/public/%5C../admin", false},
		{"/public/%00/../admin", false},
		{"/public/x%0d%0aX-User-Sub:%20evil", true}, // decoded CR/LF are refused, never passed
		{"/health/", false},
		{"/healthz", false},
		{"/health;x", false},
		{"/health/../admin", false},
		{"/health%2F..%2Fadmin", false},
		{"/admin", false},
		{"/publicity", false},
		{"/public%2Fx", true},
		{"http://" + "127.0.0.1/admin", false}, // absolute-form request target
	} {
		t.Run(tc.target, func(t *testing.T) {
			before := env.Upstream.Count()
			resp, body := rawRequest(t, env, "GET", tc.target, "Accept", "application/json")
			reached := env.Upstream.Count() > before
			switch {
			case reached && !tc.public:
				t.Fatalf("%s reached the upstream (as %q) without a session: %d", tc.target, env.Upstream.Last().RequestURI, resp.StatusCode)
			case !reached && resp.StatusCode == http.StatusOK:
				t.Fatalf("%s: 200 without the upstream: %s", tc.target, body)
			case !reached && resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized:
				t.Fatalf("%s: status %d, want 400 or 401", tc.target, resp.StatusCode)
			}
			if reached {
				if seen := env.Upstream.Last(); seen.Header.Get("X-User-Sub") != "" {
					t.Errorf("public request carried an identity: %v", seen.Header)
				}
			}
		})
	}
}

// TestRouteRules (§6): a route's role or group requirement gives 403 to a
// user without it, and no spelling of the path dodges the rule.
func TestRouteRules(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{
		RouteRules:   "/admin/=role:admin;/support/=group:ecosire-support|role:admin",
		PublicRoutes: "/public/",
	})
	tokens := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol"} {
		tokens[u] = "Bearer " + env.AccessToken(u, nil)
	}
	// carol also logs in with a browser: the cookie path must judge the same.
	carol := env.NewBrowser()
	carol.LoginAs("carol")

	allowed := map[string][]string{ // path → users that pass
		"/admin/x":            {"alice"},
		"/admin":              {"alice"},
		"/admin/":             {"alice"},
		"/ADMIN/x":            {"alice"},
		"/Admin":              {"alice"},
		"/aDmIn/x":            {"alice"},
		"//admin/x":           {"alice"},
		"/admin//x":           {"alice"},
		"/%61dmin/x":          {"alice"},
		"/admin%2Fx":          {"alice"},
		"/admin;x=1/y":        {"alice"},
		"/admin;/y":           {"alice"},
		"/ADMIN;jsessionid=1": {"alice"},
		"/support/ticket":     {"alice", "bob"},
		"/SUPPORT/":           {"alice", "bob"},
		"/support;a/b":        {"alice", "bob"},
		"/other":              {"alice", "bob", "carol"},
		"/administrator":      {"alice", "bob", "carol"},
	}
	for path, who := range allowed {
		for user, tok := range tokens {
			pass := strings.Contains(strings.Join(who, ","), user)
			before := env.Upstream.Count()
			resp, body := rawRequest(t, env, "GET", path, "Authorization", tok, "Accept", "application/json")
			reached := env.Upstream.Count() > before
			if pass && (resp.StatusCode != http.StatusOK || !reached) {
				t.Errorf("%s as %s: %d, want 200 through to the upstream", path, user, resp.StatusCode)
			}
			if !pass {
				if reached {
					t.Errorf("%s as %s reached the upstream (%d)", path, user, resp.StatusCode)
				} else if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s as %s: %d %s, want 403", path, user, resp.StatusCode, body)
				}
			}
		}
		if !strings.Contains(strings.Join(who, ","), "carol") {
			before := env.Upstream.Count()
			resp, _ := rawRequest(t, env, "GET", path, "Cookie", sessionCookie(carol), "Accept", "text/html")
			if env.Upstream.Count() > before || (resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest) {
				t.Errorf("%s with carol's cookie: %d", path, resp.StatusCode)
			}
		}
	}
	resp, body := rawRequest(t, env, "GET", "/admin/x", "Authorization", tokens["carol"])
	wantError(t, "403 body", resp.StatusCode, body, http.StatusForbidden, "forbidden_role")
	// A 403 is not a login problem: even a navigation is not redirected.
	resp, _ = rawRequest(t, env, "GET", "/admin/x", "Cookie", sessionCookie(carol), "Accept", "text/html", "Sec-Fetch-Mode", "navigate")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("navigation as carol to /admin/x: %d, want 403", resp.StatusCode)
	}
}

// TestDenyAnswers (§1): how a deny is answered depends on who asked.
func TestDenyAnswers(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	login := env.URL + "/auth/login?rd=" + url.QueryEscape("/page?q=1")
	for _, tc := range []struct {
		name     string
		method   string
		header   []string
		status   int
		location string
		reason   string // JSON error for 401
	}{
		{"GET text/html", "GET", []string{"Accept", "text/html,application/xhtml+xml"}, 302, login, ""},
		{"HEAD text/html", "HEAD", []string{"Accept", "text/html"}, 302, login, ""},
		{"GET Sec-Fetch-Mode navigate", "GET", []string{"Accept", "*/*", "Sec-Fetch-Mode", "navigate"}, 302, login, ""},
		{"POST navigation", "POST", []string{"Accept", "text/html", "Sec-Fetch-Mode", "navigate", "Content-Length", "0"}, 303, env.URL + "/auth/login?rd=%2F", ""},
		{"fetch with Accept text/html", "GET", []string{"Accept", "text/html", "Sec-Fetch-Mode", "cors"}, 401, "", "no_token"},
		{"XHR", "GET", []string{"Accept", "text/html", "X-Requested-With", "XMLHttpRequest"}, 401, "", "no_token"},
		{"API client", "GET", []string{"Accept", "application/json"}, 401, "", "no_token"},
		{"no Accept", "GET", nil, 401, "", "no_token"},
		{"POST form without fetch metadata", "POST", []string{"Accept", "text/html", "Content-Length", "0"}, 401, "", "no_token"},
		{"POST API", "POST", []string{"Accept", "application/json", "Content-Length", "0"}, 401, "", "no_token"},
		{"bearer garbage", "GET", []string{"Authorization", "Bearer garbage"}, 401, "", "token_malformed"},
		{"bearer garbage, API", "GET", []string{"Authorization", "Bearer garbage", "Accept", "application/json"}, 401, "", "token_malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawRequest(t, env, tc.method, "/page?q=1", tc.header...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.location != "" {
				if got := resp.Header.Get("Location"); got != tc.location {
					t.Errorf("Location %q, want %q", got, tc.location)
				}
				if resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("redirect is cacheable")
				}
				return
			}
			ch := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer ") {
				t.Errorf("WWW-Authenticate %q", ch)
			}
			if (tc.reason != "no_token") != strings.Contains(ch, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q for reason %s", ch, tc.reason)
			}
			var e struct {
				Error    string `json:"error"`
				LoginURL string `json:"login_url"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			want := login
			if tc.method == "POST" { // only GET can be replayed: other methods return to "/"
				want = env.URL + "/auth/login?rd=%2F"
			}
			if e.Error != tc.reason || e.LoginURL != want {
				t.Errorf("body %s, want error %q and login_url %q", body, tc.reason, want)
			}
		})
	}
}
