package devprovider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

const (
	testRedirect   = "http://rp.example/auth/callback"
	testPostLogout = "http://rp.example/logged-out"
	testClientID   = "authgate-test"
	testSecret     = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
)

var fullScopes = []string{"openid", "email", "profile", "organization", "offline_access"}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newServer starts p on an httptest server whose URL is the BaseURL.
func newServer(t *testing.T, opts Options) (*Provider, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	if opts.BaseURL == "" {
		opts.BaseURL = "http://" + srv.Listener.Addr().String()
	}
	if opts.ClientID == "" {
		opts.ClientID = testClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = testSecret
	}
	if opts.RedirectURIs == nil {
		opts.RedirectURIs = []string{testRedirect}
	}
	if opts.PostLogoutRedirectURIs == nil {
		opts.PostLogoutRedirectURIs = []string{testPostLogout}
	}
	p, err := New(opts)
	if err != nil {
		srv.Listener.Close()
		t.Fatalf("New: %v", err)
	}
	srv.Config.Handler = p
	srv.Start()
	t.Cleanup(srv.Close)
	return p, srv
}

// browser is a cookie-keeping client that does not follow redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func oauthConfig(p *Provider, scopes ...string) *oauth2.Config {
	if len(scopes) == 0 {
		scopes = fullScopes
	}
	return &oauth2.Config{
		ClientID:     p.ClientID(),
		ClientSecret: p.ClientSecret(),
		RedirectURL:  testRedirect,
		Scopes:       scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   p.AuthorizeURL(),
			TokenURL:  p.TokenURL(),
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
}

// getRedirect GETs u and returns the Location of the expected 302.
func getRedirect(t *testing.T, c *http.Client, u string) *url.URL {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: status %d, want 302; body: %s", u, resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

type flow struct {
	verifier, state, nonce string
}

// login runs the authorize step (AutoLogin or SSO must be in effect) and
// returns the code.
func login(t *testing.T, c *http.Client, cfg *oauth2.Config) (string, flow) {
	t.Helper()
	code, f, err := tryLogin(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return code, f
}

// tryLogin is login without t, for goroutines.
func tryLogin(c *http.Client, cfg *oauth2.Config) (code string, f flow, err error) {
	f = flow{verifier: oauth2.GenerateVerifier(), state: randomToken(16), nonce: randomToken(16)}
	u := cfg.AuthCodeURL(f.state, oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier))
	resp, err := c.Get(u)
	if err != nil {
		return "", f, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", f, fmt.Errorf("GET %s: status %d, want 302; body: %s", u, resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	switch {
	case err != nil:
		return "", f, err
	case loc.Scheme+"://"+loc.Host+loc.Path != testRedirect:
		return "", f, fmt.Errorf("redirected to %s, want %s", loc, testRedirect)
	case loc.Query().Get("error") != "":
		return "", f, fmt.Errorf("authorize error %s: %s", loc.Query().Get("error"), loc.Query().Get("error_description"))
	case loc.Query().Get("state") != f.state:
		return "", f, fmt.Errorf("state %q, want %q", loc.Query().Get("state"), f.state)
	case loc.Query().Get("code") == "":
		return "", f, fmt.Errorf("no code in %s", loc)
	}
	return loc.Query().Get("code"), f, nil
}

func exchange(t *testing.T, cfg *oauth2.Config, code string, f flow) *oauth2.Token {
	t.Helper()
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok
}

func wantRetrieveError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want oauth2 RetrieveError %s", err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("error code %q (%s), want %q", re.ErrorCode, re.Body, code)
	}
}

// jwtParts decodes a compact JWT's header and payload without verifying.
func jwtParts(t *testing.T, tok string) (header, payload map[string]json.RawMessage) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	for i, dst := range []*map[string]json.RawMessage{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload
}

func str(t *testing.T, m map[string]json.RawMessage, k string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(m[k], &s); err != nil {
		t.Fatalf("claim %s = %s is not a string", k, m[k])
	}
	return s
}

type tokenResp struct {
	status int
	header http.Header
	body   map[string]any
}

func postForm(t *testing.T, endpoint string, form url.Values, basic bool) tokenResp {
	t.Helper()
	return postFormAs(t, endpoint, form, basic, testClientID, testSecret)
}

func postFormAs(t *testing.T, endpoint string, form url.Values, basic bool, id, secret string) tokenResp {
	t.Helper()
	r, err := tryPostForm(endpoint, form, basic, id, secret)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryPostForm posts to a token-style endpoint with client authentication;
// safe in goroutines.
func tryPostForm(endpoint string, form url.Values, basic bool, id, secret string) (tokenResp, error) {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if !basic {
		f.Set("client_id", id)
		f.Set("client_secret", secret)
	}
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return tokenResp{}, err
	}
	defer resp.Body.Close()
	out := tokenResp{status: resp.StatusCode, header: resp.Header, body: map[string]any{}}
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out.body); err != nil {
			return out, fmt.Errorf("endpoint answered non-JSON %d: %s", resp.StatusCode, b)
		}
	}
	return out, nil
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
}

func refresh(t *testing.T, p *Provider, rt string) tokenResp {
	t.Helper()
	return postForm(t, p.TokenURL(), refreshForm(rt), true)
}

