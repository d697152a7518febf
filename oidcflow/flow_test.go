package oidcflow_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/flowtest"
)

// TestWholeFlow walks one user through everything the design's §2 promises,
// in each deployment shape: login, provider, callback, completion page,
// exchange, cookies, a proxied request with identity headers, /auth/session,
// refresh (rotating), logout (clearing every cookie exactly as it was set).
func TestWholeFlow(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts flowtest.Options
	}{
		{"plain", flowtest.Options{}},
		{"production https", flowtest.Options{Production: true}},
		{"internal provider url", flowtest.Options{InternalURL: true}},
		{"rs256", flowtest.Options{Alg: "RS256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := flowtest.New(t, tc.opts)
			b := env.NewBrowser()
			secure := tc.opts.Production

			// 1. Login → provider (public URL) → callback.
			authorize := b.StartLogin("/dash?tab=1")
			if got, want := authorize.Scheme+"://"+authorize.Host, env.ProviderURL; got != want {
				t.Fatalf("authorize URL %s is not on the provider's public URL %s", authorize, want)
			}
			callback := b.Callback(b.Authorize(authorize))
			loc, _ := url.Parse(callback.Header.Get("Location"))
			if callback.StatusCode != http.StatusFound || loc.Path != "/auth/complete" || loc.Query().Get("rd") != "/dash?tab=1" {
				t.Fatalf("callback: %d Location %q, want 302 to /auth/complete with rd", callback.StatusCode, loc)
			}
			code := flowtest.ExchangeCode(t, callback)

			// 2. Completion page, then the exchange sets the cookies.
			wantStatus(t, "complete page", b.Navigate(loc.String()), http.StatusOK)
			ex := b.Exchange(code)
			wantStatus(t, "exchange", ex, http.StatusOK)
			if strings.TrimSpace(string(ex.Body)) != `{"success":true}` {
				t.Fatalf("exchange body %s", ex.Body)
			}
			set := setCookies(ex)
			jar := env.Jar
			for _, spec := range []struct {
				name, path string
			}{{jar.Auth.Name, "/"}, {jar.Refresh.Name, "/auth/refresh"}, {jar.ID.Name, "/auth/logout"}} {
				c := set[spec.name]
				if c == nil {
					t.Fatalf("exchange did not set %s; got %v", spec.name, ex.Header.Values("Set-Cookie"))
				}
				if c.Path != spec.path || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure {
					t.Errorf("cookie %s: Path=%q HttpOnly=%v SameSite=%v Secure=%v; want Path=%q HttpOnly SameSite=Lax Secure=%v",
						c.Name, c.Path, c.HttpOnly, c.SameSite, c.Secure, spec.path, secure)
				}
			}
			if secure && !strings.HasPrefix(jar.Auth.Name, "__Host-") {
				t.Errorf("production access cookie %q lacks the __Host- prefix", jar.Auth.Name)
			}
			sess := b.Session()
			if sess.Access == "" || sess.Refresh == "" || sess.IDToken == "" {
				t.Fatalf("cookies do not hold access, refresh and ID token: %+v", sess)
			}

			// 3. A proxied request carries the identity.
			resp := b.Navigate("/dash?tab=1")
			wantStatus(t, "proxied request", resp, http.StatusOK)
			seen := env.Upstream.Last()
			sub := claims(t, sess.Access)["sub"].(string)
			want := map[string]string{
				"X-User-Sub":    sub,
				"X-Org-Id":      "org-1",
				"X-Role":        "admin",
				"X-User-Email":  "alice@example.com",
				"X-User-Name":   "Alice Admin",
				"X-User-Groups": "ecosire-admins,staff",
			}
			for h, v := range want {
				if got := seen.Header.Values(h); len(got) != 1 || got[0] != v {
					t.Errorf("upstream %s = %q, want [%q]", h, got, v)
				}
			}
			if seen.RequestURI != "/dash?tab=1" {
				t.Errorf("upstream RequestURI %q", seen.RequestURI)
			}

			// 4. /auth/session.
			var who struct {
				Sub, Email, Name, OrganizationID, Role string
				Groups                                 []string
				ExpiresAt                              time.Time
			}
			sr := b.Get("/auth/session", api...)
			wantStatus(t, "session", sr, http.StatusOK)
			flowtest.JSON(t, sr.Body, &who)
			if who.Sub != sub || who.Email != "alice@example.com" || who.Name != "Alice Admin" || who.OrganizationID != "org-1" ||
				who.Role != "admin" || !slices.Equal(who.Groups, []string{"ecosire-admins", "staff"}) || who.ExpiresAt.Before(time.Now()) {
				t.Errorf("session = %s", sr.Body)
			}

			// 5. Refresh rotates: one refresh grant, the old refresh token is
			// dead at the provider, new cookies.
			before := env.Provider.Stats().Token["refresh_token"]
			rr := b.Fetch("/auth/refresh", "")
			wantStatus(t, "refresh", rr, http.StatusOK)
			if got := env.Provider.Stats().Token["refresh_token"] - before; got != 1 {
				t.Errorf("provider saw %d refresh grants, want 1", got)
			}
			after := b.Session()
			if after.Access == sess.Access || after.Refresh == sess.Refresh || after.Access == "" || after.Refresh == "" {
				t.Errorf("refresh did not replace the access and refresh cookies")
			}
			if rrSet := setCookies(rr); rrSet[jar.Auth.Name] == nil || rrSet[jar.Refresh.Name] == nil {
				t.Errorf("refresh set cookies %v", rr.Header.Values("Set-Cookie"))
			}
			if st := providerRefresh(t, env, sess.Refresh); st != http.StatusBadRequest {
				t.Errorf("old refresh token at the provider: %d, want 400 invalid_grant", st)
			}
			wantStatus(t, "request after refresh", b.Get("/after", api...), http.StatusOK)

			sealedBeforeLogout := b.Session().Sealed[jar.Auth.Name]

			// 6. Logout: logoutUrl with id_token_hint and post_logout_redirect_uri,
			// every cookie cleared with the attributes it was set with.
			lo := b.Fetch("/auth/logout", "")
			wantStatus(t, "logout", lo, http.StatusOK)
			var out struct {
				LogoutURL string `json:"logoutUrl"`
			}
			flowtest.JSON(t, lo.Body, &out)
			lu, err := url.Parse(out.LogoutURL)
			if err != nil || !strings.HasPrefix(out.LogoutURL, env.Provider.EndSessionURL()+"?") {
				t.Fatalf("logoutUrl %q is not the provider's public end_session_endpoint %s", out.LogoutURL, env.Provider.EndSessionURL())
			}
			if hint := lu.Query().Get("id_token_hint"); hint != after.IDToken {
				t.Errorf("id_token_hint is not the session's ID token")
			}
			if got := lu.Query().Get("post_logout_redirect_uri"); got != env.URL+"/" {
				t.Errorf("post_logout_redirect_uri = %q, want %q", got, env.URL+"/")
			}
			cleared := setCookies(lo)
			for _, name := range []string{jar.Auth.Name, jar.Refresh.Name, jar.ID.Name} {
				s, c := set[name], cleared[name]
				if c == nil {
					t.Errorf("logout did not clear %s", name)
					continue
				}
				if c.Value != "" || c.MaxAge >= 0 {
					t.Errorf("logout: %s not a deletion (value %q, MaxAge %d)", name, c.Value, c.MaxAge)
				}
				if c.Path != s.Path || c.Domain != s.Domain || c.Secure != s.Secure || c.SameSite != s.SameSite || c.HttpOnly != s.HttpOnly {
					t.Errorf("logout clears %s with other attributes: set %s, cleared %s", name, attrs(s), attrs(c))
				}
			}
			if s := b.Session(); s.Sealed[jar.Auth.Name] != "" || s.Sealed[jar.Refresh.Name] != "" || s.Sealed[jar.ID.Name] != "" {
				t.Errorf("cookies survive logout in the browser")
			}
			wantStatus(t, "request after logout", b.Get("/after", api...), http.StatusUnauthorized)
			// A copy of the session cookie kept from before the logout is dead too.
			replay := env.NewBrowser()
			replay.SetCookie(&http.Cookie{Name: jar.Auth.Name, Value: sealedBeforeLogout, Path: "/", Secure: secure})
			wantStatus(t, "replayed session cookie after logout", replay.Get("/after", api...), http.StatusUnauthorized)

			// The provider accepts the logout URL and returns to the app.
			end := b.Navigate(out.LogoutURL)
			if end.StatusCode != http.StatusFound || end.Header.Get("Location") != env.URL+"/" {
				t.Errorf("provider end-session: %d Location %q", end.StatusCode, end.Header.Get("Location"))
			}
		})
	}
}

