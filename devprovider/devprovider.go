// Package devprovider is a small embedded OpenID Connect provider that serves
// Authentik's URL layout. It backs `authgate dev` (a zero-setup local demo
// with a plain login form) and authgate's in-process tests, which must prove
// that authgate works against Authentik's exact endpoints and token shapes.
//
// It is NOT a production identity provider: users and passwords come from
// Options, all state lives in memory, and every HTML page says so.
//
// Layout (BaseURL = public base, Slug = application slug):
//
//	issuer                 ${BaseURL}/application/o/${Slug}/   (trailing slash)
//	discovery              ${issuer}.well-known/openid-configuration
//	jwks_uri               ${issuer}jwks/
//	end_session_endpoint   ${issuer}end-session/
//	authorization_endpoint ${BaseURL}/application/o/authorize/
//	token_endpoint         ${BaseURL}/application/o/token/
//	userinfo_endpoint      ${BaseURL}/application/o/userinfo/
//	revocation_endpoint    ${BaseURL}/application/o/revoke/
//
// Every URL the provider publishes is built from BaseURL, never from the
// request's Host header, exactly like an Authentik configured with its public
// URL and reached over an internal one.
//
// Authentik behaviour reproduced on purpose: refresh tokens only for the
// offline_access scope; every refresh rotates the refresh token and revokes
// the old one at once (no grace period); optionally a refresh answer carries
// no new refresh token (Options.OmitRotatedRefresh); the access token is a
// JWT whose aud is the client id as a plain string; without a signing key
// (Alg "HS256") tokens are signed with HMAC-SHA256 keyed by the client secret
// and the JWKS is empty; end-session requires id_token_hint when a
// post_logout_redirect_uri is sent.
package devprovider

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Banner is shown on every HTML page the provider renders.
const Banner = "authgate development provider — not for production"

// Defaults applied by New.
const (
	DefaultSlug            = "authgate"
	DefaultClientID        = "authgate-dev"
	DefaultClientSecret    = "authgate-dev-client-secret-not-for-production"
	DefaultAccessTokenTTL  = 5 * time.Minute
	DefaultRefreshTokenTTL = 24 * time.Hour

	codeTTL    = 60 * time.Second
	sessionTTL = 12 * time.Hour
	csrfTTL    = 30 * time.Minute
)

// The scopes the provider knows. Unknown requested scopes are dropped from
// the grant, as Authentik does for scopes without a mapping.
var knownScopes = []string{"openid", "email", "profile", "organization", "offline_access"}

// User is one account of the provider.
type User struct {
	Subject        string // "sub"; derived from Username when empty
	Username       string
	Password       string
	Email          string
	Name           string
	OrganizationID string
	Groups         []string
}