func wantOAuthError(t *testing.T, r tokenResp, status int, code string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Fatalf("got %d %v, want %d error=%s", r.status, r.body, status, code)
	}
}

// ---------------------------------------------------------------------------

func TestDiscoveryUsesPublicBaseURLAndAuthentikLayout(t *testing.T) {
	const public = "https://auth.public.example"
	p, srv := newServer(t, Options{BaseURL: public, Slug: "myapp"})
	if got, want := p.Issuer(), public+"/application/o/myapp/"; got != want {
		t.Fatalf("Issuer() = %q, want %q", got, want)
	}
	// Fetched over the internal address with the public Host header, and
	// with some other Host: URLs still come from BaseURL.
	for _, host := range []string{"auth.public.example", "internal.svc:9000"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/application/o/myapp/.well-known/openid-configuration", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		want := map[string]string{
			"issuer":                 public + "/application/o/myapp/",
			"authorization_endpoint": public + "/application/o/authorize/",
			"token_endpoint":         public + "/application/o/token/",
			"userinfo_endpoint":      public + "/application/o/userinfo/",
			"jwks_uri":               public + "/application/o/myapp/jwks/",
			"end_session_endpoint":   public + "/application/o/myapp/end-session/",
			"revocation_endpoint":    public + "/application/o/revoke/",
		}
		for k, v := range want {
			if doc[k] != v {
				t.Errorf("Host %s: %s = %v, want %s", host, k, doc[k], v)
			}
		}
		if !strings.HasSuffix(doc["issuer"].(string), "/") {
			t.Errorf("issuer lost its trailing slash")
		}
		if got := doc["code_challenge_methods_supported"]; !equalJSON(got, []any{"S256"}) {
			t.Errorf("code_challenge_methods_supported = %v", got)
		}
		if got := doc["id_token_signing_alg_values_supported"]; !equalJSON(got, []any{"RS256"}) {
			t.Errorf("id_token_signing_alg_values_supported = %v", got)
		}
		if got := doc["token_endpoint_auth_methods_supported"]; !equalJSON(got, []any{"client_secret_post", "client_secret_basic"}) {
			t.Errorf("token_endpoint_auth_methods_supported = %v", got)
		}
	}
	// The layout is exact: no slash-less aliases, no per-slug token endpoint.
	for _, path := range []string{
		"/application/o/myapp/.well-known/openid-configuration/",
		"/application/o/myapp",
		"/application/o/token",
		"/application/o/myapp/token/",
		"/application/o/other/.well-known/openid-configuration",
		"/application/o/myapp/jwks",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	if s := p.Stats(); s.Discovery != 2 {
		t.Errorf("Stats.Discovery = %d, want 2", s.Discovery)
	}
}

