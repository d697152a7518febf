package tokens

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ---- test fixtures: keys, signing, a JWKS server and a clock ----

const (
	testIssuer = "https://auth.example.com/application/o/app/"
	testClient = "client-123"
	testSecret = "the-client-secret-of-this-app" // HS256Secret when switched on
)

var (
	testT0 = time.Unix(1_700_000_000, 0).UTC()
	b64    = base64.RawURLEncoding
)

type testKeys struct {
	rsaA, rsaB, rsaAttacker *rsa.PrivateKey
	rsaWeak                 *rsa.PrivateKey // 1024 bits: below the 2048 floor
	p256, p256Attacker      *ecdsa.PrivateKey
	p384, p521              *ecdsa.PrivateKey
	ed, edAttacker          ed25519.PrivateKey
}

// keys are generated once per test binary: RSA generation dominates test time.
var keysOnce = sync.OnceValue(func() *testKeys {
	must := func(k *rsa.PrivateKey, err error) *rsa.PrivateKey {
		if err != nil {
			panic(err)
		}
		return k
	}
	ec := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	ed := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	return &testKeys{
		rsaA:         must(rsa.GenerateKey(rand.Reader, 2048)),
		rsaB:         must(rsa.GenerateKey(rand.Reader, 2048)),
		rsaAttacker:  must(rsa.GenerateKey(rand.Reader, 2048)),
		rsaWeak:      must(rsa.GenerateKey(rand.Reader, 1024)),
		p256:         ec(elliptic.P256()),
		p256Attacker: ec(elliptic.P256()),
		p384:         ec(elliptic.P384()),
		p521:         ec(elliptic.P521()),
		ed:           ed(),
		edAttacker:   ed(),
	}
})

// signJWS builds a compact JWS by hand so tests control every byte of the
// header. key is *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey or
// []byte (HMAC). payload is marshalled unless it is already []byte or string.
func signJWS(t testing.TB, hdr map[string]any, payload any, key any) string {
	t.Helper()
	hb, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var pb []byte
	switch p := payload.(type) {
	case []byte:
		pb = p
	case string:
		pb = []byte(p)
	default:
		if pb, err = json.Marshal(p); err != nil {
			t.Fatal(err)
		}
	}
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb)
	alg, _ := hdr["alg"].(string)
	sig := rawSign(t, alg, []byte(input), key)
	return input + "." + b64.EncodeToString(sig)
}

