package hydratest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// discovery is the part of the OpenID configuration the tests use.
type discovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	EndSessionEndpoint    string `json:"end_session_endpoint"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	ErrorDesc    string `json:"error_description"`
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: decode: %v: %s", u, err, b)
	}
}

func discover(t *testing.T, h *Hydra) discovery {
	t.Helper()
	var d discovery
	getJSON(t, h.IssuerURL()+".well-known/openid-configuration", &d)
	if d.Issuer != h.IssuerURL() {
		t.Fatalf("discovery issuer = %q, want %q", d.Issuer, h.IssuerURL())
	}
	for name, v := range map[string]string{"authorization_endpoint": d.AuthorizationEndpoint, "token_endpoint": d.TokenEndpoint, "jwks_uri": d.JWKSURI, "end_session_endpoint": d.EndSessionEndpoint} {
		if !strings.HasPrefix(v, h.PublicURL()+"/") {
			t.Fatalf("discovery %s = %q, want it under %s", name, v, h.PublicURL())
		}
	}
	return d
}

// newBrowser is a cookie-keeping client that does not follow redirects.
func newBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:     jar,
		Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// follow GETs start and follows redirects by hand until one points under
// stopPrefix, which it returns without requesting it.
func follow(t *testing.T, b *http.Client, start, stopPrefix string) *url.URL {
	t.Helper()
	next := start
	var hops []string
	for range 20 {
		u, err := url.Parse(next)
		if err != nil {
			t.Fatalf("bad URL %q: %v", next, err)
		}
		if strings.HasPrefix(next, stopPrefix) {
			return u
		}
		hops = append(hops, next)
		resp, err := b.Get(next)
		if err != nil {
			t.Fatalf("GET %s: %v", next, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 3 {
			t.Fatalf("GET %s: %s (expected a redirect on the way to %s): %s\nhops: %s", next, resp.Status, stopPrefix, body, strings.Join(hops, "\n  "))
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("GET %s: %s without usable Location: %v", next, resp.Status, err)
		}
		next = loc.String()
	}
	t.Fatalf("more than 20 redirects: %s", strings.Join(hops, "\n  "))
	return nil
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// authorize runs the browser part of the authorization-code flow with PKCE
// and returns the code plus the verifier and nonce it used.
func authorize(t *testing.T, b *http.Client, d discovery, clientID, redirectURI string) (code, verifier, nonce string) {
	t.Helper()
	verifier = randomHex(32)
	sum := sha256.Sum256([]byte(verifier))
	state, nonce := randomHex(16), randomHex(16)
	q := url.Values{
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"response_type":         {"code"},
		"scope":                 {DefaultScope},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {b64url(sum[:])},
		"code_challenge_method": {"S256"},
	}
	cb := follow(t, b, d.AuthorizationEndpoint+"?"+q.Encode(), redirectURI)
	got := cb.Query()
	if e := got.Get("error"); e != "" {
		t.Fatalf("authorization failed: %s: %s", e, got.Get("error_description"))
	}
	if got.Get("state") != state {
		t.Fatalf("callback state = %q, want %q", got.Get("state"), state)
	}
	if code = got.Get("code"); code == "" {
		t.Fatalf("callback without code: %s", cb)
	}
	return code, verifier, nonce
}

// token posts a token request with client_secret_basic.
func token(t *testing.T, d discovery, id, secret string, form url.Values) (int, tokenResponse) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", d.TokenEndpoint, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tr tokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("token response %s: %v: %s", resp.Status, err, b)
	}
	return resp.StatusCode, tr
}

type jwks struct {
	Keys []struct {
		Kid, Kty, Alg, Use, N, E string
	} `json:"keys"`
}

// verifyJWT checks the RS256 signature against the provider's JWKS and
// returns the decoded payload.
func verifyJWT(t *testing.T, keys jwks, name, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%s: %d dot-separated parts, want 3 (a JWS)", name, len(parts))
	}
	var hdr struct{ Alg, Kid string }
	decodePart(t, name+" header", parts[0], &hdr)
	if hdr.Alg != "RS256" {
		t.Fatalf("%s: alg %q, want RS256", name, hdr.Alg)
	}
	i := slices.IndexFunc(keys.Keys, func(k struct{ Kid, Kty, Alg, Use, N, E string }) bool { return k.Kid == hdr.Kid })
	if i < 0 {
		t.Fatalf("%s: kid %q not in JWKS", name, hdr.Kid)
	}
	k := keys.Keys[i]
	n, err1 := base64.RawURLEncoding.DecodeString(k.N)
	e, err2 := base64.RawURLEncoding.DecodeString(k.E)
	if k.Kty != "RSA" || err1 != nil || err2 != nil {
		t.Fatalf("%s: JWKS key %q unusable (kty %q)", name, k.Kid, k.Kty)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("%s: signature: %v", name, err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("%s: signature does not verify against JWKS key %q: %v", name, k.Kid, err)
	}
	var claims map[string]any
	decodePart(t, name+" payload", parts[1], &claims)
	return claims
}

func decodePart(t *testing.T, name, part string, out any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatalf("%s: base64url: %v", name, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: JSON: %v: %s", name, err, b)
	}
}

// audience returns aud as a list whether it is a string or an array.
func audience(t *testing.T, name string, c map[string]any) []string {
	t.Helper()
	switch a := c["aud"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			s, ok := v.(string)
			if !ok {
				t.Fatalf("%s: aud element %v is not a string", name, v)
			}
			out = append(out, s)
		}
		return out
	default:
		t.Fatalf("%s: aud = %#v, want a string or an array", name, c["aud"])
		return nil
	}
}

// checkIdentity asserts the claims authgate reads from both tokens.
func checkIdentity(t *testing.T, name string, c map[string]any, issuer, clientID string, u User) {
	t.Helper()
	if c["iss"] != issuer {
		t.Errorf("%s: iss = %v, want %q", name, c["iss"], issuer)
	}
	if aud := audience(t, name, c); !slices.Contains(aud, clientID) {
		t.Errorf("%s: aud = %v, want it to contain %q", name, aud, clientID)
	}
	for claim, want := range map[string]string{"sub": u.Subject, "email": u.Email, "name": u.Name, "organizationId": u.OrganizationID} {
		if c[claim] != want {
			t.Errorf("%s: %s = %#v, want %q", name, claim, c[claim], want)
		}
	}
	raw, ok := c["groups"].([]any)
	if !ok {
		t.Fatalf("%s: groups = %#v, want an array", name, c["groups"])
	}
	var groups []string
	for _, g := range raw {
		s, _ := g.(string)
		groups = append(groups, s)
	}
	if !slices.Equal(groups, u.Groups) {
		t.Errorf("%s: groups = %v, want %v", name, groups, u.Groups)
	}
	if _, ok := c["ext"]; ok {
		t.Errorf("%s: has an ext claim although mirror_top_level_claims is false", name)
	}
	exp, _ := c["exp"].(float64)
	if time.Unix(int64(exp), 0).Before(time.Now()) {
		t.Errorf("%s: exp %v is not in the future", name, c["exp"])
	}
}

func TestAuthorizationCodePKCEAndRefreshRotation(t *testing.T) {
	const accessTTL = 90 * time.Second
	h := Start(t, Options{AccessTokenTTL: accessTTL})
	if !strings.HasSuffix(h.IssuerURL(), "/") || h.IssuerURL() != h.PublicURL()+"/" {
		t.Fatalf("IssuerURL %q, PublicURL %q: want issuer = public URL + \"/\"", h.IssuerURL(), h.PublicURL())
	}
	user := User{
		Subject:        "u-7f3a",
		Email:          "bob@example.org",
		Name:           "Bob Builder",
		Groups:         []string{"ecosire-admins", "builders"},
		OrganizationID: "org-42",
	}
	h.SetUser(user)

	d := discover(t, h)
	var keys jwks
	getJSON(t, d.JWKSURI, &keys)

	const redirectURI = "http://127.0.0.1:1/auth/callback" // never requested
	id, secret := h.CreateClient(t, Client{RedirectURIs: []string{redirectURI}})

	code, verifier, nonce := authorize(t, newBrowser(t), d, id, redirectURI)
	status, tr := token(t, d, id, secret, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	})
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %s: %s", status, tr.Error, tr.ErrorDesc)
	}
	if tr.AccessToken == "" || tr.IDToken == "" || tr.RefreshToken == "" {
		t.Fatalf("code exchange: access_token set %v, id_token set %v, refresh_token set %v; want all three",
			tr.AccessToken != "", tr.IDToken != "", tr.RefreshToken != "")
	}
	if !strings.EqualFold(tr.TokenType, "bearer") {
		t.Errorf("token_type = %q, want bearer", tr.TokenType)
	}
	for _, s := range strings.Fields(DefaultScope) {
		if !slices.Contains(strings.Fields(tr.Scope), s) {
			t.Errorf("granted scope %q lacks %q", tr.Scope, s)
		}
	}

	at := verifyJWT(t, keys, "access token", tr.AccessToken)
	checkIdentity(t, "access token", at, h.IssuerURL(), id, user)
	if at["client_id"] != id {
		t.Errorf("access token client_id = %v, want %q", at["client_id"], id)
	}
	iat, _ := at["iat"].(float64)
	exp, _ := at["exp"].(float64)
	if got := time.Duration(exp-iat) * time.Second; got < accessTTL-time.Second || got > accessTTL+time.Second {
		t.Errorf("access token lifetime exp-iat = %v, want Options.AccessTokenTTL %v", got, accessTTL)
	}

	idt := verifyJWT(t, keys, "ID token", tr.IDToken)
	checkIdentity(t, "ID token", idt, h.IssuerURL(), id, user)
	if idt["nonce"] != nonce {
		t.Errorf("ID token nonce = %v, want %q", idt["nonce"], nonce)
	}
	if aud := audience(t, "ID token", idt); !slices.Equal(aud, []string{id}) {
		t.Errorf("ID token aud = %v, want exactly [%s]", aud, id)
	}

	// Refresh rotates: a new refresh token, fresh tokens with the same identity.
	refresh := func(rt string) (int, tokenResponse) {
		return token(t, d, id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	status, tr2 := refresh(tr.RefreshToken)
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %s: %s", status, tr2.Error, tr2.ErrorDesc)
	}
	if tr2.RefreshToken == "" || tr2.RefreshToken == tr.RefreshToken {
		t.Fatalf("refresh did not rotate the refresh token (new one set %v, equal to old %v)", tr2.RefreshToken != "", tr2.RefreshToken == tr.RefreshToken)
	}
	if tr2.AccessToken == "" || tr2.AccessToken == tr.AccessToken {
		t.Fatalf("refresh did not issue a new access token")
	}
	at2 := verifyJWT(t, keys, "refreshed access token", tr2.AccessToken)
	checkIdentity(t, "refreshed access token", at2, h.IssuerURL(), id, user)
	if tr2.IDToken != "" {
		checkIdentity(t, "refreshed ID token", verifyJWT(t, keys, "refreshed ID token", tr2.IDToken), h.IssuerURL(), id, user)
	}

	// The rotated-out refresh token is dead, and reusing it revokes the
	// family: the refresh token that replaced it stops working too.
	status, bad := refresh(tr.RefreshToken)
	if status != http.StatusBadRequest && status != http.StatusUnauthorized {
		t.Fatalf("reusing the old refresh token: status %d, want 400/401", status)
	}
	if bad.Error != "invalid_grant" {
		t.Errorf("reusing the old refresh token: error %q (%s), want invalid_grant", bad.Error, bad.ErrorDesc)
	}
	if status, after := refresh(tr2.RefreshToken); status == http.StatusOK {
		t.Errorf("the new refresh token still works after the old one was reused; Hydra was expected to revoke the family")
	} else if after.Error != "invalid_grant" {
		t.Errorf("new refresh token after reuse: error %q, want invalid_grant", after.Error)
	}
}

func TestLogoutAcceptedAndBackchannel(t *testing.T) {
	h := Start(t, Options{})
	d := discover(t, h)
	var keys jwks
	getJSON(t, d.JWKSURI, &keys)

	var mu sync.Mutex
	var logoutTokens []string
	bc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && r.Method == http.MethodPost {
			mu.Lock()
			logoutTokens = append(logoutTokens, r.PostForm.Get("logout_token"))
			mu.Unlock()
		}
	}))
	t.Cleanup(bc.Close)

	const redirectURI = "http://127.0.0.1:1/auth/callback"
	const postLogout = "http://127.0.0.1:1/logged-out"
	id, secret := h.CreateClient(t, Client{
		RedirectURIs:           []string{redirectURI},
		PostLogoutRedirectURIs: []string{postLogout},
		BackchannelLogoutURI:   bc.URL + "/backchannel",
	})

	browser := newBrowser(t)
	login := func(want User) (idToken string) {
		t.Helper()
		code, verifier, _ := authorize(t, browser, d, id, redirectURI)
		status, tr := token(t, d, id, secret, url.Values{
			"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {redirectURI}, "code_verifier": {verifier},
		})
		if status != http.StatusOK {
			t.Fatalf("code exchange: %d %s: %s", status, tr.Error, tr.ErrorDesc)
		}
		checkIdentity(t, "ID token", verifyJWT(t, keys, "ID token", tr.IDToken), h.IssuerURL(), id, want)
		return tr.IDToken
	}

	alice := DefaultUser()
	idToken := login(alice)

	// The login session is remembered: SetUser does not change who this
	// browser is until it logs out.
	carol := User{Subject: "user-carol", Email: "carol@example.com", Name: "Carol", OrganizationID: "org-2"}
	h.SetUser(carol)
	login(alice)

	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {postLogout}, "state": {"st-1"}}
	back := follow(t, browser, d.EndSessionEndpoint+"?"+q.Encode(), postLogout)
	if back.Query().Get("state") != "st-1" {
		t.Errorf("post-logout redirect %s lacks state=st-1", back)
	}

	// Hydra sends back-channel logout tokens asynchronously (a goroutine per
	// client), possibly after the browser was redirected: wait for it.
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		got = slices.Clone(logoutTokens)
		mu.Unlock()
		if len(got) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != 1 {
		t.Fatalf("back-channel logout calls = %d, want 1", len(got))
	}
	lt := verifyJWT(t, keys, "logout token", got[0])
	t.Logf("back-channel logout token claims: %v", lt)
	var idc map[string]any
	decodePart(t, "ID token", strings.Split(idToken, ".")[1], &idc)
	// Hydra's logout token carries sid but no sub (and no exp).
	if lt["sid"] == nil || lt["sid"] != idc["sid"] || lt["iss"] != h.IssuerURL() {
		t.Errorf("logout token sid=%v iss=%v; want sid %v (from the ID token), iss %q",
			lt["sid"], lt["iss"], idc["sid"], h.IssuerURL())
	}
	if aud := audience(t, "logout token", lt); !slices.Equal(aud, []string{id}) {
		t.Errorf("logout token aud = %v, want [%s]", aud, id)
	}
	if ev, _ := lt["events"].(map[string]any); ev == nil || ev["http://schemas.openid.net/event/backchannel-logout"] == nil {
		t.Errorf("logout token events = %v, want the back-channel logout event", lt["events"])
	}

	// Logged out, the same browser now logs in as the current user.
	login(carol)
}

// fatalTB records Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fatalTB) Skip(...any)          { panic("Skip called") }
func (f *fatalTB) Skipf(string, ...any) { panic("Skipf called") }
func (f *fatalTB) SkipNow()             { panic("SkipNow called") }

func TestMissingBinaryFailsWithHint(t *testing.T) {
	t.Setenv(BinEnv, t.TempDir()+"/no-such-hydra")
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f, Options{})
		f.mu.Lock()
		f.msg = "Start returned"
		f.mu.Unlock()
	}()
	<-done
	if !strings.Contains(f.msg, "scripts/build-tools.sh") || !strings.Contains(f.msg, "no-such-hydra") {
		t.Fatalf("Start with a missing binary: %q; want a Fatalf naming the path and scripts/build-tools.sh", f.msg)
	}
	if p, err := BinaryPath(); err != nil || !strings.HasSuffix(p, "/no-such-hydra") {
		t.Errorf("BinaryPath() = %q, %v; want the %s value", p, err, BinEnv)
	}
	t.Setenv(BinEnv, "")
	if p, err := BinaryPath(); err != nil || !strings.HasSuffix(p, "/authgate/bin/hydra") {
		t.Errorf("BinaryPath() without %s = %q, %v; want the tools cache (internal/testtools)", BinEnv, p, err)
	}
}

func TestForgetLoginFollowsSetUser(t *testing.T) {
	h := Start(t, Options{ForgetLogin: true, AccessTokenTTL: 1500 * time.Millisecond})
	d := discover(t, h)
	var keys jwks
	getJSON(t, d.JWKSURI, &keys)
	const redirectURI = "http://127.0.0.1:1/auth/callback"
	id, secret := h.CreateClient(t, Client{RedirectURIs: []string{redirectURI}})

	browser := newBrowser(t)
	for _, u := range []User{DefaultUser(), {Subject: "user-dave", Email: "dave@example.com", Name: "Dave", Groups: []string{"ecosire-admins"}, OrganizationID: "org-9"}} {
		h.SetUser(u)
		code, verifier, _ := authorize(t, browser, d, id, redirectURI)
		status, tr := token(t, d, id, secret, url.Values{
			"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {redirectURI}, "code_verifier": {verifier},
		})
		if status != http.StatusOK {
			t.Fatalf("code exchange: %d %s: %s", status, tr.Error, tr.ErrorDesc)
		}
		at := verifyJWT(t, keys, "access token", tr.AccessToken)
		checkIdentity(t, "access token", at, h.IssuerURL(), id, u)
		// Sub-second TTLs reach Hydra in milliseconds; JWT times are whole seconds.
		if iat, exp := at["iat"].(float64), at["exp"].(float64); exp-iat < 1 || exp-iat > 2 {
			t.Errorf("access token exp-iat = %vs, want 1-2s for a 1.5s TTL", exp-iat)
		}
	}
}