func TestBaseURLWithPathPrefix(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String() + "/idp/"
	p, err := New(Options{BaseURL: base, ClientSecret: testSecret, RedirectURIs: []string{testRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p
	srv.Start()
	defer srv.Close()
	if want := strings.TrimSuffix(base, "/") + "/application/o/authgate/"; p.Issuer() != want {
		t.Fatalf("issuer %q, want %q", p.Issuer(), want)
	}
	if _, err := oidc.NewProvider(context.Background(), p.Issuer()); err != nil {
		t.Fatalf("go-oidc discovery under a path prefix: %v", err)
	}
}

func TestNewValidation(t *testing.T) {
	for name, opts := range map[string]Options{
		"no base":        {},
		"relative base":  {BaseURL: "/x"},
		"query in base":  {BaseURL: "http://h/?a=b"},
		"bad alg":        {BaseURL: "http://h", Alg: "none"},
		"short hs256":    {BaseURL: "http://h", Alg: "HS256", ClientSecret: "short"},
		"unknown auto":   {BaseURL: "http://h", AutoLogin: "mallory"},
		"dup user":       {BaseURL: "http://h", Users: []User{{Username: "a"}, {Username: "a"}}},
		"bad redirect":   {BaseURL: "http://h", RedirectURIs: []string{"/relative"}},
		"slug with path": {BaseURL: "http://h", Slug: "a/b"},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: New accepted %+v", name, opts)
		}
	}
	p, err := New(Options{BaseURL: "http://h"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer() != "http://h/application/o/authgate/" || p.ClientID() != DefaultClientID {
		t.Errorf("defaults: issuer %q client %q", p.Issuer(), p.ClientID())
	}
	if _, err := p.AccessToken("alice", nil); err != nil {
		t.Errorf("default demo user alice: %v", err)
	}
}

func TestCodeFlowWithGoOIDC(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice"})
	ctx := context.Background()
	op, err := oidc.NewProvider(ctx, p.Issuer()) // checks the issuer, trailing slash included
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	cfg := oauthConfig(p)
	cfg.Endpoint = op.Endpoint() // from discovery this time
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	c := browser(t)
	code, f := login(t, c, cfg)
	tok := exchange(t, cfg, code, f)

	if cc := tok.Extra("id_token"); cc == nil {
		t.Fatal("no id_token")
	}
	rawID := tok.Extra("id_token").(string)
	idt, err := op.Verifier(&oidc.Config{ClientID: p.ClientID()}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc rejected the ID token: %v", err)
	}
	if idt.Nonce != f.nonce {
		t.Errorf("nonce %q, want %q", idt.Nonce, f.nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var idc struct {
		Email          string   `json:"email"`
		Name           string   `json:"name"`
		Groups         []string `json:"groups"`
		OrganizationID string   `json:"organizationId"`
		Sid            string   `json:"sid"`
		AuthTime       int64    `json:"auth_time"`
		AtHash         string   `json:"at_hash"`
	}
	if err := idt.Claims(&idc); err != nil {
		t.Fatal(err)
	}
	if idc.Email != "alice@example.com" || idc.Name != "Alice Example" || idc.OrganizationID != "org-1" ||
		len(idc.Groups) != 1 || idc.Groups[0] != "ecosire-admins" || idc.Sid == "" || idc.AuthTime == 0 || idc.AtHash == "" {
		t.Errorf("ID token claims %+v", idc)
	}

	// The access token: a JWT with aud as a plain string and Authentik's claims.
	h, c2 := jwtParts(t, tok.AccessToken)
	if str(t, h, "typ") != "JWT" || str(t, h, "alg") != "RS256" || str(t, h, "kid") != p.KeyID() || p.KeyID() == "" {
		t.Errorf("access token header %v", h)
	}
	if aud := strings.TrimSpace(string(c2["aud"])); !strings.HasPrefix(aud, `"`) || str(t, c2, "aud") != p.ClientID() {
		t.Errorf("aud = %s, want the JSON string %q", aud, p.ClientID())
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "azp", "scope", "sid", "email", "name", "groups", "organizationId"} {
		if _, ok := c2[k]; !ok {
			t.Errorf("access token lacks %s", k)
		}
	}
	if str(t, c2, "iss") != p.Issuer() || str(t, c2, "sub") != idt.Subject || str(t, c2, "sid") != idc.Sid ||
		str(t, c2, "azp") != p.ClientID() || str(t, c2, "scope") != strings.Join(fullScopes, " ") {
		t.Errorf("access token claims %v", c2)
	}
	if _, err := op.Verifier(&oidc.Config{ClientID: p.ClientID()}).Verify(ctx, tok.AccessToken); err != nil {
		t.Errorf("access token does not verify against the JWKS: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token with offline_access")
	}

	ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != idt.Subject || ui.Email != "alice@example.com" {
		t.Errorf("userinfo %+v", ui)
	}

	// SSO: with AutoLogin off, the provider session cookie logs in silently.
	p.SetAutoLogin("")
	code2, f2 := login(t, c, cfg)
	tok2 := exchange(t, cfg, code2, f2)
	idt2, err := op.Verifier(&oidc.Config{ClientID: p.ClientID()}).Verify(ctx, tok2.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var idc2 struct {
		Sid string `json:"sid"`
	}
	_ = idt2.Claims(&idc2)
	if idt2.Subject != idt.Subject || idc2.Sid != idc.Sid {
		t.Errorf("SSO login: sub %s sid %s, want the same session (%s %s)", idt2.Subject, idc2.Sid, idt.Subject, idc.Sid)
	}
	// A fresh browser without the cookie gets the form.
	resp, err := browser(t).Get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `name="password"`) {
		t.Errorf("fresh browser: %d, want the login form", resp.StatusCode)
	}

	s := p.Stats()
	if s.Authorize != 3 || s.Token["authorization_code"] != 2 || s.Discovery != 1 || s.JWKS < 1 || s.UserInfo != 1 {
		t.Errorf("Stats %+v", s)
	}
}

func TestAuthorizationCodeRules(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	p, _ := newServer(t, Options{AutoLogin: "alice", Now: clock.Now})
	cfg := oauthConfig(p)
	ctx := context.Background()
	c := browser(t)

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		code, _ := login(t, c, cfg)
		_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantRetrieveError(t, err, "invalid_grant")
	})
	t.Run("missing PKCE verifier", func(t *testing.T) {
		code, _ := login(t, c, cfg)
		_, err := cfg.Exchange(ctx, code)
		wantRetrieveError(t, err, "invalid_grant")
	})
	t.Run("code reuse", func(t *testing.T) {
		code, f := login(t, c, cfg)
		tok := exchange(t, cfg, code, f)
		_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
		wantRetrieveError(t, err, "invalid_grant")
		// The replay revoked what the code had yielded.
		wantOAuthError(t, refresh(t, p, tok.RefreshToken), 400, "invalid_grant")
	})
	t.Run("redirect_uri mismatch", func(t *testing.T) {
		code, f := login(t, c, cfg)
		r := postForm(t, p.TokenURL(), url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {f.verifier},
			"redirect_uri": {testRedirect + "x"},
		}, false)
		wantOAuthError(t, r, 400, "invalid_grant")
	})
	t.Run("expired code", func(t *testing.T) {
		code, f := login(t, c, cfg)
		clock.Advance(61 * time.Second)
		_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
		wantRetrieveError(t, err, "invalid_grant")
	})
	t.Run("plain PKCE and missing PKCE are refused at authorize", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		for name, u := range map[string]string{
			"plain":  cfg.AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", v), oauth2.SetAuthURLParam("code_challenge_method", "plain")),
			"none":   cfg.AuthCodeURL("st"),
			"no alg": cfg.AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", oauth2.S256ChallengeFromVerifier(v))),
		} {
			loc := getRedirect(t, c, u)
			if q := loc.Query(); q.Get("error") != "invalid_request" || q.Get("code") != "" || q.Get("state") != "st" {
				t.Errorf("%s: redirected to %s, want error=invalid_request", name, loc)
			}
		}
	})
	t.Run("state is required", func(t *testing.T) {
		loc := getRedirect(t, c, cfg.AuthCodeURL("", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if q := loc.Query(); q.Get("error") != "invalid_request" || q.Get("code") != "" {
			t.Errorf("redirected to %s", loc)
		}
	})
	t.Run("response_type must be code", func(t *testing.T) {
		u := strings.Replace(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "response_type=code", "response_type=token", 1)
		loc := getRedirect(t, c, u)
		if q := loc.Query(); q.Get("error") != "unsupported_response_type" || q.Get("code") != "" {
			t.Errorf("redirected to %s", loc)
		}
	})
	t.Run("access token lifetime follows the clock", func(t *testing.T) {
		code, f := login(t, c, cfg)
		tok := exchange(t, cfg, code, f)
		_, claims := jwtParts(t, tok.AccessToken)
		var exp, iat int64
		_ = json.Unmarshal(claims["exp"], &exp)
		_ = json.Unmarshal(claims["iat"], &iat)
		if iat != clock.Now().Unix() || exp-iat != int64(DefaultAccessTokenTTL/time.Second) {
			t.Errorf("iat %d exp %d, clock %d", iat, exp, clock.Now().Unix())
		}
	})
}

func TestBadClientOrRedirectNeverRedirects(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice"})
	good := oauthConfig(p)
	ch := oauth2.S256ChallengeOption(oauth2.GenerateVerifier())
	cases := map[string]string{}
	bad := *good
	bad.RedirectURL = "https://evil.example/cb"
	cases["unregistered redirect_uri"] = bad.AuthCodeURL("st", ch)
	bad = *good
	bad.RedirectURL = testRedirect + "/"
	cases["redirect_uri prefix"] = bad.AuthCodeURL("st", ch)
	bad = *good
	bad.RedirectURL = ""
	cases["no redirect_uri"] = bad.AuthCodeURL("st", ch)
	bad = *good
	bad.ClientID = "someone-else"
	cases["unknown client"] = bad.AuthCodeURL("st", ch)
	cases["repeated redirect_uri"] = good.AuthCodeURL("st", ch) + "&redirect_uri=" + url.QueryEscape("https://evil.example/cb")
	for name, u := range cases {
		resp, err := browser(t).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d Location=%q, want 400 and no redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
		if !strings.Contains(string(body), html.EscapeString(Banner)) && !strings.Contains(string(body), Banner) {
			t.Errorf("%s: error page lacks the banner", name)
		}
	}
}

func TestRefreshRotation(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice"})
	cfg := oauthConfig(p)
	code, f := login(t, browser(t), cfg)
	tok := exchange(t, cfg, code, f)
	rt1 := tok.RefreshToken
	if rt1 == "" {
		t.Fatal("no refresh token")
	}
	r := refresh(t, p, rt1)
	if r.status != 200 {
		t.Fatalf("refresh: %d %v", r.status, r.body)
	}
	rt2, _ := r.body["refresh_token"].(string)
	if rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh did not rotate: %q", rt2)
	}
	if r.body["access_token"] == tok.AccessToken || r.body["id_token"] == nil || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("refresh response %v %v", r.body, r.header)
	}
	// No grace period: the old one is dead at once.
	wantOAuthError(t, refresh(t, p, rt1), 400, "invalid_grant")
	if r := refresh(t, p, rt2); r.status != 200 || r.body["refresh_token"] == nil {
		t.Fatalf("second rotation: %d %v", r.status, r.body)
	}
	wantOAuthError(t, refresh(t, p, rt2), 400, "invalid_grant")
	if s := p.Stats(); s.Token["refresh_token"] != 4 || s.Token["authorization_code"] != 1 {
		t.Errorf("Stats.Token = %v", s.Token)
	}
}

func TestConcurrentRefreshOnlyOneWins(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice"})
	cfg := oauthConfig(p)
	code, f := login(t, browser(t), cfg)
	rt := exchange(t, cfg, code, f).RefreshToken
	var wg sync.WaitGroup
	results := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := tryPostForm(p.TokenURL(), refreshForm(rt), true, testClientID, testSecret)
			if err != nil {
				t.Error(err)
			}
			results <- r.status
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for s := range results {
		if s == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent refreshes of one token succeeded, want exactly 1", ok)
	}
}

func TestOmitRotatedRefresh(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice", OmitRotatedRefresh: true})
	cfg := oauthConfig(p)
	code, f := login(t, browser(t), cfg)
	rt := exchange(t, cfg, code, f).RefreshToken
	for i := range 3 {
		r := refresh(t, p, rt)
		if r.status != 200 || r.body["access_token"] == nil {
			t.Fatalf("refresh %d: %d %v", i, r.status, r.body)
		}
		if _, has := r.body["refresh_token"]; has {
			t.Fatalf("refresh %d answered a refresh_token; OmitRotatedRefresh wants none", i)
		}
	}
}

func TestNoRefreshTokenWithoutOfflineAccess(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice"})
	cfg := oauthConfig(p, "openid", "email")
	code, f := login(t, browser(t), cfg)
	tok := exchange(t, cfg, code, f)
	if tok.RefreshToken != "" {
		t.Fatalf("refresh token %q issued without offline_access", tok.RefreshToken)
	}
	_, c := jwtParts(t, tok.AccessToken)
	if str(t, c, "email") != "alice@example.com" || str(t, c, "scope") != "openid email" {
		t.Errorf("claims %v", c)
	}
	for _, k := range []string{"organizationId", "name"} {
		if _, has := c[k]; has {
			t.Errorf("%s present without its scope", k)
		}
	}
	// organization alone brings name and organizationId.
	cfg = oauthConfig(p, "openid", "organization", "made-up-scope")
	code, f = login(t, browser(t), cfg)
	tok = exchange(t, cfg, code, f)
	_, c = jwtParts(t, tok.AccessToken)
	if str(t, c, "organizationId") != "org-1" || str(t, c, "name") != "Alice Example" || str(t, c, "scope") != "openid organization" {
		t.Errorf("claims %v", c)
	}
	if _, has := c["email"]; has {
		t.Error("email present without the email scope")
	}
}

func TestRotateKey(t *testing.T) {
	p, _ := newServer(t, Options{})
	ctx := context.Background()
	oldTok, err := p.AccessToken("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	kid1 := p.KeyID()
	if err := p.RotateKey(); err != nil {
		t.Fatal(err)
	}
	kid2 := p.KeyID()
	if kid1 == kid2 || kid2 == "" {
		t.Fatalf("kid %q -> %q", kid1, kid2)
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, p.JWKSURL(), &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0]["kid"] != kid2 || jwks.Keys[0]["kty"] != "RSA" {
		t.Fatalf("JWKS after rotation: %v", jwks.Keys)
	}
	ks := oidc.NewRemoteKeySet(ctx, p.JWKSURL())
	if _, err := ks.VerifySignature(ctx, oldTok); err == nil {
		t.Fatal("a token signed with the retired key still verifies")
	}
	newTok, err := p.AccessToken("alice", map[string]any{"organizationId": "org-2", "groups": nil})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.VerifySignature(ctx, newTok); err != nil {
		t.Fatalf("new token: %v", err)
	}
	h, c := jwtParts(t, newTok)
	if str(t, h, "kid") != kid2 || str(t, c, "organizationId") != "org-2" {
		t.Errorf("header %v claims %v", h, c)
	}
	if _, has := c["groups"]; has {
		t.Error("nil extra claim did not remove groups")
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestES256(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice", Alg: "ES256"})
	ctx := context.Background()
	op, err := oidc.NewProvider(ctx, p.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauthConfig(p)
	code, f := login(t, browser(t), cfg)
	tok := exchange(t, cfg, code, f)
	idt, err := op.Verifier(&oidc.Config{ClientID: p.ClientID()}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("ES256 ID token: %v", err)
	}
	if idt.Nonce != f.nonce {
		t.Error("nonce")
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Error(err)
	}
	h, _ := jwtParts(t, tok.AccessToken)
	if str(t, h, "alg") != "ES256" {
		t.Errorf("header %v", h)
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, p.JWKSURL(), &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0]["kty"] != "EC" || jwks.Keys[0]["crv"] != "P-256" {
		t.Errorf("JWKS %v", jwks.Keys)
	}
	if err := p.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := oidc.NewRemoteKeySet(ctx, p.JWKSURL()).VerifySignature(ctx, tok.AccessToken); err == nil {
		t.Error("ES256 token verifies after rotation")
	}
}

func TestHS256(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice", Alg: "HS256"})
	var jwks struct {
		Keys []any `json:"keys"`
	}
	getJSON(t, p.JWKSURL(), &jwks)
	if jwks.Keys == nil || len(jwks.Keys) != 0 {
		t.Fatalf("HS256 JWKS = %v, want an empty key list", jwks.Keys)
	}
	var doc map[string]any
	getJSON(t, p.DiscoveryURL(), &doc)
	if !equalJSON(doc["id_token_signing_alg_values_supported"], []any{"HS256"}) {
		t.Errorf("discovery algs %v", doc["id_token_signing_alg_values_supported"])
	}
	cfg := oauthConfig(p)
	code, f := login(t, browser(t), cfg)
	tok := exchange(t, cfg, code, f)
	for name, raw := range map[string]string{"access": tok.AccessToken, "id": tok.Extra("id_token").(string)} {
		jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.HS256})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		payload, err := jws.Verify([]byte(testSecret))
		if err != nil {
			t.Fatalf("%s token does not verify with the client secret: %v", name, err)
		}
		if _, err := jws.Verify([]byte(testSecret + "x")); err == nil {
			t.Fatalf("%s token verifies with a wrong secret", name)
		}
		if jws.Signatures[0].Header.KeyID != "" {
			t.Errorf("%s token has kid %q; Authentik sends none with HS256", name, jws.Signatures[0].Header.KeyID)
		}
		var c map[string]any
		_ = json.Unmarshal(payload, &c)
		if c["aud"] != p.ClientID() || c["iss"] != p.Issuer() {
			t.Errorf("%s claims %v", name, c)
		}
	}
	if err := p.RotateKey(); err == nil {
		t.Error("RotateKey succeeded in HS256 mode")
	}
}

func TestEndSession(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice"})
	cfg := oauthConfig(p)
	c := browser(t)
	code, f := login(t, c, cfg)
	idToken := exchange(t, cfg, code, f).Extra("id_token").(string)
	es := p.EndSessionURL()

	noRedirect := func(name, u string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d Location=%q, want 400 without redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return es + "?" + v.Encode()
	}
	noRedirect("redirect without id_token_hint", q("post_logout_redirect_uri", testPostLogout, "state", "s1"))
	noRedirect("unregistered redirect", q("post_logout_redirect_uri", "https://evil.example/", "id_token_hint", idToken))
	noRedirect("tampered hint", q("post_logout_redirect_uri", testPostLogout, "id_token_hint", idToken[:len(idToken)-4]+"AAAA"))
	foreign, _ := p.Sign(nil, map[string]any{"iss": "https://other.example/", "aud": p.ClientID()})
	noRedirect("hint from another issuer", q("post_logout_redirect_uri", testPostLogout, "id_token_hint", foreign))

	// The session survived the refused attempts: SSO still silent.
	p.SetAutoLogin("")
	login(t, c, cfg)

	loc := getRedirect(t, c, q("post_logout_redirect_uri", testPostLogout, "id_token_hint", idToken, "state", "bye-state"))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testPostLogout || loc.Query().Get("state") != "bye-state" {
		t.Fatalf("logout redirected to %s", loc)
	}
	// Session ended: the next authorization shows the form.
	resp, err := c.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `name="password"`) {
		t.Fatalf("after logout: %d, want the login form", resp.StatusCode)
	}
	// Without a redirect: a "logged out" page, hint optional.
	resp, err = c.Get(es)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Logged out") || !strings.Contains(string(body), Banner) {
		t.Errorf("logged-out page: %d %s", resp.StatusCode, body)
	}
	// An expired hint is still a valid hint.
	clockless, _ := p.Sign(nil, map[string]any{"iss": p.Issuer(), "aud": p.ClientID(), "exp": 1})
	getRedirect(t, c, q("post_logout_redirect_uri", testPostLogout, "id_token_hint", clockless))
	if s := p.Stats(); s.EndSession != 7 {
		t.Errorf("Stats.EndSession = %d, want 7", s.EndSession)
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

func TestFormLogin(t *testing.T) {
	p, _ := newServer(t, Options{Users: []User{
		{Username: "bob", Password: "correct horse", Email: "bob@example.com", Name: "Bob", Groups: []string{"ecosire-support"}, OrganizationID: "org-9"},
	}})
	cfg := oauthConfig(p)
	c := browser(t)
	verifier := oauth2.GenerateVerifier()
	evilState := `"><script>alert(1)</script>&x=1`
	resp, err := c.Get(cfg.AuthCodeURL(evilState, oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-1")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || !strings.Contains(page, Banner) || strings.Contains(page, "<script>") {
		t.Fatalf("login page %d: %s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(page, "alice") {
		t.Error("demo hint shown although Users were configured")
	}
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("state") != evilState || form.Get("csrf") == "" || form.Get("code_challenge") == "" || form.Get("nonce") != "n-1" {
		t.Fatalf("hidden fields %v", form)
	}
	post := func(c *http.Client, f url.Values) (*http.Response, string) {
		resp, err := c.PostForm(p.AuthorizeURL(), f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	// Wrong password.
	form.Set("username", "bob")
	form.Set("password", "wrong")
	r, b := post(c, form)
	if r.StatusCode != http.StatusForbidden || r.Header.Get("Location") != "" || !strings.Contains(b, "Invalid username or password") {
		t.Fatalf("wrong password: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// Unknown user.
	form.Set("username", "mallory")
	if r, _ := post(c, form); r.StatusCode != http.StatusForbidden || r.Header.Get("Location") != "" {
		t.Fatalf("unknown user: %d", r.StatusCode)
	}
	// Right password but from a browser without the CSRF cookie (login CSRF).
	form.Set("username", "bob")
	form.Set("password", "correct horse")
	if r, _ := post(browser(t), form); r.StatusCode != http.StatusForbidden || r.Header.Get("Location") != "" {
		t.Fatalf("login without the CSRF cookie: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// Tampered CSRF token.
	good := form.Get("csrf")
	form.Set("csrf", strings.Repeat("0", len(good)))
	if r, _ := post(c, form); r.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered csrf: %d", r.StatusCode)
	}
	form.Set("csrf", good)
	// Tampered redirect_uri in the hidden fields: still never redirected.
	evil := url.Values{}
	for k, v := range form {
		evil[k] = v
	}
	evil.Set("redirect_uri", "https://evil.example/cb")
	if r, _ := post(c, evil); r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" {
		t.Fatalf("tampered redirect_uri: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// Success.
	r, _ = post(c, form)
	if r.StatusCode != http.StatusFound {
		t.Fatalf("login: %d", r.StatusCode)
	}
	loc, _ := url.Parse(r.Header.Get("Location"))
	if loc.Query().Get("state") != evilState || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s", loc)
	}
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	_, claims := jwtParts(t, tok.AccessToken)
	if str(t, claims, "email") != "bob@example.com" || str(t, claims, "organizationId") != "org-9" {
		t.Errorf("claims %v", claims)
	}
	// The session makes the next authorization silent; prompt=login forces the form.
	login(t, c, cfg)
	resp, err = c.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "login")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("prompt=login: %d, want the form", resp.StatusCode)
	}
	// prompt=none without a session: login_required at the client.
	loc = getRedirect(t, browser(t), cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")))
	if loc.Query().Get("error") != "login_required" {
		t.Errorf("prompt=none: %s", loc)
	}
}

func TestTokenEndpointErrorsAndClientAuth(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice"})
	cfg := oauthConfig(p)
	c := browser(t)

	// client_secret_post and client_secret_basic both work.
	for _, basic := range []bool{false, true} {
		code, f := login(t, c, cfg)
		r := postForm(t, p.TokenURL(), url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {f.verifier}, "redirect_uri": {testRedirect},
		}, basic)
		if r.status != 200 || r.body["access_token"] == nil || r.body["token_type"] != "Bearer" {
			t.Fatalf("basic=%v: %d %v", basic, r.status, r.body)
		}
		if r.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("headers %v", r.header)
		}
	}
	code, f := login(t, c, cfg)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {f.verifier}, "redirect_uri": {testRedirect}}
	r := postFormAs(t, p.TokenURL(), form, true, testClientID, "wrong")
	wantOAuthError(t, r, 401, "invalid_client")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	wantOAuthError(t, postFormAs(t, p.TokenURL(), form, false, "other-client", testSecret), 401, "invalid_client")
	// A failed client authentication did not burn the code.
	if r := postForm(t, p.TokenURL(), form, false); r.status != 200 {
		t.Fatalf("code after failed client auth: %d %v", r.status, r.body)
	}
	wantOAuthError(t, postForm(t, p.TokenURL(), url.Values{"grant_type": {"password"}}, false), 400, "unsupported_grant_type")
	wantOAuthError(t, postForm(t, p.TokenURL(), url.Values{}, false), 400, "invalid_request")
	wantOAuthError(t, postForm(t, p.TokenURL(), url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "code_verifier": {f.verifier}, "redirect_uri": {testRedirect}}, false), 400, "invalid_grant")
	wantOAuthError(t, postForm(t, p.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, true), 400, "invalid_grant")

	// JSON body: invalid_request.
	req, _ := http.NewRequest(http.MethodPost, p.TokenURL(), strings.NewReader(`{"grant_type":"authorization_code"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(testClientID, testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 400 || e["error"] != "invalid_request" {
		t.Errorf("JSON body: %d %v", resp.StatusCode, e)
	}
	// GET is not allowed.
	resp, err = http.Get(p.TokenURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET token: %d", resp.StatusCode)
	}
}

func TestUserInfoAndRevoke(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice"})
	cfg := oauthConfig(p)
	code, f := login(t, browser(t), cfg)
	tok := exchange(t, cfg, code, f)

	userinfo := func(bearer string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, p.UserInfoURL(), nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		m := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m, resp.Header
	}
	st, m, _ := userinfo(tok.AccessToken)
	if st != 200 || m["email"] != "alice@example.com" || m["organizationId"] != "org-1" || m["sub"] == nil {
		t.Fatalf("userinfo %d %v", st, m)
	}
	if st, _, h := userinfo(""); st != 401 || h.Get("WWW-Authenticate") == "" {
		t.Errorf("userinfo without token: %d", st)
	}
	forged, _ := p.Sign(nil, map[string]any{"sub": "x", "iss": p.Issuer(), "aud": p.ClientID(), "exp": time.Now().Add(time.Hour).Unix()})
	if st, _, _ := userinfo(forged); st != 401 {
		t.Errorf("userinfo accepted a token it never issued: %d", st)
	}
	// Revoke both tokens.
	for _, tk := range []string{tok.AccessToken, tok.RefreshToken, "unknown-token"} {
		if r := postForm(t, p.RevokeURL(), url.Values{"token": {tk}}, true); r.status != 200 {
			t.Fatalf("revoke: %d %v", r.status, r.body)
		}
	}
	if st, m, _ := userinfo(tok.AccessToken); st != 401 || m["error"] != "invalid_token" {
		t.Errorf("userinfo after revoke: %d %v", st, m)
	}
	wantOAuthError(t, refresh(t, p, tok.RefreshToken), 400, "invalid_grant")
	wantOAuthError(t, postFormAs(t, p.RevokeURL(), url.Values{"token": {"x"}}, true, testClientID, "bad"), 401, "invalid_client")
	if s := p.Stats(); s.Revoke != 4 || s.UserInfo != 4 {
		t.Errorf("Stats %+v", s)
	}
}

func TestJWKSDownAndSignHook(t *testing.T) {
	p, _ := newServer(t, Options{})
	p.SetJWKSDown(true)
	resp, err := http.Get(p.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("JWKS while down: %d", resp.StatusCode)
	}
	p.SetJWKSDown(false)
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, p.JWKSURL(), &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0]["kid"] != p.KeyID() || jwks.Keys[0]["alg"] != "RS256" || jwks.Keys[0]["use"] != "sig" {
		t.Fatalf("JWKS %v", jwks.Keys)
	}
	if s := p.Stats(); s.JWKS != 2 {
		t.Errorf("Stats.JWKS = %d", s.JWKS)
	}

	ctx := context.Background()
	ks := oidc.NewRemoteKeySet(ctx, p.JWKSURL())
	claims := map[string]any{"iss": p.Issuer(), "sub": "s", "aud": []string{p.ClientID(), "x"}}
	good, err := p.Sign(nil, claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.VerifySignature(ctx, good); err != nil {
		t.Fatalf("Sign(nil) does not verify: %v", err)
	}
	h, c := jwtParts(t, good)
	if str(t, h, "kid") != p.KeyID() || str(t, h, "typ") != "JWT" || string(c["aud"]) != `["`+p.ClientID()+`","x"]` {
		t.Errorf("header %v claims %v", h, c)
	}
	unknownKid, _ := p.Sign(map[string]any{"kid": "nope"}, claims)
	if h, _ := jwtParts(t, unknownKid); str(t, h, "kid") != "nope" {
		t.Error("kid override")
	}
	noKid, _ := p.Sign(map[string]any{"kid": nil, "typ": "at+jwt"}, claims)
	if h, _ := jwtParts(t, noKid); h["kid"] != nil || str(t, h, "typ") != "at+jwt" {
		t.Errorf("header %v", h)
	}
	none, _ := p.Sign(map[string]any{"alg": "none"}, claims)
	if !strings.HasSuffix(none, ".") {
		t.Errorf("alg none token has a signature: %s", none)
	}
	hs, _ := p.Sign(map[string]any{"alg": "HS256", "kid": nil}, claims)
	jws, err := jose.ParseSigned(hs, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify([]byte(testSecret)); err != nil {
		t.Errorf("Sign with alg HS256 is not HMAC with the client secret: %v", err)
	}
	if _, err := ks.VerifySignature(ctx, hs); err == nil {
		t.Error("an HS256 token verified against the RSA JWKS")
	}
}

func TestConcurrentUse(t *testing.T) {
	p, _ := newServer(t, Options{AutoLogin: "alice"})
	cfg := oauthConfig(p)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			code, f, err := tryLogin(c, cfg)
			if err != nil {
				t.Error(err)
				return
			}
			tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(f.verifier))
			if err != nil {
				t.Error(err)
				return
			}
			if r, err := tryPostForm(p.TokenURL(), refreshForm(tok.RefreshToken), false, testClientID, testSecret); err != nil || r.status != 200 {
				t.Errorf("refresh: %d %v", r.status, err)
			}
			if i%2 == 0 {
				if err := p.RotateKey(); err != nil {
					t.Error(err)
				}
			}
			_ = p.Stats()
		}()
	}
	wg.Wait()
	if s := p.Stats(); s.Authorize != 6 || s.Token["refresh_token"] != 6 {
		t.Errorf("Stats %+v", s)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// Pages are written out by hand (not html/template), so every value is
// attacked: it must come back from its attribute or element intact, and
// nothing it carries may become markup.
func TestPageEscapesEveryValue(t *testing.T) {
	const evil = `x"' onfocus=alert(1) ><script>alert(2)</script>&amp;`
	d := pageData{
		Title: evil + "t", Message: evil + "m", Error: evil + "e", Action: evil + "a",
		Hidden: []hiddenField{{Name: evil + "n", Value: evil + "v"}}, CSRF: evil + "c", Username: evil + "u",
		DemoHint: evil + "h", Issuer: evil + "i", Discovery: evil + "d",
	}
	attr := regexp.MustCompile(`\s([a-z-]+)="([^"]*)"`)
	for _, name := range []string{"login", "error", "loggedout", "index"} {
		page := page(name, d)
		if strings.Contains(page, "<script") {
			t.Errorf("%s page lets markup through:\n%s", name, page)
		}
		if !strings.Contains(page, Banner) || !strings.Contains(page, "<title>"+html.EscapeString(evil+"t")+" · ") {
			t.Errorf("%s page lost its banner or title:\n%s", name, page)
		}
		got := map[string]bool{}
		for _, m := range attr.FindAllStringSubmatch(page, -1) {
			got[m[1]+"="+html.UnescapeString(m[2])] = true
		}
		var want []string
		switch name {
		case "login":
			want = []string{"action=" + d.Action, "name=" + evil + "n", "value=" + evil + "v", "value=" + d.CSRF, "value=" + d.Username}
		case "index":
			want = []string{"href=" + d.Discovery}
		}
		for _, w := range want {
			if !got[w] {
				t.Errorf("%s page: no attribute %q", name, w)
			}
		}
		text := map[string][]string{"login": {d.Error, d.DemoHint}, "error": {d.Message}, "index": {d.Issuer, d.DemoHint}}[name]
		for _, v := range text {
			if !strings.Contains(page, ">"+html.EscapeString(v)+"<") {
				t.Errorf("%s page: text %q missing or not escaped", name, v)
			}
		}
	}
}