func rawSign(t testing.TB, alg string, input []byte, key any) []byte {
	t.Helper()
	hashFor := func(a string) (crypto.Hash, func() hash.Hash) {
		switch a[2:] {
		case "384":
			return crypto.SHA384, sha512.New384
		case "512":
			return crypto.SHA512, sha512.New
		default:
			return crypto.SHA256, sha256.New
		}
	}
	var (
		sig []byte
		err error
	)
	switch k := key.(type) {
	case []byte:
		_, hf := hashFor(alg)
		m := hmac.New(hf, k)
		m.Write(input)
		sig = m.Sum(nil)
	case *rsa.PrivateKey:
		h, hf := hashFor(alg)
		d := hf()
		d.Write(input)
		if strings.HasPrefix(alg, "PS") {
			sig, err = rsa.SignPSS(rand.Reader, k, h, d.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, d.Sum(nil))
		}
	case *ecdsa.PrivateKey:
		_, hf := hashFor(alg)
		d := hf()
		d.Write(input)
		var r, s *big.Int
		if r, s, err = ecdsa.Sign(rand.Reader, k, d.Sum(nil)); err == nil {
			n := (k.Curve.Params().BitSize + 7) / 8
			sig = make([]byte, 2*n)
			r.FillBytes(sig[:n])
			s.FillBytes(sig[n:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, input)
	default:
		t.Fatalf("rawSign: unsupported key %T", key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// publicJWK returns the public JWK of key (or of a private key's public half).
// extra adds or overrides members ("alg", "use", ...).
func publicJWK(kid string, key any, extra map[string]any) map[string]any {
	m := map[string]any{}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return publicJWK(kid, &k.PublicKey, extra)
	case *ecdsa.PrivateKey:
		return publicJWK(kid, &k.PublicKey, extra)
	case ed25519.PrivateKey:
		return publicJWK(kid, k.Public(), extra)
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64.EncodeToString(k.N.Bytes())
		m["e"] = b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		ek, err := k.ECDH()
		if err != nil {
			panic(err)
		}
		raw := ek.Bytes() // 0x04 || X || Y
		m["kty"] = "EC"
		m["crv"] = k.Curve.Params().Name
		m["x"] = b64.EncodeToString(raw[1 : 1+n])
		m["y"] = b64.EncodeToString(raw[1+n:])
	case ed25519.PublicKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = b64.EncodeToString(k)
	default:
		panic(fmt.Sprintf("publicJWK: %T", key))
	}
	if kid != "" {
		m["kid"] = kid
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// jwksServer serves a JWKS document that tests can swap, break and count.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	status int
	body   []byte
	delay  time.Duration
}

func newJWKSServer(t testing.TB, keys ...map[string]any) *jwksServer {
	s := &jwksServer{status: http.StatusOK}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body, delay := s.status, s.body, s.delay
		s.mu.Unlock()
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...map[string]any) {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	s.setBody(b)
}

func (s *jwksServer) setBody(b []byte) {
	s.mu.Lock()
	s.body = b
	s.status = http.StatusOK
	s.mu.Unlock()
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	s.status = code
	s.mu.Unlock()
}

func (s *jwksServer) setDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// clock is an injectable, concurrency-safe time source.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type fixture struct {
	srv   *jwksServer
	clock *clock
	ks    *KeySet
	v     *Verifier
}

// newFixture wires a verifier to a fresh JWKS server. cfg's zero fields get
// test defaults (issuer, client, 30 s leeway, the fixture's clock).
func newFixture(t testing.TB, cfg Config, jwks ...map[string]any) *fixture {
	t.Helper()
	f := &fixture{srv: newJWKSServer(t, jwks...), clock: newClock(testT0)}
	f.ks = NewKeySet(f.srv.URL, KeySetOptions{Client: f.srv.Client(), Now: f.clock.Now})
	if cfg.Issuer == "" {
		cfg.Issuer = testIssuer
	}
	if cfg.ClientID == "" {
		cfg.ClientID = testClient
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = f.clock.Now
	}
	f.v = NewVerifier(cfg, f.ks)
	return f
}

// del marks a claim for removal in with.
type delT struct{}

var del = delT{}

func claimsAt(now time.Time, kv ...any) map[string]any {
	m := map[string]any{
		"iss": testIssuer,
		"aud": testClient,
		"sub": "user-1",
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(),
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == del {
			delete(m, kv[i].(string))
			continue
		}
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func claims(kv ...any) map[string]any { return claimsAt(testT0, kv...) }

func hdr(alg, kid string, kv ...any) map[string]any {
	m := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		m["kid"] = kid
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// unsigned returns header.payload. with the given signature segment.
func unsigned(t testing.TB, h map[string]any, payload any, sig string) string {
	t.Helper()
	hb, _ := json.Marshal(h)
	pb, _ := json.Marshal(payload)
	return b64.EncodeToString(hb) + "." + b64.EncodeToString(pb) + "." + sig
}

// standardJWKS is the provider's key set used by the table tests: one key of
// each kind, plus keys that must never be used.
func standardJWKS(k *testKeys) []map[string]any {
	return []map[string]any{
		publicJWK("rsa-1", k.rsaA, nil),
		publicJWK("rsa-384only", k.rsaB, map[string]any{"alg": "RS384"}),
		publicJWK("rsa-enc", k.rsaB, map[string]any{"use": "enc"}),
		publicJWK("rsa-weak", k.rsaWeak, nil),
		publicJWK("ec-256", k.p256, nil),
		publicJWK("ec-384", k.p384, nil),
		publicJWK("ec-521", k.p521, nil),
		publicJWK("ed-1", k.ed, nil),
		// A symmetric key in a public document is no secret (RFC 8725 §3.1).
		{"kty": "oct", "kid": "oct-1", "k": b64.EncodeToString(octSecret)},
	}
}

var octSecret = []byte("a-shared-secret-published-in-the-jwks!!")

func rsaPublicPEM(t testing.TB, k *rsa.PrivateKey) (pemBytes, der []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), der
}

// ---- the tests ----

func TestVerifyAcceptsValidTokens(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1}, standardJWKS(k)...)
	tests := []struct {
		name string
		tok  string
	}{
		{"RS256", signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA)},
		{"RS384", signJWS(t, hdr("RS384", "rsa-1"), claims(), k.rsaA)},
		{"RS512", signJWS(t, hdr("RS512", "rsa-1"), claims(), k.rsaA)},
		{"PS256", signJWS(t, hdr("PS256", "rsa-1"), claims(), k.rsaA)},
		{"PS512", signJWS(t, hdr("PS512", "rsa-1"), claims(), k.rsaA)},
		{"ES256", signJWS(t, hdr("ES256", "ec-256"), claims(), k.p256)},
		{"ES384", signJWS(t, hdr("ES384", "ec-384"), claims(), k.p384)},
		{"ES512", signJWS(t, hdr("ES512", "ec-521"), claims(), k.p521)},
		{"EdDSA", signJWS(t, hdr("EdDSA", "ed-1"), claims(), k.ed)},
		// Positive control for the JWK-alg test below: the RS384-only key works for RS384.
		{"RS384 with alg-restricted JWK", signJWS(t, hdr("RS384", "rsa-384only"), claims(), k.rsaB)},
		{"typ at+jwt", signJWS(t, hdr("RS256", "rsa-1", "typ", "at+jwt"), claims(), k.rsaA)},
		{"aud array", signJWS(t, hdr("ES256", "ec-256"), claims("aud", []string{"other", testClient}), k.p256)},
		{"exp within leeway", signJWS(t, hdr("ES256", "ec-256"), claims("exp", testT0.Add(-29*time.Second).Unix()), k.p256)},
		{"nbf within leeway", signJWS(t, hdr("ES256", "ec-256"), claims("nbf", testT0.Add(29*time.Second).Unix()), k.p256)},
		{"iat within leeway", signJWS(t, hdr("ES256", "ec-256"), claims("iat", testT0.Add(29*time.Second).Unix()), k.p256)},
		{"nbf and iat in the past", signJWS(t, hdr("ES256", "ec-256"), claims("nbf", testT0.Add(-time.Hour).Unix(), "iat", testT0.Add(-time.Hour).Unix()), k.p256)},
		{"iat absent", signJWS(t, hdr("ES256", "ec-256"), claims("iat", del), k.p256)},
		{"unknown claims ignored", signJWS(t, hdr("ES256", "ec-256"), claims("x-custom", map[string]any{"a": 1}), k.p256)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.v.Verify(context.Background(), tc.tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "user-1" || c.Issuer != testIssuer {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func TestVerifyParsesClaims(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{}, standardJWKS(k)...)
	tests := []struct {
		name   string
		claims map[string]any
		check  func(t *testing.T, c *Claims)
	}{
		{"aud string", claims("aud", testClient), func(t *testing.T, c *Claims) {
			if len(c.Audience) != 1 || c.Audience[0] != testClient {
				t.Errorf("aud = %q", c.Audience)
			}
		}},
		{"aud array", claims("aud", []string{"a", testClient, "b"}), func(t *testing.T, c *Claims) {
			if strings.Join(c.Audience, ",") != "a,"+testClient+",b" {
				t.Errorf("aud = %q", c.Audience)
			}
		}},
		{"groups list", claims("groups", []string{"admins", "dev ops"}), func(t *testing.T, c *Claims) {
			if strings.Join(c.Groups, "|") != "admins|dev ops" {
				t.Errorf("groups = %q", c.Groups)
			}
		}},
		{"groups single string", claims("groups", "admins"), func(t *testing.T, c *Claims) {
			if len(c.Groups) != 1 || c.Groups[0] != "admins" {
				t.Errorf("groups = %q", c.Groups)
			}
		}},
		{"groups absent", claims(), func(t *testing.T, c *Claims) {
			if c.Groups != nil {
				t.Errorf("groups = %q", c.Groups)
			}
		}},
		{"identity claims", claims("email", "a@example.com", "name", "Ann", "preferred_username", "ann",
			"organizationId", "org-9", "sid", "s-1", "nonce", "n-1", "azp", testClient), func(t *testing.T, c *Claims) {
			got := []string{c.Email, c.Name, c.Username, c.OrganizationID, c.SessionID, c.Nonce, c.AuthorizedParty}
			want := []string{"a@example.com", "Ann", "ann", "org-9", "s-1", "n-1", testClient}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("got %q, want %q", got, want)
			}
		}},
		{"fractional exp", claims("exp", 1_700_003_600.75, "iat", 1_699_999_999.5), func(t *testing.T, c *Claims) {
			if want := time.Unix(1_700_003_600, 750_000_000); !c.Expiry.Equal(want) || !c.Expiry.Set {
				t.Errorf("exp = %v, want %v", c.Expiry.Time, want)
			}
			if want := time.Unix(1_699_999_999, 500_000_000); !c.IssuedAt.Equal(want) {
				t.Errorf("iat = %v, want %v", c.IssuedAt.Time, want)
			}
			if c.NotBefore.Set {
				t.Error("nbf reported set")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.v.Verify(context.Background(), signJWS(t, hdr("RS256", "rsa-1"), tc.claims, k.rsaA))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			tc.check(t, c)
		})
	}
}

// TestFractionalExpiry proves sub-second exp is honoured, not truncated.
func TestFractionalExpiry(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{Leeway: time.Nanosecond}, standardJWKS(k)...) // Leeway 0 would default to 30s in newFixture
	exp := float64(testT0.Unix()) + 0.75
	tok := signJWS(t, hdr("EdDSA", "ed-1"), claims("exp", exp), k.ed)
	f.clock.Advance(500 * time.Millisecond)
	if _, err := f.v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("at exp-0.25s: %v", err)
	}
	f.clock.Advance(300 * time.Millisecond)
	if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("at exp+0.05s: err = %v, want ErrExpired", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	k := keysOnce()
	pemKey, derKey := rsaPublicPEM(t, k.rsaA)
	fakeSig := b64.EncodeToString([]byte("not a signature"))
	now := testT0

	// jku/x5u point at a server that counts: the verifier must never fetch them.
	var tokenURLHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenURLHits.Add(1)
		b, _ := json.Marshal(map[string]any{"keys": []any{publicJWK("rsa-1", k.rsaAttacker, nil)}})
		w.Write(b)
	}))
	defer evil.Close()

	valid := signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA)
	parts := strings.Split(valid, ".")

	type tc struct {
		name string
		cfg  func(*Config)
		tok  string
		want error
	}
	tests := []tc{
		// RFC 8725 §2.1 / §3.1: "none" in any spelling, with and without a signature part.
		{name: "alg none no signature", tok: unsigned(t, hdr("none", ""), claims(), ""), want: ErrMalformed},
		{name: "alg none no signature no dot", tok: strings.TrimSuffix(unsigned(t, hdr("none", ""), claims(), ""), "."), want: ErrMalformed},
		{name: "alg none with signature", tok: unsigned(t, hdr("none", ""), claims(), fakeSig), want: ErrAlgorithm},
		{name: "alg None", tok: unsigned(t, hdr("None", ""), claims(), fakeSig), want: ErrAlgorithm},
		{name: "alg NONE", tok: unsigned(t, hdr("NONE", ""), claims(), fakeSig), want: ErrAlgorithm},
		{name: "alg nOnE", tok: unsigned(t, hdr("nOnE", ""), claims(), fakeSig), want: ErrAlgorithm},
		{name: "alg nOnE no signature", tok: unsigned(t, hdr("nOnE", "rsa-1"), claims(), ""), want: ErrMalformed},
		{name: "alg none even if configured", cfg: func(c *Config) { c.Algorithms = []string{"none", "None", "RS256"} },
			tok: unsigned(t, hdr("none", ""), claims(), fakeSig), want: ErrAlgorithm},
		{name: "alg missing", tok: unsigned(t, map[string]any{"kid": "rsa-1"}, claims(), parts[2]), want: ErrAlgorithm},
		{name: "alg not a string", tok: unsigned(t, map[string]any{"alg": 256, "kid": "rsa-1"}, claims(), parts[2]), want: ErrMalformed},
		{name: "alg outside configured list", cfg: func(c *Config) { c.Algorithms = []string{"ES256"} },
			tok: valid, want: ErrAlgorithm},

		// RFC 8725 §2.1: HMAC keyed with the RSA public key (algorithm confusion).
		{name: "HS256 keyed with RSA PEM, secret unset", tok: signJWS(t, hdr("HS256", "rsa-1"), claims(), pemKey), want: ErrAlgorithm},
		{name: "HS256 keyed with RSA DER, secret unset", tok: signJWS(t, hdr("HS256", "rsa-1"), claims(), derKey), want: ErrAlgorithm},
		{name: "HS256 keyed with RSA PEM, no kid", tok: signJWS(t, hdr("HS256", ""), claims(), pemKey), want: ErrAlgorithm},
		{name: "HS256 keyed with RSA PEM, secret set", cfg: hs256, tok: signJWS(t, hdr("HS256", "rsa-1"), claims(), pemKey), want: ErrSignature},
		{name: "HS256 keyed with RSA DER, secret set", cfg: hs256, tok: signJWS(t, hdr("HS256", "rsa-1"), claims(), derKey), want: ErrSignature},
		{name: "HS384 keyed with RSA PEM, secret set", cfg: hs256, tok: signJWS(t, hdr("HS384", "rsa-1"), claims(), pemKey), want: ErrAlgorithm},
		{name: "HS512 keyed with secret", cfg: hs256, tok: signJWS(t, hdr("HS512", ""), claims(), []byte(testSecret)), want: ErrAlgorithm},
		{name: "HS256 in configured list without secret", cfg: func(c *Config) { c.Algorithms = []string{"HS256", "RS256"} },
			tok: signJWS(t, hdr("HS256", ""), claims(), []byte(testSecret)), want: ErrAlgorithm},
		{name: "HS256 keyed with empty secret", tok: signJWS(t, hdr("HS256", ""), claims(), []byte{}), want: ErrAlgorithm},

		// A symmetric key inside the JWKS is never used.
		{name: "HS256 with JWKS oct key", tok: signJWS(t, hdr("HS256", "oct-1"), claims(), octSecret), want: ErrAlgorithm},
		{name: "HS256 with JWKS oct key, secret set", cfg: hs256, tok: signJWS(t, hdr("HS256", "oct-1"), claims(), octSecret), want: ErrSignature},
		{name: "RS256 naming the oct key", tok: unsigned(t, hdr("RS256", "oct-1"), claims(), b64.EncodeToString(rawSign(t, "HS256", []byte("x"), octSecret))), want: ErrUnknownKey},

		// RFC 8725 §3.10: keys named or carried by the token.
		{name: "jku", tok: signJWS(t, hdr("RS256", "rsa-1", "jku", evil.URL+"/jwks"), claims(), k.rsaA), want: ErrHeader},
		{name: "jku attacker signed", tok: signJWS(t, hdr("RS256", "rsa-1", "jku", evil.URL+"/jwks"), claims(), k.rsaAttacker), want: ErrHeader},
		{name: "jku null", tok: signJWS(t, hdr("RS256", "rsa-1", "jku", nil), claims(), k.rsaA), want: ErrHeader},
		{name: "x5u", tok: signJWS(t, hdr("RS256", "rsa-1", "x5u", evil.URL+"/cert.pem"), claims(), k.rsaA), want: ErrHeader},
		{name: "jwk embedded attacker key", tok: signJWS(t, hdr("RS256", "", "jwk", publicJWK("", k.rsaAttacker, nil)), claims(), k.rsaAttacker), want: ErrHeader},
		{name: "jwk embedded provider key", tok: signJWS(t, hdr("RS256", "rsa-1", "jwk", publicJWK("rsa-1", k.rsaA, nil)), claims(), k.rsaA), want: ErrHeader},
		{name: "x5c", tok: signJWS(t, hdr("ES256", "ec-256", "x5c", []string{"MIIBszCCAVmgAwIBAgIU"}), claims(), k.p256), want: ErrHeader},

		// RFC 7515 §4.1.11 crit; RFC 7797 b64.
		{name: "crit unknown", tok: signJWS(t, hdr("RS256", "rsa-1", "crit", []string{"exp"}, "exp", 1), claims(), k.rsaA), want: ErrHeader},
		{name: "crit empty", tok: signJWS(t, hdr("RS256", "rsa-1", "crit", []string{}), claims(), k.rsaA), want: ErrHeader},
		{name: "b64 false with crit", tok: signJWS(t, hdr("RS256", "rsa-1", "crit", []string{"b64"}, "b64", false), claims(), k.rsaA), want: ErrHeader},
		{name: "b64 false without crit", tok: signJWS(t, hdr("RS256", "rsa-1", "b64", false), claims(), k.rsaA), want: ErrHeader},

		// Serialization: compact only, exactly one signature.
		{name: "JSON general serialization, two signatures", tok: jsonSerialization(t, valid, true), want: ErrMalformed},
		{name: "JSON flattened serialization", tok: jsonSerialization(t, valid, false), want: ErrMalformed},
		{name: "two signature segments", tok: valid + "." + parts[2], want: ErrMalformed},
		{name: "JWE-shaped five segments", tok: parts[0] + ".." + parts[1] + "." + parts[2] + ".tag", want: ErrMalformed},
		{name: "two segments", tok: parts[0] + "." + parts[1], want: ErrMalformed},
		{name: "empty header segment", tok: "." + parts[1] + "." + parts[2], want: ErrMalformed},
		{name: "empty", tok: "", want: ErrMalformed},
		{name: "padded base64", tok: parts[0] + "=." + parts[1] + "." + parts[2], want: ErrMalformed},
		{name: "std base64 alphabet", tok: parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+", want: ErrMalformed},
		{name: "header not JSON", tok: b64.EncodeToString([]byte("RS256")) + "." + parts[1] + "." + parts[2], want: ErrMalformed},
		{name: "header JSON array", tok: b64.EncodeToString([]byte(`["RS256"]`)) + "." + parts[1] + "." + parts[2], want: ErrMalformed},
		{name: "payload not JSON", tok: signJWS(t, hdr("RS256", "rsa-1"), "not json", k.rsaA), want: ErrMalformed},
		{name: "payload trailing data", tok: signJWS(t, hdr("RS256", "rsa-1"), mustJSON(claims())+" {}", k.rsaA), want: ErrMalformed},
		{name: "non-canonical base64 signature", tok: flipUnusedBits(valid), want: ErrMalformed},

		// Size bound before any decoding.
		{name: "oversized garbage", tok: strings.Repeat("!", 16<<10+1), want: ErrTooLarge},
		{name: "oversized valid", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("pad", strings.Repeat("x", 16<<10)), k.rsaA), want: ErrTooLarge},
		{name: "oversized with small bound", cfg: func(c *Config) { c.MaxTokenBytes = len(valid) - 1 }, tok: valid, want: ErrTooLarge},

		// Signatures.
		{name: "attacker key with provider kid", tok: signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaAttacker), want: ErrSignature},
		{name: "attacker EC key with provider kid", tok: signJWS(t, hdr("ES256", "ec-256"), claims(), k.p256Attacker), want: ErrSignature},
		{name: "attacker Ed25519 key with provider kid", tok: signJWS(t, hdr("EdDSA", "ed-1"), claims(), k.edAttacker), want: ErrSignature},
		{name: "payload swapped", tok: parts[0] + "." + b64.EncodeToString([]byte(mustJSON(claims("sub", "admin")))) + "." + parts[2], want: ErrSignature},
		{name: "PS256 header over RS256 signature", tok: resign(t, hdr("PS256", "rsa-1"), claims(), "RS256", k.rsaA), want: ErrSignature},
		{name: "RS256 header, PS256 signature", tok: resign(t, hdr("RS256", "rsa-1"), claims(), "PS256", k.rsaA), want: ErrSignature},
		{name: "ES256 header, ES256 signature by P-256 key over SHA-384", tok: resign(t, hdr("ES256", "ec-256"), claims(), "ES384", k.p256), want: ErrSignature},
		{name: "signature one byte short", tok: parts[0] + "." + parts[1] + "." + b64.EncodeToString(mustB64(parts[2])[1:]), want: ErrSignature},
		{name: "signature empty bytes appended", tok: parts[0] + "." + parts[1] + "." + b64.EncodeToString(append(mustB64(parts[2]), 0)), want: ErrSignature},

		// Keys that exist but must not be used.
		{name: "RSA key under 2048 bits", tok: signJWS(t, hdr("RS256", "rsa-weak"), claims(), k.rsaWeak), want: ErrUnknownKey},
		{name: "ES256 header with P-384 key", tok: signJWS(t, hdr("ES256", "ec-384"), claims(), k.p384), want: ErrUnknownKey},
		{name: "ES384 header with P-256 key", tok: signJWS(t, hdr("ES384", "ec-256"), claims(), k.p256), want: ErrUnknownKey},
		{name: "RS256 header with EC key", tok: signJWS(t, hdr("RS256", "ec-256"), claims(), k.rsaA), want: ErrUnknownKey},
		{name: "EdDSA header with RSA key", tok: signJWS(t, hdr("EdDSA", "rsa-1"), claims(), k.ed), want: ErrUnknownKey},
		{name: "JWK alg RS384, header RS256", tok: signJWS(t, hdr("RS256", "rsa-384only"), claims(), k.rsaB), want: ErrUnknownKey},
		{name: "JWK use enc", tok: signJWS(t, hdr("RS256", "rsa-enc"), claims(), k.rsaB), want: ErrUnknownKey},
		{name: "unknown kid", tok: signJWS(t, hdr("RS256", "nope"), claims(), k.rsaA), want: ErrUnknownKey},

		// Claims (RFC 7519 §4.1), checked after the signature.
		{name: "iss wrong", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("iss", "https://evil.example.com/application/o/app/"), k.rsaA), want: ErrIssuer},
		{name: "iss missing", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("iss", del), k.rsaA), want: ErrIssuer},
		{name: "iss without trailing slash", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("iss", strings.TrimSuffix(testIssuer, "/")), k.rsaA), want: ErrIssuer},
		{name: "iss with extra slash", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("iss", testIssuer+"/"), k.rsaA), want: ErrIssuer},
		{name: "iss case differs", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("iss", strings.ToUpper(testIssuer)), k.rsaA), want: ErrIssuer},
		{name: "iss as array", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("iss", []string{testIssuer}), k.rsaA), want: ErrMalformed},
		{name: "issuer config without slash", cfg: func(c *Config) { c.Issuer = strings.TrimSuffix(testIssuer, "/") }, tok: valid, want: ErrIssuer},
		{name: "aud missing", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("aud", del), k.rsaA), want: ErrAudience},
		{name: "aud other", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("aud", "other-client"), k.rsaA), want: ErrAudience},
		{name: "aud array without client", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("aud", []string{"a", "b"}), k.rsaA), want: ErrAudience},
		{name: "aud empty array", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("aud", []string{}), k.rsaA), want: ErrAudience},
		{name: "aud prefix of client", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("aud", testClient[:5]), k.rsaA), want: ErrAudience},
		{name: "aud number", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("aud", 123), k.rsaA), want: ErrMalformed},
		{name: "exp past beyond leeway", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("exp", now.Add(-31*time.Second).Unix()), k.rsaA), want: ErrExpired},
		{name: "exp long past", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("exp", now.Add(-24*time.Hour).Unix()), k.rsaA), want: ErrExpired},
		{name: "leeway capped at 60s", cfg: func(c *Config) { c.Leeway = time.Hour },
			tok: signJWS(t, hdr("RS256", "rsa-1"), claims("exp", now.Add(-61*time.Second).Unix()), k.rsaA), want: ErrExpired},
		{name: "exp missing", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("exp", del), k.rsaA), want: ErrClaims},
		{name: "exp null", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("exp", nil), k.rsaA), want: ErrClaims},
		{name: "exp 1e20", tok: signJWS(t, hdr("RS256", "rsa-1"), mustJSONWith(claims(), "exp", "1e20"), k.rsaA), want: ErrMalformed},
		{name: "exp 9223372036854775807", tok: signJWS(t, hdr("RS256", "rsa-1"), mustJSONWith(claims(), "exp", "9223372036854775807"), k.rsaA), want: ErrMalformed},
		{name: "exp negative", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("exp", -1), k.rsaA), want: ErrMalformed},
		{name: "exp string", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("exp", fmt.Sprint(now.Add(time.Hour).Unix())), k.rsaA), want: ErrMalformed},
		{name: "exp bool", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("exp", true), k.rsaA), want: ErrMalformed},
		{name: "nbf in the future", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("nbf", now.Add(31*time.Second).Unix()), k.rsaA), want: ErrNotYetValid},
		{name: "iat in the future", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("iat", now.Add(time.Hour).Unix()), k.rsaA), want: ErrNotYetValid},
		{name: "sub missing", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("sub", del), k.rsaA), want: ErrClaims},
		{name: "sub empty", tok: signJWS(t, hdr("RS256", "rsa-1"), claims("sub", ""), k.rsaA), want: ErrClaims},
		{name: "logout token", tok: signJWS(t, hdr("RS256", "rsa-1", "typ", "logout+jwt"),
			claims("events", map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}, "sid", "s-1"), k.rsaA), want: ErrClaims},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{CacheEntries: -1}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			f := newFixture(t, cfg, standardJWKS(k)...)
			_, err := f.v.Verify(context.Background(), tc.tok)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: err = %v, want %v", err, tc.want)
			}
			if got, want := Reason(err), Reason(tc.want); got != want {
				t.Errorf("Reason = %q, want %q", got, want)
			}
			// Every rejection wraps exactly one sentinel.
			if n := countSentinels(err); n != 1 {
				t.Errorf("error %v wraps %d sentinels", err, n)
			}
			// VerifySignature (the go-oidc KeySet path) agrees on every JOSE-layer rejection.
			_, sigErr := f.v.VerifySignature(context.Background(), tc.tok)
			switch {
			case sigErr != nil && !errors.Is(sigErr, tc.want):
				t.Errorf("VerifySignature: err = %v, want %v", sigErr, tc.want)
			case sigErr == nil && !claimError(tc.want) && tc.want != ErrMalformed:
				t.Error("VerifySignature accepted a token Verify must reject at the JOSE layer")
			}
		})
	}
	if n := tokenURLHits.Load(); n != 0 {
		t.Errorf("a jku/x5u URL from a token was fetched %d times", n)
	}
}

