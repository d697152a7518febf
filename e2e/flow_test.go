package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/internal/gateproc"
	"github.com/authgate/authgate/internal/hydratest"
	"github.com/authgate/authgate/internal/redistest"
)

const cookieSecret = "e2e-cookie-secret-0123456789abcdefghijklmnop"

// TestFlowAgainstHydra is the design's whole sequence (DESIGN §2) with real
// parts: login → provider → callback → completion → exchange → cookies →
// proxied request with identity headers → session → refresh (rotation) →
// logout, plus the attacks that only show end to end.
func TestFlowAgainstHydra(t *testing.T) {
	rds := redistest.Start(t)
	h := hydratest.Start(t, hydratest.Options{AccessTokenTTL: 4 * time.Second})
	up := newUpstream(t)

	addr := gateproc.FreeAddr(t)
	api := "http://" + addr
	clientID, secret := h.CreateClient(t, hydratest.Client{
		RedirectURIs:           []string{api + "/auth/callback"},
		PostLogoutRedirectURIs: []string{api + "/"},
	})
	g := startGate(t, addr, map[string]string{
		"OIDC_ISSUER_URL":       h.IssuerURL(),
		"OIDC_CLIENT_ID":        clientID,
		"OIDC_CLIENT_SECRET":    secret,
		"API_URL":               api,
		"COOKIE_SECRET":         cookieSecret,
		"UPSTREAM_URL":          up.URL,
		"REDIS_URL":             rds.URL(),
		"AUTHGATE_LOG_LEVEL":    "debug",
		"AUTHGATE_TOKEN_LEEWAY": "1s",
		"AUTHGATE_ROUTE_RULES":  "/admin/=role:admin",
	})
	codec, err := cookies.NewCodec([]byte(cookieSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	open := func(name string, c *http.Cookie) string {
		t.Helper()
		if c == nil {
			t.Fatalf("cookie %s missing", name)
		}
		v, err := codec.Open(name, c.Value)
		if err != nil {
			t.Fatalf("cookie %s: %v", name, err)
		}
		// The token, without the session binding sealed after it (cookies.Binding).
		tok, _, _ := strings.Cut(string(v), "\x00")
		return tok
	}
	b := newBrowser(t)
	user := h.User()

	// 1. An unauthenticated navigation is sent to log in; an API call gets 401 JSON.
	r := b.get(g.URL+"/dashboard?tab=1", map[string]string{"Accept": "text/html"})
	if r.Status != http.StatusFound || !strings.HasPrefix(r.Location, api+"/auth/login?rd=") {
		t.Fatalf("navigation without session: %d %q", r.Status, r.Location)
	}
	api401 := b.get(g.URL+"/api/items", map[string]string{"Accept": "application/json"})
	var body struct {
		Error    string `json:"error"`
		LoginURL string `json:"login_url"`
	}
	_ = json.Unmarshal([]byte(api401.Body), &body)
	if api401.Status != http.StatusUnauthorized || body.LoginURL == "" || api401.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("API call without session: %d %s", api401.Status, api401.Body)
	}

	// 2. Login: authgate → Hydra (public URL, PKCE, state, nonce) → login/consent app → callback.
	login := b.get(r.Location, nil)
	if login.Status != http.StatusFound || !strings.HasPrefix(login.Location, h.PublicURL()+"/oauth2/auth?") {
		t.Fatalf("login: %d %q", login.Status, login.Location)
	}
	q := mustQuery(t, login.Location)
	for _, k := range []string{"client_id", "redirect_uri", "state", "nonce", "code_challenge"} {
		if q.Get(k) == "" {
			t.Errorf("authorize URL lacks %s", k)
		}
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("response_type") != "code" || !strings.Contains(q.Get("scope"), "offline_access") {
		t.Errorf("authorize URL: %v", q)
	}
	callback, _ := b.follow(login.Location, func(u *url.URL) bool { return u.Path == "/auth/callback" })
	cb := b.get(callback, nil)
	if cb.Status != http.StatusFound || !strings.HasPrefix(cb.Location, api+"/auth/complete?exchange=") {
		t.Fatalf("callback: %d %q %s", cb.Status, cb.Location, cb.Body)
	}
	// Replaying the callback (state is single use) fails.
	if again := b.get(callback, nil); again.Status != http.StatusBadRequest || !strings.Contains(again.Body, "invalid_state") {
		t.Errorf("callback replay: %d %s", again.Status, again.Body)
	}

	// 3. Completion page, then the exchange.
	completeURL := cb.Location
	page := b.get(completeURL, nil)
	if page.Status != http.StatusOK || !strings.Contains(page.Header.Get("Content-Security-Policy"), "script-src 'self'") || strings.Contains(page.Body, "<script>") {
		t.Fatalf("complete page: %d csp=%q", page.Status, page.Header.Get("Content-Security-Policy"))
	}
	code := mustQuery(t, completeURL).Get("exchange")
	if len(code) < 27 { // ≥160 bits in base64url
		t.Fatalf("exchange code too short: %d chars", len(code))
	}
	ex := postJSON(b, g.URL+"/auth/exchange", map[string]string{"code": code}, map[string]string{"Origin": api})
	if ex.Status != http.StatusOK || strings.TrimSpace(ex.Body) != `{"success":true}` {
		t.Fatalf("exchange: %d %s", ex.Status, ex.Body)
	}
	for _, sc := range ex.Header.Values("Set-Cookie") {
		if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
			t.Errorf("cookie without HttpOnly/SameSite=Lax: %s", sc[:strings.Index(sc, "=")])
		}
		if strings.HasPrefix(sc, "authgate_refresh=") && !strings.Contains(sc, "Path=/auth/refresh") {
			t.Errorf("refresh cookie not scoped to /auth/refresh")
		}
	}
	if again := postJSON(b, g.URL+"/auth/exchange", map[string]string{"code": code}, nil); again.Status != http.StatusUnauthorized || !strings.Contains(again.Body, "invalid_exchange_code") {
		t.Errorf("second redemption: %d %s", again.Status, again.Body)
	}
	access := open("authgate_auth", b.cookie(api+"/", "authgate_auth"))
	refresh1 := open("authgate_refresh", b.cookie(api+"/auth/refresh", "authgate_refresh"))
	idToken := open("authgate_auth_id", b.cookie(api+"/auth/logout", "authgate_auth_id"))
	if strings.Count(access, ".") != 2 || refresh1 == "" || strings.Count(idToken, ".") != 2 {
		t.Fatal("cookies do not hold the provider's tokens")
	}

	// 4. A proxied request reaches the upstream with the identity, not the client's forgeries.
	r = b.get(g.URL+"/dashboard?tab=1", map[string]string{
		"Accept": "text/html", "X-User-Sub": "forged", "X_User_Sub": "forged", "X-Role": "admin",
		"Connection": "X-User-Sub, X-Role",
	})
	if r.Status != http.StatusOK {
		t.Fatalf("proxied request: %d %s", r.Status, r.Body)
	}
	in := up.lastRequest()
	want := map[string]string{
		"X-User-Sub": user.Subject, "X-Org-Id": user.OrganizationID, "X-Role": "support",
		"X-User-Email": user.Email, "X-User-Name": user.Name, "X-User-Groups": strings.Join(user.Groups, ","),
	}
	for k, v := range want {
		if got := in.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	for k := range in.Header {
		if strings.Contains(strings.ToLower(k), "user_sub") {
			t.Errorf("upstream received the client's %s", k)
		}
	}
	if c := in.Header.Get("Cookie"); strings.Contains(c, "authgate_") {
		t.Errorf("authgate cookies forwarded upstream: %q", c)
	}
	// Role rules: a support user may not reach /admin/.
	if r := b.get(g.URL+"/admin/users", nil); r.Status != http.StatusForbidden {
		t.Errorf("/admin as support: %d", r.Status)
	}
	// The bearer path: the access token without cookies.
	bearer := newBrowser(t)
	if r := bearer.get(g.URL+"/api/items", map[string]string{"Authorization": "Bearer " + access}); r.Status != http.StatusOK {
		t.Errorf("bearer request: %d %s", r.Status, r.Body)
	}

	// 5. Session.
	r = b.get(g.URL+"/auth/session", nil)
	var sess map[string]any
	_ = json.Unmarshal([]byte(r.Body), &sess)
	if r.Status != http.StatusOK || sess["sub"] != user.Subject || sess["organizationId"] != user.OrganizationID || sess["role"] != "support" || sess["email"] != user.Email {
		t.Fatalf("session: %d %s", r.Status, r.Body)
	}

	// 6. Expiry: a navigation goes through /auth/refresh and back; an API call gets 401 invalid_token.
	waitExpired(t, sess["expiresAt"].(string))
	if r := b.get(g.URL+"/api/items", map[string]string{"Accept": "application/json"}); r.Status != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) || !strings.Contains(r.Body, "token_expired") {
		t.Fatalf("expired API call: %d %q %s", r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
	}
	r = b.get(g.URL+"/dashboard?tab=2", map[string]string{"Accept": "text/html"})
	if r.Status != http.StatusFound || !strings.HasPrefix(r.Location, api+"/auth/refresh?rd=") {
		t.Fatalf("expired navigation: %d %q", r.Status, r.Location)
	}
	r = b.get(r.Location, map[string]string{"Accept": "text/html"})
	if r.Status != http.StatusFound || r.Location != api+"/dashboard?tab=2" {
		t.Fatalf("refresh navigation: %d %q %s", r.Status, r.Location, r.Body)
	}
	refresh2 := open("authgate_refresh", b.cookie(api+"/auth/refresh", "authgate_refresh"))
	if refresh2 == refresh1 {
		t.Fatal("refresh did not rotate the refresh token")
	}
	if r := b.get(g.URL+"/dashboard?tab=2", map[string]string{"Accept": "text/html"}); r.Status != http.StatusOK {
		t.Fatalf("after refresh: %d", r.Status)
	}
	// API-style refresh rotates again.
	r = b.do("POST", g.URL+"/auth/refresh", nil, map[string]string{"Origin": api})
	if r.Status != http.StatusOK {
		t.Fatalf("POST refresh: %d %s", r.Status, r.Body)
	}
	refresh3 := open("authgate_refresh", b.cookie(api+"/auth/refresh", "authgate_refresh"))
	if refresh3 == refresh2 {
		t.Fatal("POST refresh did not rotate")
	}

	// 7. Logout: cookies cleared, end-session URL with id_token_hint.
	r = b.do("POST", g.URL+"/auth/logout", nil, map[string]string{"Origin": api})
	var lo struct {
		LogoutURL string `json:"logoutUrl"`
	}
	_ = json.Unmarshal([]byte(r.Body), &lo)
	if r.Status != http.StatusOK || !strings.HasPrefix(lo.LogoutURL, h.PublicURL()+"/oauth2/sessions/logout?") {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	lq := mustQuery(t, lo.LogoutURL)
	if lq.Get("id_token_hint") == "" || lq.Get("post_logout_redirect_uri") != api+"/" {
		t.Errorf("logout URL query: %v", lq)
	}
	if b.cookie(api+"/", "authgate_auth") != nil || b.cookie(api+"/auth/refresh", "authgate_refresh") != nil {
		t.Error("logout left session cookies behind")
	}
	final, _ := b.follow(lo.LogoutURL, func(u *url.URL) bool { return u.Host == addr })
	if !strings.HasPrefix(final, api+"/") {
		t.Errorf("provider logout did not return to post_logout_redirect_uri: %q", final)
	}
	if r := b.get(g.URL+"/dashboard", map[string]string{"Accept": "text/html"}); r.Status != http.StatusFound {
		t.Errorf("after logout: %d", r.Status)
	}

	// 8. Rotation is real at the provider: the first refresh token is dead.
	if status := providerRefresh(t, h, clientID, secret, refresh1); status != http.StatusBadRequest && status != http.StatusUnauthorized {
		t.Errorf("old refresh token at the provider: %d, want invalid_grant", status)
	}

	// 9. No token, code or secret in any URL or body the browser saw, nor in any log line.
	secrets := map[string]string{
		"access token": access, "refresh token": refresh1, "rotated refresh token": refresh2,
		"id token": idToken, "client secret": secret, "cookie secret": cookieSecret,
	}
	for what, s := range secrets {
		if what != "id token" && contains(b.seen, s) { // the ID token is the logout hint, by protocol
			t.Errorf("%s appeared in a URL or response body", what)
		}
		if strings.Contains(g.Log(), s) {
			t.Errorf("%s appeared in authgate's log", what)
		}
	}
	if strings.Contains(g.Log(), code) {
		t.Error("exchange code appeared in authgate's log")
	}
}

func waitExpired(t *testing.T, expiresAt string) {
	t.Helper()
	exp, err := time.Parse(time.RFC3339, expiresAt)
	if err != nil {
		t.Fatal(err)
	}
	// Past exp plus the leeway the gate runs with (AUTHGATE_TOKEN_LEEWAY).
	time.Sleep(time.Until(exp.Add(1500 * time.Millisecond)))
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func providerRefresh(t *testing.T, h *hydratest.Hydra, id, secret, rt string) int {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, _ := http.NewRequest("POST", h.PublicURL()+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