// Options configures a Provider. Only BaseURL is required.
type Options struct {
	// BaseURL is the public base URL browsers use, e.g. http://127.0.0.1:9000.
	// It may carry a path prefix; it must not carry a query or fragment.
	BaseURL string
	// Slug is the Authentik application slug; default "authgate".
	Slug string
	// ClientID and ClientSecret identify the one confidential client.
	// Both client_secret_basic and client_secret_post are accepted.
	// Defaults: DefaultClientID / DefaultClientSecret.
	ClientID, ClientSecret string
	// RedirectURIs and PostLogoutRedirectURIs are matched exactly.
	RedirectURIs, PostLogoutRedirectURIs []string
	// Users; default one demo user alice/alice in group ecosire-admins,
	// organization "org-1".
	Users []User
	// AccessTokenTTL (also the ID token lifetime); default 5m.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL; default 24h. Every rotation starts a fresh lifetime.
	RefreshTokenTTL time.Duration
	// Alg is "RS256" (default, generated 2048-bit key), "ES256" (P-256) or
	// "HS256" (keyed with ClientSecret, no kid, empty JWKS — Authentik's
	// behaviour for a provider without a signing key).
	Alg string
	// OmitRotatedRefresh makes refresh_token grants answer without a new
	// refresh_token; the presented one then stays valid.
	OmitRotatedRefresh bool
	// AutoLogin, when set to a username, skips the login form and logs that
	// user in on every authorization request (tests).
	AutoLogin string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Stats counts requests per endpoint, whatever their outcome.
type Stats struct {
	Discovery  int
	JWKS       int
	Authorize  int
	EndSession int
	UserInfo   int
	Revoke     int
	// Token counts token endpoint requests by grant_type as sent
	// ("authorization_code", "refresh_token", ...; "" when missing).
	Token map[string]int
}

// TokenTotal is the number of token endpoint requests of any grant.
func (s Stats) TokenTotal() int {
	n := 0
	for _, v := range s.Token {
		n += v
	}
	return n
}

// Provider is the embedded OpenID provider. It is an http.Handler; all
// methods are safe for concurrent use.
type Provider struct {
	// Immutable after New.
	base         *url.URL
	basePath     string // BaseURL path without trailing slash ("" or "/prefix")
	baseURL      string // BaseURL without trailing slash
	issuer       string
	slug         string
	clientID     string
	clientSecret string
	redirects    map[string]bool
	postLogout   map[string]bool
	users        map[string]User // by username
	demoUsers    bool            // Options.Users was empty
	accessTTL    time.Duration
	refreshTTL   time.Duration
	alg          string
	omitRotated  bool
	now          func() time.Time
	csrfKey      []byte
	secureCookie bool

	mu        sync.Mutex
	key       *signingKey   // current signing key
	retired   []*signingKey // previous keys: only for verifying our own id_token_hints
	autoLogin string
	jwksDown  bool
	stats     Stats

	sessions  map[string]*session      // by cookie value
	codes     map[string]*authCode     // by code
	refreshes map[string]*refreshToken // by sha256(token)
	accesses  map[string]*accessToken  // by sha256(token)
	lastSweep time.Time
}

type session struct {
	username string
	sid      string
	authTime time.Time
	expires  time.Time
}

type authCode struct {
	clientID    string
	redirectURI string
	scopes      []string
	nonce       string
	challenge   string
	username    string
	sid         string
	authTime    time.Time
	expires     time.Time
	used        bool   // redeemed (kept as a tombstone to detect replay)
	family      string // grant family of the tokens issued for it
}

type refreshToken struct {
	clientID string
	username string
	scopes   []string
	nonce    string
	sid      string
	authTime time.Time
	expires  time.Time
	family   string
}

type accessToken struct {
	clientID string
	claims   map[string]any
	expires  time.Time
	family   string
	revoked  bool
}

// New validates opts, applies defaults and generates a signing key.
func New(opts Options) (*Provider, error) {
	var problems []string
	if opts.BaseURL == "" {
		problems = append(problems, "BaseURL is required")
	}
	base, err := url.Parse(opts.BaseURL)
	if opts.BaseURL != "" {
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("BaseURL %q does not parse: %v", opts.BaseURL, err))
		case base.Scheme != "http" && base.Scheme != "https":
			problems = append(problems, fmt.Sprintf("BaseURL %q must be an absolute http(s) URL", opts.BaseURL))
		case base.Host == "":
			problems = append(problems, fmt.Sprintf("BaseURL %q has no host", opts.BaseURL))
		case base.RawQuery != "" || base.Fragment != "" || base.User != nil:
			problems = append(problems, fmt.Sprintf("BaseURL %q must not carry a query, fragment or user info", opts.BaseURL))
		}
	}
	slug := opts.Slug
	if slug == "" {
		slug = DefaultSlug
	}
	if strings.ContainsAny(slug, "/?#% ") {
		problems = append(problems, fmt.Sprintf("Slug %q must be a single path segment", slug))
	}
	clientID, secret := opts.ClientID, opts.ClientSecret
	if clientID == "" {
		clientID = DefaultClientID
	}
	if secret == "" {
		secret = DefaultClientSecret
	}
	alg := opts.Alg
	if alg == "" {
		alg = "RS256"
	}
	switch alg {
	case "RS256", "ES256":
	case "HS256":
		if len(secret) < 32 {
			problems = append(problems, "Alg HS256 needs a ClientSecret of at least 32 bytes (HMAC keys under 256 bits are rejected by JOSE libraries)")
		}
	default:
		problems = append(problems, fmt.Sprintf("Alg %q is not one of RS256, ES256, HS256", opts.Alg))
	}
	if opts.AccessTokenTTL < 0 || opts.RefreshTokenTTL < 0 {
		problems = append(problems, "token TTLs must not be negative")
	}
	for _, u := range opts.RedirectURIs {
		if err := checkAbsoluteURI(u); err != nil {
			problems = append(problems, fmt.Sprintf("RedirectURIs: %v", err))
		}
	}
	for _, u := range opts.PostLogoutRedirectURIs {
		if err := checkAbsoluteURI(u); err != nil {
			problems = append(problems, fmt.Sprintf("PostLogoutRedirectURIs: %v", err))
		}
	}

	users := opts.Users
	demo := len(users) == 0
	if demo {
		users = []User{{
			Username:       "alice",
			Password:       "alice",
			Email:          "alice@example.com",
			Name:           "Alice Example",
			OrganizationID: "org-1",
			Groups:         []string{"ecosire-admins"},
		}}
	}
	byName := make(map[string]User, len(users))
	subs := map[string]bool{}
	for i, u := range users {
		if u.Username == "" {
			problems = append(problems, fmt.Sprintf("Users[%d] has no Username", i))
			continue
		}
		if _, dup := byName[u.Username]; dup {
			problems = append(problems, fmt.Sprintf("Users: duplicate username %q", u.Username))
			continue
		}
		if u.Subject == "" {
			sum := sha256.Sum256([]byte("authgate-devprovider:" + u.Username))
			u.Subject = hex.EncodeToString(sum[:])
		}
		if subs[u.Subject] {
			problems = append(problems, fmt.Sprintf("Users: duplicate subject %q", u.Subject))
		}
		subs[u.Subject] = true
		u.Groups = append([]string(nil), u.Groups...)
		byName[u.Username] = u
	}
	if opts.AutoLogin != "" {
		if _, ok := byName[opts.AutoLogin]; !ok {
			problems = append(problems, fmt.Sprintf("AutoLogin %q is not a configured user", opts.AutoLogin))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("devprovider: " + strings.Join(problems, "; "))
	}

	basePath := strings.TrimRight(base.EscapedPath(), "/")
	baseURL := base.Scheme + "://" + base.Host + basePath
	p := &Provider{
		base:         base,
		basePath:     basePath,
		baseURL:      baseURL,
		issuer:       baseURL + "/application/o/" + slug + "/",
		slug:         slug,
		clientID:     clientID,
		clientSecret: secret,
		redirects:    toSet(opts.RedirectURIs),
		postLogout:   toSet(opts.PostLogoutRedirectURIs),
		users:        byName,
		demoUsers:    demo,
		accessTTL:    opts.AccessTokenTTL,
		refreshTTL:   opts.RefreshTokenTTL,
		alg:          alg,
		omitRotated:  opts.OmitRotatedRefresh,
		now:          opts.Now,
		csrfKey:      make([]byte, 32),
		secureCookie: base.Scheme == "https",
		autoLogin:    opts.AutoLogin,
		sessions:     map[string]*session{},
		codes:        map[string]*authCode{},
		refreshes:    map[string]*refreshToken{},
		accesses:     map[string]*accessToken{},
		stats:        Stats{Token: map[string]int{}},
	}
	if p.accessTTL == 0 {
		p.accessTTL = DefaultAccessTokenTTL
	}
	if p.refreshTTL == 0 {
		p.refreshTTL = DefaultRefreshTokenTTL
	}
	if p.now == nil {
		p.now = time.Now
	}
	if _, err := rand.Read(p.csrfKey); err != nil {
		return nil, fmt.Errorf("devprovider: %w", err)
	}
	if p.key, err = newSigningKey(alg, secret); err != nil {
		return nil, fmt.Errorf("devprovider: %w", err)
	}
	return p, nil
}

func checkAbsoluteURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("%q must be an absolute URI without fragment", s)
	}
	return nil
}

func toSet(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// Issuer returns ${BaseURL}/application/o/${Slug}/ (with its trailing slash).
func (p *Provider) Issuer() string { return p.issuer }

// ClientID returns the effective client id (after defaults).
func (p *Provider) ClientID() string { return p.clientID }

// ClientSecret returns the effective client secret (after defaults).
func (p *Provider) ClientSecret() string { return p.clientSecret }

// Endpoint URLs, as published in discovery.
func (p *Provider) DiscoveryURL() string { return p.issuer + ".well-known/openid-configuration" }
func (p *Provider) JWKSURL() string      { return p.issuer + "jwks/" }
func (p *Provider) EndSessionURL() string {
	return p.issuer + "end-session/"
}
func (p *Provider) AuthorizeURL() string { return p.baseURL + "/application/o/authorize/" }
func (p *Provider) TokenURL() string     { return p.baseURL + "/application/o/token/" }
func (p *Provider) UserInfoURL() string  { return p.baseURL + "/application/o/userinfo/" }
func (p *Provider) RevokeURL() string    { return p.baseURL + "/application/o/revoke/" }

// SetAutoLogin makes authorization requests log username in without the
// form ("" restores the form). An unknown username makes authorization
// requests fail with an error page rather than fall back to the form.
func (p *Provider) SetAutoLogin(username string) {
	p.mu.Lock()
	p.autoLogin = username
	p.mu.Unlock()
}

// SetJWKSDown makes the JWKS endpoint answer 503 while down is true.
func (p *Provider) SetJWKSDown(down bool) {
	p.mu.Lock()
	p.jwksDown = down
	p.mu.Unlock()
}

// Stats returns a snapshot of the request counters.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Token = make(map[string]int, len(p.stats.Token))
	for k, v := range p.stats.Token {
		s.Token[k] = v
	}
	return s
}

