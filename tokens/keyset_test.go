package tokens

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// verifyN runs n concurrent verifications of the tokens made by mk, released
// together, and returns their errors.
func verifyN(t *testing.T, v *Verifier, n int, mk func(i int) string) []error {
	t.Helper()
	toks := make([]string, n)
	for i := range toks {
		toks[i] = mk(i)
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = v.Verify(context.Background(), toks[i])
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func randomKid() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func TestUnknownKidRefetchesOnce(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1}, publicJWK("rsa-1", k.rsaA, nil))
	if err := f.ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.hits.Load(); got != 1 {
		t.Fatalf("Refresh fetched %d times", got)
	}
	f.clock.Advance(time.Minute)
	unknown := signJWS(t, hdr("RS256", "rsa-2"), claims(), k.rsaB)
	steps := []struct {
		advance  time.Duration
		wantHits int64
	}{
		{0, 2},                // first miss: one refetch
		{0, 2},                // again at once: rate limited
		{11 * time.Second, 2}, // still inside the 12 s interval
		{time.Second, 3},      // interval over: one more
		{100 * time.Millisecond, 3},
	}
	for i, s := range steps {
		f.clock.Advance(s.advance)
		if _, err := f.v.Verify(context.Background(), unknown); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("step %d: err = %v, want ErrUnknownKey", i, err)
		}
		if got := f.srv.hits.Load(); got != s.wantHits {
			t.Fatalf("step %d: JWKS fetched %d times in all, want %d", i, got, s.wantHits)
		}
	}
	// A known kid never fetches.
	f.clock.Advance(time.Hour)
	known := signJWS(t, hdr("RS256", "rsa-1"), claimsAt(f.clock.Now()), k.rsaA)
	if _, err := f.v.Verify(context.Background(), known); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.hits.Load(); got != 3 {
		t.Fatalf("known kid caused a fetch (%d hits)", got)
	}
}

func TestUnknownKidFlood(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1}, publicJWK("rsa-1", k.rsaA, nil))
	f.srv.setDelay(20 * time.Millisecond) // keep the fetch in flight while the flood arrives
	if err := f.ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	flood := func(i int) string { return signJWS(t, hdr("ES256", randomKid()), claims(), k.p256) }

	rounds := []struct {
		name    string
		advance time.Duration
		maxNew  int64
	}{
		{"interval elapsed", 13 * time.Second, 1},
		{"within interval", 5 * time.Second, 0},
		{"next interval", 8 * time.Second, 1},
		{"again within interval", 0, 0},
	}
	for _, r := range rounds {
		f.clock.Advance(r.advance)
		before := f.srv.hits.Load()
		for i, err := range verifyN(t, f.v, 200, flood) {
			if !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("%s: request %d: err = %v, want ErrUnknownKey", r.name, i, err)
			}
		}
		if n := f.srv.hits.Load() - before; n > r.maxNew {
			t.Fatalf("%s: 200 unknown kids caused %d JWKS fetches, want at most %d", r.name, n, r.maxNew)
		}
	}
}

// TestUnknownKidFloodProviderDown: with no key set yet and the provider
// failing, a flood must not turn into one fetch per request.
func TestUnknownKidFloodProviderDown(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1}, publicJWK("rsa-1", k.rsaA, nil))
	f.srv.setStatus(http.StatusInternalServerError)
	for round := 0; round < 3; round++ {
		before := f.srv.hits.Load()
		errs := verifyN(t, f.v, 200, func(int) string { return signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA) })
		for i, err := range errs {
			if !errors.Is(err, ErrKeySet) {
				t.Fatalf("round %d request %d: err = %v, want ErrKeySet", round, i, err)
			}
		}
		if n := f.srv.hits.Load() - before; n > 1 {
			t.Fatalf("round %d: %d JWKS fetches while the provider is down, want at most 1 per interval", round, n)
		}
		f.clock.Advance(13 * time.Second)
	}
	// Refresh (readiness) is not rate limited, and recovers the set.
	f.srv.setStatus(http.StatusOK)
	if err := f.ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(context.Background(), signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA)); err != nil {
		t.Fatal(err)
	}
}