// claimError reports whether want is decided after the signature (so
// VerifySignature alone may accept the token).
func claimError(want error) bool {
	for _, e := range []error{ErrIssuer, ErrAudience, ErrExpired, ErrNotYetValid, ErrClaims} {
		if want == e {
			return true
		}
	}
	return false
}

func countSentinels(err error) int {
	n := 0
	for _, s := range []error{ErrMalformed, ErrTooLarge, ErrAlgorithm, ErrHeader, ErrUnknownKey, ErrSignature,
		ErrIssuer, ErrAudience, ErrExpired, ErrNotYetValid, ErrClaims, ErrRevoked, ErrKeySet} {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

// resign signs header.payload with signAlg while the header names another algorithm.
func resign(t testing.TB, h map[string]any, payload any, signAlg string, key any) string {
	t.Helper()
	input := b64.EncodeToString([]byte(mustJSON(h))) + "." + b64.EncodeToString([]byte(mustJSON(payload)))
	return input + "." + b64.EncodeToString(rawSign(t, signAlg, []byte(input), key))
}

func mustB64(s string) []byte {
	b, err := b64.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func hs256(c *Config) { c.HS256Secret = []byte(testSecret) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// mustJSONWith marshals m with claim name replaced by a raw JSON literal.
func mustJSONWith(m map[string]any, name, raw string) string {
	m[name] = json.RawMessage(raw)
	return mustJSON(m)
}

// jsonSerialization re-encodes a compact JWS as RFC 7515 §7.2 JSON.
func jsonSerialization(t testing.TB, compact string, general bool) string {
	t.Helper()
	p := strings.Split(compact, ".")
	sig := map[string]any{"protected": p[0], "signature": p[2]}
	if general {
		return mustJSON(map[string]any{"payload": p[1], "signatures": []any{sig, sig}})
	}
	return mustJSON(map[string]any{"payload": p[1], "protected": p[0], "signature": p[2]})
}

// flipUnusedBits changes the last character of the signature segment into
// another one that decodes to the same bytes under lenient base64 (the low
// bits of a final partial group carry no data). Accepting it would make one
// signed token have many spellings — different cache keys and token hashes.
func flipUnusedBits(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := tok[len(tok)-1]
	i := strings.IndexByte(alphabet, last)
	sigLen := len(tok) - strings.LastIndexByte(tok, '.') - 1
	var unused int
	switch sigLen % 4 {
	case 2:
		unused = 4
	case 3:
		unused = 2
	default:
		panic("signature length has no partial group")
	}
	return tok[:len(tok)-1] + string(alphabet[i^(1<<unused-1)])
}

func TestVerifyHS256Mode(t *testing.T) {
	k := keysOnce()
	tok := signJWS(t, hdr("HS256", ""), claims(), []byte(testSecret))
	tests := []struct {
		name   string
		secret []byte
		keys   bool
		want   error
	}{
		{"secret set", []byte(testSecret), true, nil},
		{"secret set, no key set", []byte(testSecret), false, nil},
		{"secret unset", nil, true, ErrAlgorithm},
		{"other secret", []byte(testSecret + "x"), true, ErrSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{HS256Secret: tc.secret, CacheEntries: -1}, standardJWKS(k)...)
			v := f.v
			if !tc.keys {
				v = NewVerifier(Config{Issuer: testIssuer, ClientID: testClient, HS256Secret: tc.secret, Now: f.clock.Now}, nil)
			}
			_, err := v.Verify(context.Background(), tok)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if f.srv.hits.Load() != 0 {
				t.Error("HS256 verification fetched the JWKS")
			}
		})
	}
	t.Run("asymmetric token without key set", func(t *testing.T) {
		v := NewVerifier(Config{Issuer: testIssuer, ClientID: testClient, HS256Secret: []byte(testSecret), Now: newClock(testT0).Now}, nil)
		_, err := v.Verify(context.Background(), signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA))
		if !errors.Is(err, ErrKeySet) {
			t.Fatalf("err = %v, want ErrKeySet", err)
		}
	})
}

// TestCacheSkipsSignatureWork proves a hit does no key work: after the first
// Verify the key set is emptied and its server broken, so any signature check
// would fail. A different token, and the same token with the cache off, do fail.
func TestCacheSkipsSignatureWork(t *testing.T) {
	k := keysOnce()
	for _, entries := range []int{0, -1} {
		t.Run(fmt.Sprintf("CacheEntries=%d", entries), func(t *testing.T) {
			f := newFixture(t, Config{CacheEntries: entries}, publicJWK("rsa-1", k.rsaA, nil))
			tok := signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA)
			other := signJWS(t, hdr("RS256", "rsa-1"), claims("sub", "user-2"), k.rsaA)
			if _, err := f.v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
			// Replace the keys at the source, break the source, and forget the keys.
			f.srv.setKeys(publicJWK("rsa-1", k.rsaAttacker, nil))
			f.srv.setStatus(http.StatusInternalServerError)
			f.ks.mu.Lock()
			f.ks.keys = nil
			f.ks.mu.Unlock()
			f.clock.Advance(time.Minute) // a refetch is allowed, and fails

			c, err := f.v.Verify(context.Background(), tok)
			if entries == -1 {
				if !errors.Is(err, ErrUnknownKey) {
					t.Fatalf("uncached re-verify: err = %v, want ErrUnknownKey", err)
				}
				return
			}
			if err != nil || c.Subject != "user-1" {
				t.Fatalf("cache hit: claims %+v, err %v", c, err)
			}
			if _, err := f.v.Verify(context.Background(), other); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("cache miss: err = %v, want ErrUnknownKey", err)
			}
		})
	}
}

