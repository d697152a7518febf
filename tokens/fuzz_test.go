package tokens

import (
	"context"
	"strings"
	"sync"
	"testing"
)

type fuzzState struct {
	f     *fixture
	valid map[string]bool // signed and acceptable
	// signed holds every seed with a genuine signature (valid or not on its
	// claims): the only inputs VerifySignature may accept.
	signed map[string]bool
	seeds  []string
}

var fuzzOnce sync.Once
var fuzzS *fuzzState

// fuzzFixture is built once per process: the fuzzing engine calls the target
// millions of times and the JWKS is fetched only once (the clock never moves,
// so unknown kids cannot trigger further fetches).
func fuzzFixture(t testing.TB) *fuzzState {
	fuzzOnce.Do(func() {
		k := keysOnce()
		f := newFixture(t, Config{CacheEntries: -1, HS256Secret: []byte(testSecret)}, standardJWKS(k)...)
		if err := f.ks.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		valid := []string{
			signJWS(t, hdr("RS256", "rsa-1"), claims("groups", []string{"a"}), k.rsaA),
			signJWS(t, hdr("PS256", "rsa-1"), claims(), k.rsaA),
			signJWS(t, hdr("ES256", "ec-256"), claims("aud", []string{"x", testClient}), k.p256),
			signJWS(t, hdr("EdDSA", "ed-1"), claims("exp", 1_700_003_600.5), k.ed),
			signJWS(t, hdr("HS256", ""), claims(), []byte(testSecret)),
		}
		badClaims := signJWS(t, hdr("RS256", "rsa-1"), claims("exp", 1e20), k.rsaA)
		s := &fuzzState{f: f, valid: map[string]bool{}, signed: map[string]bool{badClaims: true}}
		for _, v := range valid {
			s.valid[v] = true
			s.signed[v] = true
		}
		fake := b64.EncodeToString([]byte("sig"))
		s.seeds = append(valid,
			unsigned(t, hdr("none", ""), claims(), ""),
			unsigned(t, hdr("nOnE", ""), claims(), fake),
			signJWS(t, hdr("HS256", "rsa-1"), claims(), []byte("-----BEGIN PUBLIC KEY-----")),
			signJWS(t, hdr("RS256", "rsa-1", "jku", "http://127.0.0.1:1/jwks"), claims(), k.rsaA),
			signJWS(t, hdr("RS256", "rsa-1", "jwk", publicJWK("", k.rsaAttacker, nil)), claims(), k.rsaAttacker),
			signJWS(t, hdr("RS256", "rsa-1", "crit", []string{"b64"}, "b64", false), claims(), k.rsaA),
			signJWS(t, hdr("ES256", "ec-384"), claims(), k.p384),
			badClaims,
			jsonSerialization(t, valid[0], true),
			"", ".", "..", "a.b.c", "e30.e30.e30",
		)
		fuzzS = s
	})
	return fuzzS
}

// FuzzVerify: whatever the input, Verify neither panics nor accepts anything
// but the exact tokens that were signed.
func FuzzVerify(f *testing.F) {
	s := fuzzFixture(f)
	for _, seed := range s.seeds {
		f.Add(seed)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.f.v.Verify(ctx, tok)
		if err == nil {
			if !s.valid[tok] {
				t.Fatalf("accepted a token that was never signed: %q", tok)
			}
			if c == nil || c.Subject == "" {
				t.Fatal("accepted without claims")
			}
			return
		}
		if s.valid[tok] {
			t.Fatalf("rejected a valid token: %v", err)
		}
		if c != nil {
			t.Fatal("claims returned with an error")
		}
		if countSentinels(err) != 1 {
			t.Fatalf("error %v wraps %d sentinels", err, countSentinels(err))
		}
		if strings.Contains(err.Error(), tok) && len(tok) > 40 {
			t.Fatal("error message echoes the token")
		}
		// The signature layer alone must not accept anything unsigned either.
		if _, err := s.f.v.VerifySignature(ctx, tok); err == nil && !s.signed[tok] {
			t.Fatalf("VerifySignature accepted %q", tok)
		}
	})
}

// FuzzParseClaims: the claim parser never panics, and an accepted date is
// always in the range time arithmetic handles.
func FuzzParseClaims(f *testing.F) {
	for _, seed := range []string{
		`{"iss":"x","aud":["a"],"exp":1700000000.5,"groups":"g"}`,
		`{"exp":1e20}`, `{"exp":-1}`, `{"exp":"1"}`, `{"aud":null,"groups":null}`,
		`{"exp":1099511627776}`, `{"nbf":0.9999999999}`, `null`, `[]`, `{"events":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := parseClaims(payload)
		if err != nil {
			return
		}
		for _, d := range []NumericDate{c.Expiry, c.NotBefore, c.IssuedAt} {
			if d.Set && (d.Year() < 1970 || d.Year() > 40000) {
				t.Fatalf("date %v accepted", d.Time)
			}
		}
	})
}
