package attack

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/flowtest"
)

// openRedirects is a corpus of open-redirect payloads (PayloadsAllTheThings,
// bug-bounty reports, oauth2-proxy/Authelia/Pomerium advisories). Every
// redirect parameter authgate reads must either refuse each one or fall back
// to a default, never send the browser off its allowed set.
func openRedirects(self string) []string {
	host := strings.TrimPrefix(self, "http://")
	return []string{
		"//evil.example", "///evil.example", "////evil.example", "/\\evil.example", "/\\/evil.example",
		"\\\\evil.example", "\\/evil.example", "/%5Cevil.example", "/%5cevil.example", "/%2F%2Fevil.example",
		"/%2fevil.example", "%2F%2Fevil.example", "/%252F%252Fevil.example", "/.//evil.example", "/..//evil.example",
		"/a/..//evil.example", "/%2e%2e//evil.example", "/%09/evil.example", "/\t/evil.example", "\t//evil.example",
		" //evil.example", "/\r\nSet-Cookie:x=y", "/%0d%0aSet-Cookie:x=y", "/%00evil", "/\x00evil", "/\x7f",
		"/\u202e/elpmaxe.live", "/／evil.example", "/%EF%BC%8Fevil.example", "〱evil.example",
		"https://evil.example", "HTTPS://evil.example", "https:evil.example", "https:/evil.example",
		"http:/\\evil.example", "http:\\\\evil.example", "javascript:alert(1)", "JaVaScRiPt:alert(1)",
		"java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
		"evil.example", "@evil.example", ".evil.example",
		"http://" + host + "@evil.example/", "http://" + host + ".evil.example/", "http://evil.example\\@" + host + "/",
		"http://evil.example#@" + host + "/", "http://evil.example?@" + host + "/", "http://[::1]/", "http://0x7f.1/",
		"/" + strings.Repeat("a", 9000),
	}
}

// allowedLocation: a same-site path (never "//" or "/\"), or an absolute URL
// on one of the allowed origins.
func allowedLocation(loc string, origins ...string) bool {
	if loc == "" {
		return true
	}
	if strings.HasPrefix(loc, "/") {
		return !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, "/\\") && !strings.ContainsAny(loc, "\r\n\t\\\x00")
	}
	u, err := url.Parse(loc)
	if err != nil || u.User != nil {
		return false
	}
	for _, o := range origins {
		if u.Scheme+"://"+u.Host == o {
			return true
		}
	}
	return false
}

// TestOpenRedirectEveryParameter throws the corpus at every redirect
// parameter authgate reads: rd of /auth/login, /auth/refresh (with and
// without a session) and /auth/complete, the redirect the SPA pattern
// (FRONTEND_URL) receives, and post_logout_redirect_uri of /auth/logout
// (GET and POST). The browser is never sent off the allowed set.
func TestOpenRedirectEveryParameter(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{FrontendURL: "http://app.example.test"})
	payloads := openRedirects(env.URL)
	if len(payloads) < 30 {
		t.Fatalf("corpus has %d payloads", len(payloads))
	}
	self, front, provider := env.URL, "http://app.example.test", env.ProviderURL
	anon := env.NewBrowser()
	user := env.NewBrowser()
	user.LoginAs("alice")
	dataRd := regexp.MustCompile(`data-rd="([^"]*)"`)

	for _, p := range payloads {
		q := url.QueryEscape(p)
		short := p
		if len(short) > 40 {
			short = short[:40]
		}

		// /auth/login refuses outright; it never reaches the provider (and so
		// never the FRONTEND_URL page, whose redirect comes from this rd).
		r := anon.Navigate("/auth/login?rd=" + q)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("login rd=%q: %d Location %q, want 400", short, r.StatusCode, r.Header.Get("Location"))
		}

		// /auth/refresh without a session: back to login with a safe rd.
		r = anon.Navigate("/auth/refresh?rd=" + q)
		loc := r.Header.Get("Location")
		if lu, _ := url.Parse(loc); r.StatusCode != http.StatusFound || lu == nil || lu.Path != "/auth/login" || lu.Query().Get("rd") != "/" {
			t.Errorf("refresh (no session) rd=%q: %d Location %q", short, r.StatusCode, loc)
		}

		// /auth/refresh with a session: renewed, then sent to "/".
		r = user.Navigate("/auth/refresh?rd=" + q)
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusFound || loc != "/" {
			t.Errorf("refresh rd=%q: %d Location %q, want 302 /", short, r.StatusCode, loc)
		}

		// /auth/complete: the page's script goes to data-rd.
		r = anon.Navigate("/auth/complete?exchange=x&rd=" + q)
		m := dataRd.FindSubmatch(r.Body)
		if r.StatusCode != http.StatusOK || m == nil || html.UnescapeString(string(m[1])) != "/" {
			t.Errorf("complete rd=%q: %d data-rd %q, want /", short, r.StatusCode, m)
		}

		// post_logout_redirect_uri, GET and POST: refused (exact allow-list).
		for _, resp := range []*flowtest.Response{
			user.Navigate("/auth/logout?post_logout_redirect_uri=" + q),
			user.Post("/auth/logout", "application/x-www-form-urlencoded", "post_logout_redirect_uri="+q, "Origin", self),
		} {
			if resp.StatusCode != http.StatusBadRequest || !allowedLocation(resp.Header.Get("Location"), self) {
				t.Errorf("logout post_logout_redirect_uri=%q: %d Location %q, want 400", short, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		// Whatever happened, the session is still there: the refused logouts
		// did not log out.
		if s := user.Get("/auth/session", "Accept", "application/json"); s.StatusCode != http.StatusOK {
			t.Fatalf("after payload %q the session is gone: %d", short, s.StatusCode)
		}
	}
	// Over everything authgate answered: no Location off the allowed set.
	for _, resp := range env.Responses() {
		if !allowedLocation(resp.Header.Get("Location"), self, front, provider) {
			t.Errorf("authgate sent a browser to %q (%s %s)", resp.Header.Get("Location"), resp.Method, resp.URL)
		}
	}

	// The SPA pattern: a valid rd arrives as the redirect parameter, as sent.
	cb := anon.Callback(anon.Authorize(anon.StartLogin("/reports?q=1")))
	loc, _ := url.Parse(cb.Header.Get("Location"))
	if cb.StatusCode != http.StatusFound || loc.Scheme+"://"+loc.Host != front || loc.Query().Get("redirect") != "/reports?q=1" {
		t.Errorf("FRONTEND_URL callback: %d Location %q", cb.StatusCode, loc)
	}
}