// TestLoginRedirect checks what /auth/login sends to the provider (§2.1).
func TestLoginRedirect(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{InternalURL: true})
	b := env.NewBrowser()
	resp := b.Navigate("/auth/login?rd=" + url.QueryEscape("/reports?q=1"))
	wantStatus(t, "login", resp, http.StatusFound)
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != env.Provider.AuthorizeURL() {
		t.Fatalf("login sends the browser to %s, want the public authorize URL %s", got, env.Provider.AuthorizeURL())
	}
	if strings.HasPrefix(loc.String(), env.ProviderInternalURL) {
		t.Fatal("login sends the browser to the internal URL")
	}
	q := loc.Query()
	for name, want := range map[string]string{
		"client_id":             flowtest.ClientID,
		"redirect_uri":          env.URL + "/auth/callback",
		"response_type":         "code",
		"code_challenge_method": "S256",
	} {
		if got := q[name]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	scopes := strings.Fields(q.Get("scope"))
	for _, s := range []string{"openid", "email", "profile", "organization", "offline_access"} {
		if !slices.Contains(scopes, s) {
			t.Errorf("scope %q lacks %s", q.Get("scope"), s)
		}
	}
	// ≥128 bits, base64url: at least 22 characters.
	for _, name := range []string{"state", "nonce"} {
		if v := q.Get(name); len(v) < 22 {
			t.Errorf("%s %q is shorter than 128 bits", name, v)
		}
	}
	if v := q.Get("code_challenge"); len(v) != 43 {
		t.Errorf("code_challenge %q is not a base64url SHA-256", v)
	}
	if q.Get("state") == q.Get("nonce") {
		t.Error("state and nonce are the same value")
	}
	bind := setCookies(resp)[env.Jar.Login.Name]
	if bind == nil || !bind.HttpOnly || bind.SameSite != http.SameSiteLaxMode || bind.Path != "/auth" {
		t.Fatalf("login binding cookie %v", bind)
	}
	// A second login mints a new state.
	again := b.StartLogin("/")
	if again.Query().Get("state") == q.Get("state") || again.Query().Get("nonce") == q.Get("nonce") {
		t.Error("two logins share state or nonce")
	}

	// rd is a same-site relative path only (§9).
	for _, rd := range []string{"//evil.example", "https://evil.example/", "/\\evil.example", "/%5Cevil.example", "javascript:alert(1)", "/a\r\nb", "/" + strings.Repeat("a", 5000)} {
		r := b.Navigate("/auth/login?rd=" + url.QueryEscape(rd))
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("rd %.40q: status %d, want 400 (Location %q)", rd, r.StatusCode, r.Header.Get("Location"))
		}
	}
	wantStatus(t, "POST /auth/login", b.Post("/auth/login", "", ""), http.StatusMethodNotAllowed)
}

