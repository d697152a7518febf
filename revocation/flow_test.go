package revocation_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/internal/flowtest"
	"github.com/authgate/authgate/revocation"
)

// session is what a test needs about a logged-in browser.
type session struct {
	b       *flowtest.Browser
	binding cookies.Binding
	sub     string
}

func login(t *testing.T, env *flowtest.Env, user string) session {
	t.Helper()
	b := env.NewBrowser()
	b.LoginAs(user)
	_, bnd, err := env.Jar.OpenBound(env.Jar.Auth, b.Cookie(env.Jar.Auth.Name, "/"))
	if err != nil {
		t.Fatal(err)
	}
	if bnd.Session == "" || bnd.ProviderSession == "" || bnd.Subject == "" || bnd.LoginAt == 0 {
		t.Fatalf("session cookie binding incomplete: %+v", bnd)
	}
	return session{b: b, binding: bnd, sub: bnd.Subject}
}

// copyCookies makes a second browser holding the same session cookies, as a
// thief (or the user's other tab with a copied jar) would.
func copyCookies(env *flowtest.Env, from *flowtest.Browser) *flowtest.Browser {
	to := env.NewBrowser()
	for _, s := range []cookies.Spec{env.Jar.Auth, env.Jar.Refresh, env.Jar.ID} {
		if v := from.Cookie(s.Name, s.Path); v != "" {
			u, _ := url.Parse(env.URL + s.Path)
			to.Jar.SetCookies(u, []*http.Cookie{{Name: s.Name, Value: v, Path: s.Path}})
		}
	}
	return to
}

func apiStatus(b *flowtest.Browser) (int, string) {
	r := b.Get("/api/x", "Accept", "application/json")
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &body)
	return r.StatusCode, body.Error
}

func wantAllowed(t *testing.T, what string, b *flowtest.Browser) {
	t.Helper()
	if st, reason := apiStatus(b); st != http.StatusOK {
		t.Fatalf("%s: %d %s, want 200", what, st, reason)
	}
}

func wantRevoked(t *testing.T, what string, b *flowtest.Browser) {
	t.Helper()
	if st, reason := apiStatus(b); st != http.StatusUnauthorized || reason != "token_revoked" {
		t.Fatalf("%s: %d %q, want 401 token_revoked", what, st, reason)
	}
}

func randomJTI() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// logoutClaims are valid logout token claims, as a provider sends them.
func logoutClaims(env *flowtest.Env) map[string]any {
	return map[string]any{
		"iss":    env.Config.Issuer,
		"aud":    []string{flowtest.ClientID},
		"iat":    env.Clock.Now().Unix(),
		"jti":    randomJTI(),
		"events": map[string]any{revocation.LogoutEvent: map[string]any{}},
	}
}

func sign(t *testing.T, env *flowtest.Env, header, claims map[string]any) string {
	t.Helper()
	tok, err := env.Provider.Sign(header, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// postLogout sends a back-channel logout as the provider does (server to
// server: no cookies, no Origin).
func postLogout(env *flowtest.Env, token string) *flowtest.Response {
	return env.NewBrowser().Post("/auth/backchannel-logout", "application/x-www-form-urlencoded", url.Values{"logout_token": {token}}.Encode())
}

func TestBackchannelLogoutBySID(t *testing.T) {
	env := flowtest.New(t, flowtest.Options{})
	a := login(t, env, "alice")
	copied := copyCookies(env, a.b)
	other := login(t, env, "alice") // the same user in another browser: another provider session
	if other.binding.ProviderSession == a.binding.ProviderSession {
		t.Fatal("two browsers share a provider session")
	}
	wantAllowed(t, "before logout", a.b)
	wantAllowed(t, "copied cookies before logout", copied)
	refreshes := env.Provider.Stats().Token["refresh_token"]

	c := logoutClaims(env)
	c["sid"] = a.binding.ProviderSession
	tok := sign(t, env, map[string]any{"typ": "logout+jwt"}, c)
	r := postLogout(env, tok)
	if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("back-channel logout: %d %q %s", r.StatusCode, r.Header.Get("Cache-Control"), r.Body)
	}

	wantRevoked(t, "browser of the session", a.b)
	wantRevoked(t, "copied cookies", copied)
	wantAllowed(t, "another session of the same user", other.b)
	// A navigation is sent to log in, not through refresh.
	if nav := a.b.Navigate("/page"); nav.StatusCode != http.StatusFound || !strings.Contains(nav.Header.Get("Location"), "/auth/login?") {
		t.Errorf("navigation after logout: %d %q", nav.StatusCode, nav.Header.Get("Location"))
	}
	// /auth/session agrees with the proxy.
	if s := a.b.Get("/auth/session"); s.StatusCode != http.StatusUnauthorized {
		t.Errorf("/auth/session after logout: %d", s.StatusCode)
	}
	// Refresh is refused without asking the provider, and clears the cookies.
	rf := copied.Fetch("/auth/refresh", "")
	if rf.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh of a revoked session: %d %s", rf.StatusCode, rf.Body)
	}
	if got := env.Provider.Stats().Token["refresh_token"]; got != refreshes {
		t.Errorf("provider saw %d refresh grants for a revoked session", got-refreshes)
	}
	if copied.Cookie(env.Jar.Refresh.Name, env.Jar.Refresh.Path) != "" {
		t.Error("refused refresh left the refresh cookie")
	}
	nav := a.b.Get("/auth/refresh?rd=/page", "Accept", "text/html")
	if nav.StatusCode != http.StatusFound || !strings.Contains(nav.Header.Get("Location"), "/auth/login?") {
		t.Errorf("navigation refresh of a revoked session: %d %q", nav.StatusCode, nav.Header.Get("Location"))
	}

	// The same token again is a replay.
	if r := postLogout(env, tok); r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.Body), `"invalid_request"`) {
		t.Errorf("replayed logout token: %d %s", r.StatusCode, r.Body)
	}
	// A new login after the logout works.
	again := login(t, env, "alice")
	wantAllowed(t, "new login after logout", again.b)
}

