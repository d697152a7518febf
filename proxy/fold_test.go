package proxy

import "testing"

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
