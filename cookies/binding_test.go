package cookies

import (
	"errors"
	"testing"
	"time"
)

func testJar(t *testing.T) *Jar {
	t.Helper()
	c, _ := newTestCodec(t, testSecret)
	j, err := NewJar(c, JarConfig{AuthName: "authgate_auth", RefreshName: "authgate_refresh", AuthPrefix: "/auth", MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestBindingRoundTrip(t *testing.T) {
	j := testJar(t)
	b := Binding{Session: "s1", ProviderSession: "sid-1", Subject: "alice", LoginAt: 1700000000}
	v, err := j.SealBound(j.Auth, "header.payload.sig", b, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tok, got, err := j.OpenBound(j.Auth, v)
	if err != nil || string(tok) != "header.payload.sig" || got != b {
		t.Fatalf("OpenBound = %q, %+v, %v", tok, got, err)
	}
	// Open returns the token alone: callers that need only the token (and
	// values sealed before bindings existed) are unaffected.
	if tok, err := j.Open(j.Auth, v); err != nil || string(tok) != "header.payload.sig" {
		t.Fatalf("Open = %q, %v", tok, err)
	}
	if got.LoginTime() != time.Unix(1700000000, 0) || got.IsZero() {
		t.Fatalf("LoginTime/IsZero: %v %v", got.LoginTime(), got.IsZero())
	}

	// A value sealed without a binding opens with a zero one.
	plain, _ := j.Seal(j.Refresh, "opaque-refresh", t0.Add(time.Hour))
	if tok, got, err := j.OpenBound(j.Refresh, plain); err != nil || string(tok) != "opaque-refresh" || !got.IsZero() {
		t.Fatalf("unbound = %q, %+v, %v", tok, got, err)
	}
	// SealBound with a zero binding is a plain Seal.
	z, _ := j.SealBound(j.Refresh, "x", Binding{}, t0.Add(time.Hour))
	if tok, got, err := j.OpenBound(j.Refresh, z); err != nil || string(tok) != "x" || !got.IsZero() {
		t.Fatalf("zero binding = %q, %+v, %v", tok, got, err)
	}
}

func TestBindingIsSealedWithTheToken(t *testing.T) {
	j := testJar(t)
	v, _ := j.SealBound(j.Auth, "tok", Binding{Session: "s1"}, t0.Add(time.Hour))
	// The binding cannot be moved to another cookie name, or stripped by
	// tampering: the AEAD covers value and binding together.
	if _, _, err := j.OpenBound(j.Refresh, v); !errors.Is(err, ErrInvalid) {
		t.Fatalf("moved to another cookie: %v", err)
	}
	b := []byte(v)
	b[len(b)/2] ^= 1
	if _, _, err := j.OpenBound(j.Auth, string(b)); err == nil {
		t.Fatal("tampered value opened")
	}
	// A value with NUL cannot be sealed (it would read as a binding).
	if _, err := j.SealBound(j.Auth, "a\x00b", Binding{Session: "s"}, t0.Add(time.Hour)); err == nil {
		t.Fatal("NUL in value accepted")
	}
	// Authentic but unreadable binding: refused, never returned without it.
	bad, _ := j.Seal(j.Auth, "tok\x00{not json", t0.Add(time.Hour))
	if _, _, err := j.OpenBound(j.Auth, bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbled binding: %v", err)
	}
}
