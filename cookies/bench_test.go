package cookies

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkOpen is the session cookie's share of every cookie-authenticated
// request: base64url decoding and AES-256-GCM opening of a sealed access
// token (1.3 KB, the size of an Authentik access token), then, for the jar,
// splitting off the login binding sealed with it.
func BenchmarkOpen(b *testing.B) {
	codec, err := NewCodec([]byte("bench-cookie-secret-0123456789abcdef"), nil)
	if err != nil {
		b.Fatal(err)
	}
	token := "eyJhbGciOiJSUzI1NiJ9." + strings.Repeat("p", 1000) + "." + strings.Repeat("s", 342)
	exp := time.Now().Add(time.Hour)

	b.Run("codec", func(b *testing.B) {
		sealed, err := codec.Seal("authgate_auth", []byte(token), exp)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(sealed)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := codec.Open("authgate_auth", sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jar-bound", func(b *testing.B) {
		jar, err := NewJar(codec, JarConfig{AuthName: "authgate_auth", RefreshName: "authgate_refresh", AuthPrefix: "/auth", MaxAge: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		sealed, err := jar.SealBound(jar.Auth, token, Binding{
			Session: strings.Repeat("l", 22), ProviderSession: strings.Repeat("d", 22),
			Subject: strings.Repeat("a", 64), LoginAt: time.Now().Unix(),
		}, exp)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(sealed)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := jar.OpenBound(jar.Auth, sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
}
