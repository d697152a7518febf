package bench

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// RS256 is one RS256 signature over a token-sized signing input, checked with
// crypto/rsa and nothing else: no JOSE parsing, no key lookup, no claims. Its
// cost is the floor under any sidecar that verifies every request, and the
// unit of the cache-miss target ("CPU per request ≤ bare proxy + 1.2× one raw
// RS256 verification").
type RS256 struct {
	key   *rsa.PublicKey
	input []byte
	sig   []byte
}

// NewRS256 signs a 2048-bit RS256 signature (the size Authentik and most
// providers use) over an input shaped like an access token's header and
// payload (about 1 KiB of base64url).
func NewRS256() (*RS256, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding
	input := []byte(b64.EncodeToString([]byte(`{"alg":"RS256","kid":"bench","typ":"JWT"}`)) + "." +
		b64.EncodeToString([]byte(`{"iss":"https://auth.example.com/application/o/app/","sub":"`+strings.Repeat("a", 64)+
			`","aud":"app","exp":1900000000,"iat":1800000000,"nbf":1800000000,"email":"alice@example.com",`+
			`"name":"Alice Example","preferred_username":"alice","groups":["ecosire-admins","staff"],`+
			`"organizationId":"org-1","sid":"`+strings.Repeat("s", 32)+`","jti":"`+strings.Repeat("j", 22)+
			`","scope":"openid email profile organization offline_access","azp":"app"}`)))
	d := sha256.Sum256(input)
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	if err != nil {
		return nil, err
	}
	return &RS256{key: &k.PublicKey, input: input, sig: sig}, nil
}

// Verify hashes the signing input and checks the signature, as RS256 does.
func (f *RS256) Verify() error {
	d := sha256.Sum256(f.input)
	return rsa.VerifyPKCS1v15(f.key, crypto.SHA256, d[:], f.sig)
}

// B is what BenchmarkRS256 needs of a *testing.B. This package does not
// import testing, so that the bare proxy, which links it, stays bare.
type B interface {
	Loop() bool
	Fatal(args ...any)
	ReportAllocs()
}

// BenchmarkRS256 is the body of BenchmarkRawRS256Verify; benchstack runs it
// through testing.Benchmark pinned to the server's CPU.
func BenchmarkRS256(b B) {
	f, err := NewRS256()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}