func TestBackchannelLogoutBySubject(t *testing.T) {
	env := flowtest.New(t, flowtest.Options{})
	a1 := login(t, env, "alice")
	a2 := login(t, env, "alice")
	bob := login(t, env, "bob")
	env.Clock.Advance(2 * time.Second) // iat has one-second resolution

	c := logoutClaims(env)
	c["sub"] = a1.sub
	if r := postLogout(env, sign(t, env, nil, c)); r.StatusCode != http.StatusOK {
		t.Fatalf("back-channel logout by sub: %d %s", r.StatusCode, r.Body)
	}
	wantRevoked(t, "first session of the user", a1.b)
	wantRevoked(t, "second session of the user", a2.b)
	wantAllowed(t, "another user", bob.b)
	if rf := a1.b.Fetch("/auth/refresh", ""); rf.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh after a subject-wide logout: %d", rf.StatusCode)
	}
	// Logging in again after the logout is a new session, not revoked.
	env.Clock.Advance(2 * time.Second)
	wantAllowed(t, "login after the logout", login(t, env, "alice").b)
}

func TestBackchannelLogoutRefusals(t *testing.T) {
	env := flowtest.New(t, flowtest.Options{})
	a := login(t, env, "alice")
	now := env.Clock.Now()

	with := func(mod func(c map[string]any)) map[string]any {
		c := logoutClaims(env)
		c["sid"] = a.binding.ProviderSession
		mod(c)
		return c
	}
	valid := sign(t, env, nil, with(func(map[string]any) {}))
	cases := []struct {
		name  string
		token string
	}{
		{"wrong issuer", sign(t, env, nil, with(func(c map[string]any) { c["iss"] = "https://evil.example/" }))},
		{"other audience", sign(t, env, nil, with(func(c map[string]any) { c["aud"] = "other-client" }))},
		{"no iat", sign(t, env, nil, with(func(c map[string]any) { delete(c, "iat") }))},
		{"iat in the future", sign(t, env, nil, with(func(c map[string]any) { c["iat"] = now.Add(10 * time.Minute).Unix() }))},
		{"iat too old", sign(t, env, nil, with(func(c map[string]any) { c["iat"] = now.Add(-time.Hour).Unix() }))},
		{"expired", sign(t, env, nil, with(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }))},
		{"no events", sign(t, env, nil, with(func(c map[string]any) { delete(c, "events") }))},
		{"other event", sign(t, env, nil, with(func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}))},
		{"event not an object", sign(t, env, nil, with(func(c map[string]any) {
			c["events"] = map[string]any{revocation.LogoutEvent: "yes"}
		}))},
		{"nonce (an ID token)", sign(t, env, nil, with(func(c map[string]any) { c["nonce"] = "n" }))},
		{"neither sid nor sub", sign(t, env, nil, with(func(c map[string]any) { delete(c, "sid") }))},
		{"no jti", sign(t, env, nil, with(func(c map[string]any) { delete(c, "jti") }))},
		{"typed as an access token", sign(t, env, map[string]any{"typ": "at+jwt"}, with(func(map[string]any) {}))},
		{"alg none", unsigned(with(func(map[string]any) {}))},
		{"bad signature", valid[:len(valid)-4] + "AAAA"},
		{"not a JWT", "not-a-token"},
		{"access token", env.AccessToken("alice", nil)},
	}
	for _, tc := range cases {
		r := postLogout(env, tc.token)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.Body), `"invalid_request"`) || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %q %s, want 400 invalid_request no-store", tc.name, r.StatusCode, r.Header.Get("Cache-Control"), r.Body)
		}
	}
	b := env.NewBrowser()
	form := "application/x-www-form-urlencoded"
	for name, r := range map[string]*flowtest.Response{
		"JSON body":             b.Post("/auth/backchannel-logout", "application/json", `{"logout_token":"`+valid+`"}`),
		"no logout_token":       b.Post("/auth/backchannel-logout", form, "x=1"),
		"logout_token repeated": b.Post("/auth/backchannel-logout", form, "logout_token="+valid+"&logout_token="+valid),
		"oversized body":        b.Post("/auth/backchannel-logout", form, "logout_token="+strings.Repeat("a", 70<<10)),
	} {
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.StatusCode, r.Body)
		}
	}
	if r := b.Get("/auth/backchannel-logout"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", r.StatusCode)
	}
	wantAllowed(t, "after refused logouts", a.b)
	// The valid one still works: refusals burnt no jti.
	if r := postLogout(env, valid); r.StatusCode != http.StatusOK {
		t.Fatalf("valid logout token: %d %s", r.StatusCode, r.Body)
	}
	wantRevoked(t, "after the valid logout", a.b)
	// Nothing of the tokens reached the log.
	if strings.Contains(env.Logs.String(), valid) {
		t.Error("logout token in the log")
	}
}

