package httptoken

import "testing"

func TestValid(t *testing.T) {
	for _, s := range []string{"GET", "X-User-Sub", "__Host-ag_session", "!#$%&'*+-.^_`|~09azAZ"} {
		if !Valid(s) {
			t.Errorf("Valid(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"", "a b", "a\tb", "a:b", "a/b", "a\"b", "a(b", "a)b", "a,b", "a;b", "a<b", "a=b", "a>b", "a?b", "a@b", "a[b", "a\\b", "a]b", "a{b", "a}b", "é", "a\x7f", "a\x00"} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true, want false", s)
		}
	}
}
