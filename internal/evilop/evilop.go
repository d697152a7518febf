// Package evilop is an OpenID provider for attack tests: it serves discovery,
// JWKS, authorize and token endpoints like an honest provider, and lies on
// request. A Scenario rewrites what it signs (header, claims, key, signature),
// replaces an endpoint (a token endpoint that errors, hangs or answers
// garbage; a JWKS that is slow or huge) or edits the discovery document.
//
//	op := evilop.Start(t, evilop.Options{})
//	op.SetScenario(evilop.Scenario{IDToken: func(t *evilop.Token) { delete(t.Claims, "iat") }})
//	// drive authgate's login through op.URL: the callback must refuse
//
// The provider's issuer is its base URL (a generic provider, authgate's
// OIDC_ISSUER_URL); it listens on its own loopback address, which Down and
// Up close and reopen, so "the provider is unreachable" is a refused
// connection, not a simulated error.
//
// Scenarios reproduce the OpenID Foundation's RP conformance tests
// (rp-id_token-*, rp-key-rotation-op-sign-key, rp-nonce-invalid,
// rp-discovery-issuer-not-matching-config) and RFC 8725's attacks.
package evilop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fixed identities of the fixture.
const (
	ClientID = "authgate-attack"
	Subject  = "sub-alice"
)

// Key is a signing key of the provider (or of an attacker).
type Key struct {
	Kid, Alg string
	signer   crypto.Signer
}

// NewRSAKey returns a 2048-bit RS256 key. Generating one takes a while; tests
// share keys where they can.
func NewRSAKey(kid string) *Key {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return &Key{Kid: kid, Alg: "RS256", signer: k}
}

// NewECKey returns a P-256 ES256 key.
func NewECKey(kid string) *Key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return &Key{Kid: kid, Alg: "ES256", signer: k}
}

// WithKid returns the same key material under another kid.
func (k *Key) WithKid(kid string) *Key { return &Key{Kid: kid, Alg: k.Alg, signer: k.signer} }