func TestKeyRotation(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1}, publicJWK("key-1", k.rsaA, nil))
	oldTok := signJWS(t, hdr("RS256", "key-1"), claims(), k.rsaA)
	newTok := signJWS(t, hdr("RS256", "key-2"), claims(), k.rsaB)
	if _, err := f.v.Verify(context.Background(), oldTok); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.hits.Load(); got != 1 {
		t.Fatalf("first verify fetched %d times", got)
	}
	f.srv.setKeys(publicJWK("key-2", k.rsaB, nil))
	f.clock.Advance(time.Hour)
	if _, err := f.v.Verify(context.Background(), newTok); err != nil {
		t.Fatalf("token with the new kid: %v", err)
	}
	if got := f.srv.hits.Load(); got != 2 {
		t.Fatalf("rotation took %d fetches in all, want 2", got)
	}
	// The retired key is gone with the old set.
	if _, err := f.v.Verify(context.Background(), oldTok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token with the retired kid: err = %v, want ErrUnknownKey", err)
	}
	if got := f.srv.hits.Load(); got != 2 {
		t.Fatalf("retired kid refetched inside the interval (%d hits)", got)
	}
}

func TestKidAbsent(t *testing.T) {
	k := keysOnce()
	tests := []struct {
		name string
		jwks []map[string]any
		tok  string
		want error
	}{
		{"one key", []map[string]any{publicJWK("only", k.rsaA, nil)},
			signJWS(t, hdr("RS256", ""), claims(), k.rsaA), nil},
		{"one key without kid in JWKS", []map[string]any{publicJWK("", k.rsaA, nil)},
			signJWS(t, hdr("RS256", ""), claims(), k.rsaA), nil},
		// OIDC Core §10.1: with several keys in the set a kid is required;
		// a kid-less token is refused even when one of the keys signed it.
		{"several keys, second RSA", []map[string]any{publicJWK("a", k.rsaA, nil), publicJWK("e", k.p256, nil), publicJWK("b", k.rsaB, nil)},
			signJWS(t, hdr("RS256", ""), claims(), k.rsaB), ErrUnknownKey},
		{"several keys, only one EC", []map[string]any{publicJWK("a", k.rsaA, nil), publicJWK("e", k.p256, nil), publicJWK("d", k.ed, nil)},
			signJWS(t, hdr("ES256", ""), claims(), k.p256), ErrUnknownKey},
		{"several keys, none signed it", []map[string]any{publicJWK("a", k.rsaA, nil), publicJWK("b", k.rsaB, nil)},
			signJWS(t, hdr("RS256", ""), claims(), k.rsaAttacker), ErrUnknownKey},
		{"one key, another signed it", []map[string]any{publicJWK("a", k.rsaA, nil)},
			signJWS(t, hdr("RS256", ""), claims(), k.rsaAttacker), ErrSignature},
		{"no key of the type", []map[string]any{publicJWK("a", k.rsaA, nil)},
			signJWS(t, hdr("EdDSA", ""), claims(), k.ed), ErrUnknownKey},
		{"kid in JWKS only, token names another", []map[string]any{publicJWK("", k.rsaA, nil)},
			signJWS(t, hdr("RS256", "other"), claims(), k.rsaA), ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{CacheEntries: -1}, tc.jwks...)
			_, err := f.v.Verify(context.Background(), tc.tok)
			if (tc.want == nil) != (err == nil) || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestProviderDownKeepsLastGoodSet(t *testing.T) {
	k := keysOnce()
	var fetchErrs []error
	var mu sync.Mutex
	f := newFixture(t, Config{CacheEntries: -1}, publicJWK("rsa-1", k.rsaA, nil))
	f.ks = NewKeySet(f.srv.URL, KeySetOptions{Client: f.srv.Client(), Now: f.clock.Now, OnFetch: func(err error) {
		mu.Lock()
		fetchErrs = append(fetchErrs, err)
		mu.Unlock()
	}})
	f.v = NewVerifier(Config{Issuer: testIssuer, ClientID: testClient, CacheEntries: -1, Now: f.clock.Now}, f.ks)
	if err := f.ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	known := signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA)

	for _, breakIt := range []func(){
		func() { f.srv.setStatus(http.StatusInternalServerError) },
		func() { f.srv.setBody([]byte("<html>maintenance</html>")) },
		func() { f.srv.setKeys(map[string]any{"kty": "oct", "kid": "rsa-1", "k": "c2VjcmV0"}) },
		func() { f.srv.Close() },
	} {
		breakIt()
		f.clock.Advance(time.Minute)
		if err := f.ks.Refresh(context.Background()); err == nil {
			t.Fatal("Refresh of a broken JWKS succeeded")
		}
		if !f.ks.Loaded() {
			t.Fatal("a failed fetch unloaded the key set")
		}
		if _, err := f.v.Verify(context.Background(), known); err != nil {
			t.Fatalf("known kid while the provider is down: %v", err)
		}
		unknown := signJWS(t, hdr("RS256", "rsa-2"), claims(), k.rsaB)
		if _, err := f.v.Verify(context.Background(), unknown); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unknown kid while the provider is down: err = %v, want ErrUnknownKey", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fetchErrs) < 5 || fetchErrs[0] != nil || fetchErrs[1] == nil {
		t.Fatalf("OnFetch saw %v", fetchErrs)
	}
}

func TestKeySetNeverLoaded(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1}, publicJWK("rsa-1", k.rsaA, nil))
	f.srv.setStatus(http.StatusServiceUnavailable)
	if err := f.ks.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh succeeded against a failing server")
	}
	if f.ks.Loaded() {
		t.Fatal("Loaded after a failed fetch")
	}
	f.clock.Advance(time.Minute)
	_, err := f.v.Verify(context.Background(), signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA))
	if !errors.Is(err, ErrKeySet) {
		t.Fatalf("err = %v, want ErrKeySet", err)
	}
	if Reason(err) != "keyset_unavailable" {
		t.Fatalf("Reason = %q", Reason(err))
	}
}