func unsigned(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

// TestLocalLogoutRevokes: RP-initiated logout ends the login for every copy
// of its cookies at once, not at the access token's exp.
func TestLocalLogoutRevokes(t *testing.T) {
	env := flowtest.New(t, flowtest.Options{})
	a := login(t, env, "alice")
	copied := copyCookies(env, a.b)
	other := login(t, env, "alice")
	wantAllowed(t, "copied cookies before logout", copied)

	r := a.b.Post("/auth/logout", "", "", "Origin", env.URL)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Body)
	}
	wantRevoked(t, "copied cookies after logout", copied)
	if rf := copied.Fetch("/auth/refresh", ""); rf.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh with copied cookies after logout: %d", rf.StatusCode)
	}
	wantAllowed(t, "the user's other login", other.b)
	// Revoked is the authgate login, not the provider session: a new login
	// (which the provider may answer from the same session) works.
	again := env.NewBrowser()
	again.LoginAs("alice")
	wantAllowed(t, "login after logout", again)
}

func TestLogoutRedirectAllowListAndState(t *testing.T) {
	allowed := "https://app.example.com/goodbye"
	env := flowtest.New(t, flowtest.Options{Env: map[string]string{"AUTHGATE_POST_LOGOUT_REDIRECT_URLS": allowed + ",https://other.example.com/"}})
	logoutURL := func(b *flowtest.Browser, query string) (int, url.Values, string) {
		r := b.Post("/auth/logout"+query, "", "", "Origin", env.URL)
		var body struct {
			LogoutURL string `json:"logoutUrl"`
			Error     string `json:"error"`
		}
		_ = json.Unmarshal(r.Body, &body)
		if body.LogoutURL == "" {
			return r.StatusCode, nil, body.Error
		}
		u, err := url.Parse(body.LogoutURL)
		if err != nil {
			t.Fatal(err)
		}
		return r.StatusCode, u.Query(), ""
	}

	// Not on the list: refused before anything is cleared or revoked.
	a := login(t, env, "alice")
	if st, _, code := logoutURL(a.b, "?post_logout_redirect_uri="+url.QueryEscape("https://evil.example/")); st != http.StatusBadRequest || code != "invalid_redirect" {
		t.Fatalf("foreign post_logout_redirect_uri: %d %s", st, code)
	}
	wantAllowed(t, "after a refused logout", a.b)

	// On the list, with state: both go to the provider.
	copied := copyCookies(env, a.b)
	st, q, _ := logoutURL(a.b, "?post_logout_redirect_uri="+url.QueryEscape(allowed)+"&state=xyz-123")
	if st != http.StatusOK || q.Get("post_logout_redirect_uri") != allowed || q.Get("state") != "xyz-123" || q.Get("id_token_hint") == "" {
		t.Fatalf("allowed logout: %d %v", st, q)
	}
	wantRevoked(t, "copied cookies after logout", copied)

	// The default needs no allow-listing; a form body works too.
	b := login(t, env, "bob")
	r := b.b.Post("/auth/logout", "application/x-www-form-urlencoded", "state=s1", "Origin", env.URL)
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.Body), "state=s1") || !strings.Contains(string(r.Body), url.QueryEscape(env.URL+"/")) {
		t.Fatalf("default logout with state: %d %s", r.StatusCode, r.Body)
	}

	// GET redirects to the provider with the same parameters.
	c := login(t, env, "carol")
	g := c.b.Get("/auth/logout?state=abc&post_logout_redirect_uri=" + url.QueryEscape(allowed))
	loc, _ := url.Parse(g.Header.Get("Location"))
	if g.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("state") != "abc" || loc.Query().Get("post_logout_redirect_uri") != allowed {
		t.Fatalf("GET logout: %d %q", g.StatusCode, g.Header.Get("Location"))
	}

	// A state that is not a printable token, or too long, is refused.
	for _, s := range []string{"a b", "x\x01", strings.Repeat("s", 600)} {
		if st, _, code := logoutURL(env.NewBrowser(), "?state="+url.QueryEscape(s)); st != http.StatusBadRequest || code != "invalid_request" {
			t.Errorf("state %.20q: %d %s", s, st, code)
		}
	}
}