func TestCacheRechecksClaims(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{}, publicJWK("ed-1", k.ed, nil))
	tok := signJWS(t, hdr("EdDSA", "ed-1"), claims("exp", testT0.Add(10*time.Minute).Unix()), k.ed)
	if _, err := f.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if f.v.cache.Len() != 1 {
		t.Fatalf("cache len = %d, want 1", f.v.cache.Len())
	}
	f.clock.Advance(10*time.Minute + 29*time.Second) // within leeway
	if _, err := f.v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("cached token past exp: err = %v, want ErrExpired", err)
	}

	// Rejected tokens are not cached: a second try fails the same way.
	bad := signJWS(t, hdr("EdDSA", "ed-1"), claims("aud", "other"), k.ed)
	for i := 0; i < 2; i++ {
		if _, err := f.v.Verify(context.Background(), bad); !errors.Is(err, ErrAudience) {
			t.Fatalf("try %d: err = %v, want ErrAudience", i, err)
		}
	}
}

func TestCacheDisabled(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1}, publicJWK("ed-1", k.ed, nil))
	if f.v.cache != nil {
		t.Fatal("CacheEntries -1 still built a cache")
	}
	tok := signJWS(t, hdr("EdDSA", "ed-1"), claims(), k.ed)
	for i := 0; i < 3; i++ {
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	k := keysOnce()
	for _, size := range []int{1, 10, 64, 100, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			f := newFixture(t, Config{CacheEntries: size}, publicJWK("ed-1", k.ed, nil))
			n := 3*size + 200
			toks := make([]string, n)
			for i := range toks {
				toks[i] = signJWS(t, hdr("EdDSA", "ed-1"), claims("jti", fmt.Sprint(i)), k.ed)
				if _, err := f.v.Verify(context.Background(), toks[i]); err != nil {
					t.Fatal(err)
				}
				if got := f.v.cache.Len(); got > size {
					t.Fatalf("after %d tokens cache holds %d entries, bound %d", i+1, got, size)
				}
			}
			// Evicted or not, every token still verifies.
			for _, tok := range toks[:50] {
				if _, err := f.v.Verify(context.Background(), tok); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{ErrMalformed, "token_malformed"},
		{ErrTooLarge, "token_too_large"},
		{ErrAlgorithm, "token_algorithm"},
		{ErrHeader, "token_header"},
		{ErrUnknownKey, "token_unknown_key"},
		{ErrSignature, "token_signature"},
		{ErrIssuer, "token_issuer"},
		{ErrAudience, "token_audience"},
		{ErrExpired, "token_expired"},
		{ErrNotYetValid, "token_not_yet_valid"},
		{ErrClaims, "token_claims"},
		{ErrRevoked, "token_revoked"},
		{ErrKeySet, "keyset_unavailable"},
		{errors.New("something else"), "token_malformed"},
		{context.Canceled, "token_malformed"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		name := "nil"
		if tc.err != nil {
			name = tc.err.Error()
		}
		t.Run(name, func(t *testing.T) {
			if got := Reason(tc.err); got != tc.want {
				t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
			}
			if tc.err != nil {
				wrapped := fmt.Errorf("outer: %w", fmt.Errorf("inner %q: %w", "x", tc.err))
				if got := Reason(wrapped); got != tc.want {
					t.Errorf("Reason(wrapped) = %q, want %q", got, tc.want)
				}
			}
		})
		if tc.err != nil && countSentinels(tc.err) == 1 {
			if seen[tc.want] {
				t.Errorf("code %q used by two sentinels", tc.want)
			}
			seen[tc.want] = true
		}
	}
	if len(seen) != 13 {
		t.Errorf("%d distinct sentinel codes, want 13", len(seen))
	}
}

func BenchmarkVerify(b *testing.B) {
	k := keysOnce()
	jwks := []map[string]any{publicJWK("rsa-1", k.rsaA, nil), publicJWK("ec-256", k.p256, nil)}
	ctx := context.Background()
	run := func(b *testing.B, entries int, tok string) {
		f := newFixture(b, Config{CacheEntries: entries}, jwks...)
		if _, err := f.v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := f.v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	}
	rs := signJWS(b, hdr("RS256", "rsa-1"), claims("groups", []string{"a", "b"}, "email", "a@example.com"), k.rsaA)
	es := signJWS(b, hdr("ES256", "ec-256"), claims("groups", []string{"a", "b"}, "email", "a@example.com"), k.p256)
	b.Run("cache-hit", func(b *testing.B) { run(b, 0, rs) })
	b.Run("RS256-miss", func(b *testing.B) { run(b, -1, rs) })
	b.Run("ES256-miss", func(b *testing.B) { run(b, -1, es) })
}