// TestLazyFirstFetch: without Refresh, the first verification loads the set,
// and a canceled request context does not poison the shared fetch.
func TestLazyFirstFetch(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1}, publicJWK("rsa-1", k.rsaA, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.v.Verify(ctx, signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA)); err != nil {
		t.Fatalf("first verify with a canceled context: %v", err)
	}
	if !f.ks.Loaded() || f.srv.hits.Load() != 1 {
		t.Fatalf("Loaded = %v after %d fetches", f.ks.Loaded(), f.srv.hits.Load())
	}
}

func TestConcurrentRefreshShareOneFetch(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{}, publicJWK("rsa-1", k.rsaA, nil))
	f.srv.setDelay(200 * time.Millisecond)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := f.ks.Refresh(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := f.srv.hits.Load(); got != 1 {
		t.Fatalf("50 concurrent Refresh calls made %d fetches, want 1", got)
	}
}

func TestJWKSDocumentLimits(t *testing.T) {
	k := keysOnce()
	good, _ := json.Marshal(map[string]any{"keys": []any{publicJWK("rsa-1", k.rsaA, nil)}})
	// pad returns good padded with whitespace to exactly n bytes (still valid JSON).
	pad := func(n int) []byte { return append(append([]byte{}, good...), strings.Repeat(" ", n-len(good))...) }
	const max = 4096
	tests := []struct {
		name string
		body []byte
		ok   bool
	}{
		{"good", good, true},
		{"exactly MaxBytes", pad(max), true},
		{"one byte over MaxBytes", pad(max + 1), false},
		{"far over MaxBytes", pad(10 * max), false},
		{"not JSON", []byte("garbage"), false},
		{"HTML", []byte("<!doctype html><title>login</title>"), false},
		{"keys not a list", []byte(`{"keys":"x"}`), false},
		{"RSA key without modulus", []byte(`{"keys":[{"kty":"RSA","kid":"x","e":"AQAB"}]}`), false},
		{"only a symmetric key", []byte(`{"keys":[{"kty":"oct","kid":"x","k":"c2VjcmV0"}]}`), false},
		{"only a weak RSA key", mustMarshal(map[string]any{"keys": []any{publicJWK("w", k.rsaWeak, nil)}}), false},
		{"only an encryption key", mustMarshal(map[string]any{"keys": []any{publicJWK("e", k.rsaA, map[string]any{"use": "enc"})}}), false},
		{"only a private key", mustMarshal(map[string]any{"keys": []any{privateJWK(t, "p", k.rsaA)}}), false},
		{"truncated", good[:len(good)/2], false},
		{"no keys member", []byte(`{}`), false},
		{"keys null", []byte(`{"keys":null}`), false},
		{"trailing garbage", append(append([]byte{}, good...), "x"...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t)
			srv.setBody(tc.body)
			ks := NewKeySet(srv.URL, KeySetOptions{Client: srv.Client(), MaxBytes: max})
			err := ks.Refresh(context.Background())
			if (err == nil) != tc.ok {
				t.Fatalf("Refresh: err = %v, want ok=%v", err, tc.ok)
			}
			if ks.Loaded() != tc.ok {
				t.Fatalf("Loaded = %v", ks.Loaded())
			}
			v := NewVerifier(Config{Issuer: testIssuer, ClientID: testClient, Now: newClock(testT0).Now}, ks)
			_, verr := v.Verify(context.Background(), signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA))
			if tc.ok && verr != nil {
				t.Fatalf("Verify: %v", verr)
			}
			if !tc.ok && !errors.Is(verr, ErrKeySet) {
				t.Fatalf("Verify: err = %v, want ErrKeySet", verr)
			}
		})
	}
}

