package redirect

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzPath: whatever Path accepts starts with "/" but not "//" or "/\", holds no
// backslash, control byte or scheme, parses with empty Scheme and Host, stays on the
// site when resolved, and is a fixed point of Path.
func FuzzPath(f *testing.F) {
	for _, tc := range hostile {
		f.Add(tc.in)
	}
	for _, s := range []string{
		"/", "/a/b?x=1&y=%2F", "/path#frag", "/#/x", "/a b", "/caf\u00e9", "/a/../b",
		"/.%2e/%2e", "/%2E%2E/%2F", "/;/x", "/a;b/../;c//d", "/x?%", "/#%23#",
		"/%25", "/%252", "/%25%32%46", "/[::1]", "/a\"'<>`{|}^",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Path(s)
		if err != nil {
			return
		}
		checkAccepted(t, s, got)
	})
}

// FuzzValidate: an accepted absolute URL names exactly an allowed host (or a
// subdomain of a suffix entry) under https, with no userinfo, and is a fixed point.
func FuzzValidate(f *testing.F) {
	v := Validator{AllowedHosts: []string{"app.example.com", ".apps.example.org", "admin.example.net:8443"}}
	for _, s := range []string{
		"https://app.example.com/x", "https://a.apps.example.org", "https://admin.example.net:8443/",
		"https://app.example.com@evil.com", "https://evil.com\uff0f.apps.example.org/",
		"https://app.example.com.evil.net/", "https://xn--pp-8kc.apps.example.org/", "/x", "//x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := v.Validate(s)
		if err != nil {
			return
		}
		if strings.HasPrefix(got, "/") {
			checkAccepted(t, s, got)
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("Validate(%q) = %q: %v", s, got, err)
		}
		h := u.Host
		ok := u.Scheme == "https" && u.User == nil && u.Opaque == "" &&
			(h == "app.example.com" || h == "admin.example.net:8443" ||
				strings.HasSuffix(h, ".apps.example.org") && !strings.Contains(h, ":"))
		if !ok {
			t.Fatalf("Validate(%q) = %q: scheme %q host %q user %v", s, got, u.Scheme, h, u.User)
		}
		if again, err := v.Validate(got); err != nil || again != got {
			t.Fatalf("not idempotent: Validate(%q) = %q, %v", got, again, err)
		}
	})
}