// TestAuthentikLayout proves authgate talks to Authentik's URL layout: the
// issuer with its trailing slash, the shared /application/o/token/ and
// authorize endpoints, the per-slug JWKS and end-session; and that with an
// internal URL every server-to-server call goes there (with the public Host)
// while the browser only ever sees the public URL.
func TestAuthentikLayout(t *testing.T) {
	for _, internal := range []bool{false, true} {
		name := "public only"
		if internal {
			name = "internal url"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := flowtest.New(t, flowtest.Options{InternalURL: internal})
			issuer := env.ProviderURL + "/application/o/" + flowtest.Slug + "/"
			if env.Config.Issuer != issuer {
				t.Fatalf("configured issuer %q, want %q", env.Config.Issuer, issuer)
			}
			b := env.NewBrowser()
			b.LoginAs("")
			if iss := claims(t, b.Session().Access)["iss"]; iss != issuer {
				t.Fatalf("token iss %q, want %q", iss, issuer)
			}
			wantStatus(t, "refresh", b.Fetch("/auth/refresh", ""), http.StatusOK)
			var out struct {
				LogoutURL string `json:"logoutUrl"`
			}
			flowtest.JSON(t, b.Fetch("/auth/logout", "").Body, &out)
			wantStatus(t, "end-session", b.Navigate(out.LogoutURL), http.StatusFound)

			serverSide := "public"
			if internal {
				serverSide = "internal"
			}
			publicHost := strings.TrimPrefix(env.ProviderURL, "http://")
			want := map[string]string{ // path → listener
				"/application/o/" + flowtest.Slug + "/.well-known/openid-configuration": serverSide,
				"/application/o/" + flowtest.Slug + "/jwks/":                            serverSide,
				"/application/o/token/":                                                 serverSide,
				"/application/o/authorize/":                                             "public",
				"/application/o/" + flowtest.Slug + "/end-session/":                     "public",
			}
			hit := map[string]bool{}
			for _, r := range env.ProviderRequests() {
				listener, known := want[r.Path]
				if !known {
					t.Errorf("unexpected provider request %s %s", r.Method, r.URL)
					continue
				}
				hit[r.Path] = true
				if r.Listener != listener {
					t.Errorf("%s %s reached the %s URL, want the %s one", r.Method, r.Path, r.Listener, listener)
				}
				if r.Host != publicHost {
					t.Errorf("%s %s carried Host %q, want the public host %q", r.Method, r.Path, r.Host, publicHost)
				}
				if r.Status >= 400 {
					t.Errorf("%s %s answered %d", r.Method, r.Path, r.Status)
				}
			}
			for p := range want {
				if !hit[p] {
					t.Errorf("provider endpoint %s never used", p)
				}
			}
			if internal {
				// Nothing authgate answered points a browser at the internal URL.
				for _, r := range env.Responses() {
					if strings.Contains(r.Header.Get("Location"), env.ProviderInternalURL) || strings.Contains(string(r.Body), env.ProviderInternalURL) {
						t.Errorf("%s %s sends the browser to the internal URL", r.Method, r.URL)
					}
				}
			}
		})
	}
}