// JWK is the public key as a JSON Web Key.
func (k *Key) JWK() map[string]any {
	m := map[string]any{"use": "sig", "alg": k.Alg}
	if k.Kid != "" {
		m["kid"] = k.Kid
	}
	switch pub := k.signer.Public().(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64(pub.N.Bytes())
		m["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		m["kty"] = "EC"
		m["crv"] = "P-256"
		m["x"] = b64(pub.X.FillBytes(make([]byte, 32)))
		m["y"] = b64(pub.Y.FillBytes(make([]byte, 32)))
	}
	return m
}

// PublicPEM is the public key as PEM: what an "HS256 keyed with the
// provider's public key" attack (RFC 8725 §2.1) uses as the MAC secret.
func (k *Key) PublicPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func (k *Key) sign(input []byte) []byte {
	sum := sha256.Sum256(input)
	switch s := k.signer.(type) {
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(rand.Reader, s, crypto.SHA256, sum[:])
		if err != nil {
			panic(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		r, ss, err := ecdsa.Sign(rand.Reader, s, sum[:])
		if err != nil {
			panic(err)
		}
		return append(r.FillBytes(make([]byte, 32)), ss.FillBytes(make([]byte, 32))...)
	}
	panic("evilop: unknown key type")
}

// Token is a JWT before it is encoded: scenarios edit it.
type Token struct {
	Header map[string]any
	Claims map[string]any
	// Key signs the token (its kid and alg are already in Header); nil
	// leaves the signature empty.
	Key *Key
	// Sign, when set, replaces the signature computation (HS256 with a
	// chosen secret, a signature by another key, garbage).
	Sign func(signingInput []byte) []byte
	// Raw, when set, replaces the whole encoded token.
	Raw string
}

// Encode serialises and signs t (compact JWS).
func (t *Token) Encode() string {
	if t.Raw != "" {
		return t.Raw
	}
	h, err := json.Marshal(t.Header)
	if err != nil {
		panic(err)
	}
	c, err := json.Marshal(t.Claims)
	if err != nil {
		panic(err)
	}
	input := b64(h) + "." + b64(c)
	var sig []byte
	switch {
	case t.Sign != nil:
		sig = t.Sign([]byte(input))
	case t.Key != nil:
		sig = t.Key.sign([]byte(input))
	}
	return input + "." + b64(sig)
}

// HS256 signs with a secret of the attacker's choosing.
func HS256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

// Scenario is how the provider misbehaves; the zero value is honest.
type Scenario struct {
	// IDToken and AccessToken edit each token the token endpoint issues,
	// after the defaults are filled in and before it is signed.
	IDToken, AccessToken func(*Token)
	// TokenEndpoint replaces the token endpoint (it may call Honest).
	TokenEndpoint http.HandlerFunc
	// JWKS replaces the JWKS endpoint.
	JWKS http.HandlerFunc
	// Discovery edits the discovery document.
	Discovery func(doc map[string]any)
}

// Options shape a provider.
type Options struct {
	// Now is the provider's clock; default time.Now.
	Now func() time.Time
	// Key signs tokens and is the only key published; default a new ES256 key.
	Key *Key
	// TokenTTL is the lifetime of issued tokens; default 5 minutes.
	TokenTTL time.Duration
}

// Provider is a running malicious provider.
type Provider struct {
	// URL is the base URL and the issuer.
	URL, Issuer  string
	ClientID     string
	ClientSecret string

	t    testing.TB
	now  func() time.Time
	ttl  time.Duration
	addr string

	mu          sync.Mutex
	scenario    Scenario
	signing     *Key
	published   []*Key
	redirectURI string
	codes       map[string]grant
	calls       map[string]int
	srv         *http.Server
}

type grant struct {
	nonce, challenge, redirectURI string
}

// Start runs a provider on a free loopback port until the test ends.
func Start(t testing.TB, o Options) *Provider {
	t.Helper()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Key == nil {
		o.Key = NewECKey("ec-1")
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 5 * time.Minute
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("evilop: %v", err)
	}
	p := &Provider{
		t: t, now: o.Now, ttl: o.TokenTTL, addr: l.Addr().String(),
		ClientID: ClientID, ClientSecret: randomString(24),
		signing: o.Key, published: []*Key{o.Key},
		codes: map[string]grant{}, calls: map[string]int{},
	}
	p.URL = "http://" + p.addr
	p.Issuer = p.URL
	p.serve(l)
	t.Cleanup(p.Down)
	return p
}

func (p *Provider) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.route), ReadHeaderTimeout: 5 * time.Second}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// Down closes the listener and every connection: the provider is
// unreachable (connections are refused) until Up.
func (p *Provider) Down() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up listens again on the same address.
func (p *Provider) Up() {
	p.t.Helper()
	var l net.Listener
	var err error
	for range 50 {
		if l, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(l)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("evilop: listen again on %s: %v", p.addr, err)
}

// SetScenario replaces the current misbehaviour.
func (p *Provider) SetScenario(s Scenario) {
	p.mu.Lock()
	p.scenario = s
	p.mu.Unlock()
}

// SetKeys makes signing the key that signs tokens and published the JWKS.
func (p *Provider) SetKeys(signing *Key, published ...*Key) {
	p.mu.Lock()
	p.signing, p.published = signing, published
	p.mu.Unlock()
}

// SetRedirectURI registers the client's redirect URI; authorize refuses any
// other (an honest provider's open-redirect protection).
func (p *Provider) SetRedirectURI(u string) {
	p.mu.Lock()
	p.redirectURI = u
	p.mu.Unlock()
}

// Calls returns how often an endpoint ("discovery", "jwks", "authorize",
// "token") was called.
func (p *Provider) Calls(endpoint string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[endpoint]
}

// Paths of the endpoints.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/jwks"
	AuthorizePath = "/authorize"
	TokenPath     = "/token"
	EndSession    = "/end-session"
)

func (p *Provider) route(w http.ResponseWriter, r *http.Request) {
	name := map[string]string{DiscoveryPath: "discovery", JWKSPath: "jwks", AuthorizePath: "authorize", TokenPath: "token"}[r.URL.Path]
	p.mu.Lock()
	p.calls[name]++
	sc := p.scenario
	p.mu.Unlock()
	switch name {
	case "discovery":
		p.discovery(w, sc)
	case "jwks":
		if sc.JWKS != nil {
			sc.JWKS(w, r)
			return
		}
		p.ServeJWKS(w, r)
	case "authorize":
		p.authorize(w, r)
	case "token":
		if sc.TokenEndpoint != nil {
			sc.TokenEndpoint(w, r)
			return
		}
		p.Honest(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (p *Provider) discovery(w http.ResponseWriter, sc Scenario) {
	doc := map[string]any{
		"issuer":                                p.Issuer,
		"authorization_endpoint":                p.URL + AuthorizePath,
		"token_endpoint":                        p.URL + TokenPath,
		"jwks_uri":                              p.URL + JWKSPath,
		"end_session_endpoint":                  p.URL + EndSession,
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
	}
	if sc.Discovery != nil {
		sc.Discovery(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

// ServeJWKS answers with the published keys (what an honest JWKS endpoint does).
func (p *Provider) ServeJWKS(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	keys := make([]map[string]any, 0, len(p.published))
	for _, k := range p.published {
		keys = append(keys, k.JWK())
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// authorize logs the user in at once and sends the browser back with a code.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	registered := p.redirectURI
	p.mu.Unlock()
	ru := q.Get("redirect_uri")
	if q.Get("client_id") != p.ClientID || ru == "" || (registered != "" && ru != registered) {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "code flow with PKCE S256 only", http.StatusBadRequest)
		return
	}
	code := randomString(24)
	p.mu.Lock()
	p.codes[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirectURI: ru}
	p.mu.Unlock()
	back, err := url.Parse(ru)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// Honest is the token endpoint of an honest provider (authorization_code
// with PKCE; refresh_token), with the scenario's token edits applied.
// Scenarios that replace the endpoint may call it.
func (p *Provider) Honest(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != p.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	var nonce string
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		p.mu.Lock()
		g, ok := p.codes[code]
		delete(p.codes, code)
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || g.redirectURI != r.PostForm.Get("redirect_uri") || b64(sum[:]) != g.challenge {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		nonce = g.nonce
	case "refresh_token":
		if r.PostForm.Get("refresh_token") == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	p.mu.Lock()
	sc := p.scenario
	p.mu.Unlock()
	id2 := p.NewToken(nil)
	if nonce != "" {
		id2.Claims["nonce"] = nonce
	}
	at := p.NewToken(map[string]any{"email": "alice@example.com", "name": "Alice", "groups": []string{"staff"}})
	if sc.IDToken != nil {
		sc.IDToken(id2)
	}
	if sc.AccessToken != nil {
		sc.AccessToken(at)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  at.Encode(),
		"token_type":    "Bearer",
		"expires_in":    int(p.ttl / time.Second),
		"id_token":      id2.Encode(),
		"refresh_token": randomString(24),
	})
}

// NewToken returns a token for the fixture's user, signed by the current
// signing key unless edited: iss, sub, aud, iat, exp, plus extra claims.
func (p *Provider) NewToken(extra map[string]any) *Token {
	p.mu.Lock()
	key := p.signing
	p.mu.Unlock()
	now := p.now()
	c := map[string]any{
		"iss": p.Issuer,
		"sub": Subject,
		"aud": p.ClientID,
		"iat": now.Unix(),
		"exp": now.Add(p.ttl).Unix(),
	}
	for k, v := range extra {
		c[k] = v
	}
	h := map[string]any{"typ": "JWT", "alg": key.Alg}
	if key.Kid != "" {
		h["kid"] = key.Kid
	}
	return &Token{Header: h, Claims: c, Key: key}
}

// Mint returns an encoded token after edit (a bearer token for requests).
func (p *Provider) Mint(edit func(*Token)) string {
	t := p.NewToken(map[string]any{"email": "alice@example.com"})
	if edit != nil {
		edit(t)
	}
	return t.Encode()
}

// Rewrite returns a token endpoint that answers like Honest, then lets edit
// change the JSON response (drop the id_token, empty the access token...).
func (p *Provider) Rewrite(edit func(body map[string]any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		p.Honest(rec, r)
		var body map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			writeJSON(w, rec.Code, json.RawMessage(rec.Body.Bytes()))
			return
		}
		edit(body)
		writeJSON(w, http.StatusOK, body)
	}
}

// Hang returns a handler that answers only when the request ends (the client
// gives up) or release is closed.
func Hang(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

// Status returns a handler answering status with body and content type.
func Status(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// Huge returns a handler that streams n bytes of filler after prefix, and
// records how many bytes the client actually took in *sent.
func Huge(prefix string, n int, sent *Counter) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat("A", 32<<10))
		total, err := w.Write([]byte(prefix))
		for err == nil && total < n {
			var k int
			k, err = w.Write(chunk)
			total += k
		}
		sent.Add(total)
	}
}

// Counter is a concurrency-safe byte counter.
type Counter struct {
	mu sync.Mutex
	n  int
}

// Add adds n.
func (c *Counter) Add(n int) {
	c.mu.Lock()
	c.n += n
	c.mu.Unlock()
}

// Load returns the count.
func (c *Counter) Load() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b64(b)
}
