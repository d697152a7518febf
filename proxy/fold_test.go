package proxy

import (
	"net/http"
	"testing"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/identity"
)

// foldTo is fold without allocating; both must fold every name alike, or a
// spelling could slip past strip.
func TestFoldToMatchesFold(t *testing.T) {
	for _, s := range []string{
		"", "X-User-Sub", "x_user_sub", "X_USER_SUB", "X-Forwarded-For", "x-original-url",
		"Accept", "X.User.Sub", "x.user_SUB", "A0.0000000", "\u212Aey", "X-User-\u212Ae", "ſub", "İd", "a\x00b", "\xff\xfe", "X-Üser",
		"A-Very-Long-Header-Name-That-Does-Not-Fit-In-The-Stack-Buffer-Of-Sixty-Four-Bytes",
	} {
		var buf [64]byte
		if got, want := string(foldTo(buf[:0], s)), fold(s); got != want {
			t.Errorf("foldTo(%q) = %q, fold = %q", s, got, want)
		}
	}
}

func FuzzFoldTo(f *testing.F) {
	f.Add("X-User_Sub")
	f.Add("\u212A")
	f.Fuzz(func(t *testing.T, s string) {
		var buf [64]byte
		if got, want := string(foldTo(buf[:0], s)), fold(s); got != want {
			t.Fatalf("foldTo(%q) = %q, fold = %q", s, got, want)
		}
	})
}

// The identity header values of a recent credential are shared by every
// request presenting it. Whatever a later step does to one request's headers
// through http.Header's API must not reach the shared values.
func TestSharedHeaderValuesStayIntact(t *testing.T) {
	ih := newIdentityHeaders(config.Headers{Sub: "X-User-Sub", OrgID: "X-Org-Id", Role: "X-Role",
		Email: "X-User-Email", Name: "X-User-Name", Groups: "X-User-Groups"})
	id := identity.Identity{Subject: "alice", OrganizationID: "org\r\n1", Role: "admin",
		Email: "a@example.com", Name: "Alice", Groups: []string{"a", "b"}}
	v := valuesOf(&id)
	want := v
	if v[1] != "org1" || v[5] != "a,b" {
		t.Fatalf("valuesOf = %q", v)
	}
	first, second := http.Header{}, http.Header{}
	ih.set(first, &v)
	ih.set(second, &v)
	for _, k := range ih.keys {
		first.Add(k, "appended") // must copy: the slice's capacity ends at its value
	}
	first.Set("X-User-Sub", "replaced")
	first.Del("X-Role")
	if v != want {
		t.Fatalf("shared values changed to %q", v)
	}
	for i, k := range ih.keys {
		if got := second.Values(k); len(got) != 1 || got[0] != want[i] {
			t.Fatalf("other request's %s = %q, want [%q]", k, got, want[i])
		}
	}
}

// peerString spells the peer as netip does, taking the RemoteAddr's own
// spelling only where the two agree.
func TestPeerString(t *testing.T) {
	for _, remote := range []string{
		"192.0.2.10:40000",
		"[2001:db8::1]:443",
		"[::1]:1",
		"[::ffff:192.0.2.10]:80", // IPv4-mapped: peerAddr unmaps it
		"[fe80::1%eth0]:80",
		"[2001:DB8::1]:443", // not netip's spelling
		"[2001:db8:0:0::1]:443",
		"192.0.2.10", // no port
		"garbage",
		"",
	} {
		peer := peerAddr(remote)
		if got, want := peerString(remote, peer), peer.String(); got != want {
			t.Errorf("peerString(%q) = %q, want %q", remote, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = peerString("192.0.2.10:40000", peerAddr("192.0.2.10:40000")) }); n != 0 {
		t.Errorf("peerString allocates %.0f times for a plain IPv4 peer", n)
	}
}