// TestCompletePage: the built-in page has a strict CSP and no inline script.
func TestCompletePage(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	b := env.NewBrowser()
	code := strings.Repeat("A", 43)
	resp := b.Navigate("/auth/complete?exchange=" + code + "&rd=" + url.QueryEscape(`/a"><script>alert(1)</script>`))
	wantStatus(t, "complete", resp, http.StatusOK)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows inline script", csp)
	}
	for h, v := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
		if resp.Header.Get(h) != v {
			t.Errorf("%s = %q, want %q", h, resp.Header.Get(h), v)
		}
	}
	body := string(resp.Body)
	low := strings.ToLower(body)
	for rest := low; ; {
		i := strings.Index(rest, "<script")
		if i < 0 {
			break
		}
		end := strings.Index(rest[i:], ">")
		tag := rest[i : i+end+1]
		if !strings.Contains(tag, " src=") {
			t.Errorf("inline script tag %q", tag)
		}
		if !strings.HasPrefix(rest[i+end+1:], "</script>") {
			t.Errorf("script tag with inline content")
		}
		rest = rest[i+end+1:]
	}
	if strings.Count(low, "<script") != 1 {
		t.Errorf("page has %d script tags (the hostile rd was not neutralised?):\n%s", strings.Count(low, "<script"), body)
	}
	for _, attr := range []string{" onload=", " onerror=", " onclick=", "javascript:"} {
		if strings.Contains(low, attr) {
			t.Errorf("page contains %q", attr)
		}
	}
	if strings.Contains(body, code) {
		t.Error("the page repeats the exchange code (it must stay in the URL only)")
	}
	// The page's return target is re-validated: a crafted link cannot make it
	// leave the site after the exchange.
	for _, rd := range []string{"//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)"} {
		page := b.Navigate("/auth/complete?exchange=" + code + "&rd=" + url.QueryEscape(rd))
		if !strings.Contains(string(page.Body), `data-rd="/"`) {
			t.Errorf("rd %q reached the page:\n%s", rd, page.Body)
		}
	}
	js := b.Get("/auth/complete.js")
	wantStatus(t, "complete.js", js, http.StatusOK)
	if ct := js.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") || js.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("complete.js Content-Type %q", ct)
	}
}

// TestSessionEndpoint: 401 without a valid token (§2.8).
func TestSessionEndpoint(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	b := env.NewBrowser()
	resp := b.Get("/auth/session", api...)
	wantError(t, "session without token", resp, http.StatusUnauthorized, "no_token")
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
	}
	resp = b.Get("/auth/session", "Authorization", "Bearer "+env.AccessToken("bob", nil))
	wantStatus(t, "session with bearer", resp, http.StatusOK)
	var who struct{ Role, OrganizationID string }
	flowtest.JSON(t, resp.Body, &who)
	if who.Role != "support" || who.OrganizationID != "org-2" {
		t.Errorf("session = %s", resp.Body)
	}
	resp = b.Get("/auth/session", "Authorization", "Bearer "+env.AccessToken("bob", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	wantError(t, "session with expired token", resp, http.StatusUnauthorized, "token_expired")
}