// TestEmptyJWKS: Authentik serves an empty set for providers that sign with
// the client secret; it loads (readiness passes) and matches nothing.
func TestEmptyJWKS(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1, HS256Secret: []byte(testSecret)})
	if err := f.ks.Refresh(context.Background()); err != nil || !f.ks.Loaded() {
		t.Fatalf("Refresh of an empty set: %v (loaded %v)", err, f.ks.Loaded())
	}
	if _, err := f.v.Verify(context.Background(), signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("RS256 against an empty set: err = %v, want ErrUnknownKey", err)
	}
	if _, err := f.v.Verify(context.Background(), signJWS(t, hdr("HS256", ""), claims(), []byte(testSecret))); err != nil {
		t.Fatalf("HS256: %v", err)
	}
}

// TestPublishedPrivateKeyIgnored: a provider that publishes a private key by
// mistake has given it to everyone; authgate must not trust it.
func TestPublishedPrivateKeyIgnored(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1}, publicJWK("rsa-1", k.rsaA, nil), privateJWK(t, "leaked", k.rsaB))
	_, err := f.v.Verify(context.Background(), signJWS(t, hdr("RS256", "leaked"), claims(), k.rsaB))
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	if _, err := f.v.Verify(context.Background(), signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA)); err != nil {
		t.Fatal(err)
	}
}

// TestJWKSWithUnsupportedKeyType: a provider adding a key type authgate does
// not know (here a post-quantum "AKP" key) must not break the keys it does know.
func TestJWKSWithUnsupportedKeyType(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{CacheEntries: -1},
		map[string]any{"kty": "AKP", "kid": "pq-1", "alg": "ML-DSA-44", "pub": "AAAA"},
		map[string]any{"kty": "OKP", "kid": "x-1", "crv": "X25519", "x": b64.EncodeToString(make([]byte, 32))},
		publicJWK("rsa-1", k.rsaA, nil))
	if _, err := f.v.Verify(context.Background(), signJWS(t, hdr("RS256", "rsa-1"), claims(), k.rsaA)); err != nil {
		t.Fatalf("known key next to an unsupported one: %v", err)
	}
}

func TestKeyFitsAlg(t *testing.T) {
	k := keysOnce()
	tests := []struct {
		key  any
		alg  string
		want bool
	}{
		{&k.rsaA.PublicKey, "RS256", true},
		{&k.rsaA.PublicKey, "PS512", true},
		{&k.rsaA.PublicKey, "HS256", false},
		{&k.rsaA.PublicKey, "ES256", false},
		{&k.rsaA.PublicKey, "none", false},
		{&k.p256.PublicKey, "ES256", true},
		{&k.p256.PublicKey, "ES384", false},
		{&k.p384.PublicKey, "ES384", true},
		{&k.p384.PublicKey, "ES256", false},
		{&k.p521.PublicKey, "ES512", true},
		{&k.p256.PublicKey, "EdDSA", false},
		{k.ed.Public(), "EdDSA", true},
		{k.ed.Public(), "ES256", false},
		{octSecret, "HS256", false},
	}
	for _, tc := range tests {
		if got := keyFitsAlg(tc.key, tc.alg); got != tc.want {
			t.Errorf("keyFitsAlg(%T, %s) = %v, want %v", tc.key, tc.alg, got, tc.want)
		}
	}
}

// privateJWK is the full private JWK of an RSA key, as a misconfigured
// provider might publish it.
func privateJWK(t testing.TB, kid string, key *rsa.PrivateKey) map[string]any {
	t.Helper()
	m := publicJWK(kid, key, nil)
	enc := func(i *big.Int) string { return b64.EncodeToString(i.Bytes()) }
	m["d"] = enc(key.D)
	m["p"] = enc(key.Primes[0])
	m["q"] = enc(key.Primes[1])
	m["dp"] = enc(key.Precomputed.Dp)
	m["dq"] = enc(key.Precomputed.Dq)
	m["qi"] = enc(key.Precomputed.Qinv)
	return m
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