// RotateKey replaces the signing key (and kid). The old key disappears from
// the JWKS at once. It fails in HS256 mode, where the key is the client
// secret.
func (p *Provider) RotateKey() error {
	if p.alg == "HS256" {
		return errors.New("devprovider: RotateKey: HS256 signs with the client secret; there is no key to rotate")
	}
	k, err := newSigningKey(p.alg, p.clientSecret)
	if err != nil {
		return fmt.Errorf("devprovider: RotateKey: %w", err)
	}
	p.mu.Lock()
	p.retired = append(p.retired, p.key)
	p.key = k
	p.mu.Unlock()
	return nil
}

// KeyID returns the kid of the current signing key ("" in HS256 mode).
func (p *Provider) KeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.key.kid
}

// ServeHTTP routes to the provider's endpoints by path. The paths are
// matched exactly (with their trailing slashes), as a client that builds
// URLs instead of reading discovery should be caught.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if !strings.HasPrefix(path, p.basePath+"/") {
		http.NotFound(w, r)
		return
	}
	rel := strings.TrimPrefix(path, p.basePath)
	perSlug := "/application/o/" + p.slug + "/"
	switch rel {
	case "/":
		p.handleIndex(w, r)
	case perSlug + ".well-known/openid-configuration":
		p.handleDiscovery(w, r)
	case perSlug + "jwks/":
		p.handleJWKS(w, r)
	case perSlug + "end-session/":
		p.handleEndSession(w, r)
	case "/application/o/authorize/":
		p.handleAuthorize(w, r)
	case "/application/o/token/":
		p.handleToken(w, r)
	case "/application/o/userinfo/":
		p.handleUserInfo(w, r)
	case "/application/o/revoke/":
		p.handleRevoke(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.stats.Discovery++
	p.mu.Unlock()
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	doc := map[string]any{
		"issuer":                                p.issuer,
		"authorization_endpoint":                p.AuthorizeURL(),
		"token_endpoint":                        p.TokenURL(),
		"userinfo_endpoint":                     p.UserInfoURL(),
		"end_session_endpoint":                  p.EndSessionURL(),
		"revocation_endpoint":                   p.RevokeURL(),
		"jwks_uri":                              p.JWKSURL(),
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{p.alg},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"scopes_supported":                      knownScopes,
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "azp",
			"email", "email_verified", "name", "given_name", "preferred_username", "nickname", "groups", "organizationId"},
		"code_challenge_methods_supported": []string{"S256"},
		"request_parameter_supported":      false,
		"claims_parameter_supported":       false,
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *Provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.stats.JWKS++
	down := p.jwksDown
	key := p.key
	p.mu.Unlock()
	if down {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "jwks unavailable (SetJWKSDown)", http.StatusServiceUnavailable)
		return
	}
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	keys := []any{}
	if jwk := key.publicJWK(); jwk != nil {
		keys = append(keys, jwk)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("devprovider: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// sweepLocked drops expired state at most once a minute. p.mu must be held.
func (p *Provider) sweepLocked(now time.Time) {
	if now.Sub(p.lastSweep) < time.Minute && now.After(p.lastSweep) {
		return
	}
	p.lastSweep = now
	for k, v := range p.sessions {
		if now.After(v.expires) {
			delete(p.sessions, k)
		}
	}
	for k, v := range p.codes {
		if now.After(v.expires.Add(p.refreshTTL)) || (!v.used && now.After(v.expires)) {
			delete(p.codes, k)
		}
	}
	for k, v := range p.refreshes {
		if now.After(v.expires) {
			delete(p.refreshes, k)
		}
	}
	for k, v := range p.accesses {
		if now.After(v.expires) {
			delete(p.accesses, k)
		}
	}
}
