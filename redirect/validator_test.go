package redirect

import (
	"errors"
	"strings"
	"testing"
)

func TestValidator(t *testing.T) {
	v := Validator{AllowedHosts: []string{
		"app.example.com",
		".apps.example.org",
		"admin.example.net:8443",
		"Upper.Example.COM", // entries are case-insensitive
		"xn--bcher-kva.example",
		"bad entry with spaces", // invalid entries never match
		".",
		"",
	}}
	accept := []struct{ in, want string }{
		{"/", "/"},
		{"/a?b=1", "/a?b=1"},
		{"https://app.example.com/x?y=1#z", "https://app.example.com/x?y=1#z"},
		{"HTTPS://APP.EXAMPLE.COM/x", "https://app.example.com/x"},
		{"https://app.example.com", "https://app.example.com/"},
		{"https://app.example.com?x=1", "https://app.example.com/?x=1"},
		{"https://app.example.com#/route", "https://app.example.com/#/route"},
		{"https://a.apps.example.org/", "https://a.apps.example.org/"},
		{"https://a.b.apps.example.org/p", "https://a.b.apps.example.org/p"},
		{"https://admin.example.net:8443/", "https://admin.example.net:8443/"},
		{"https://upper.example.com/", "https://upper.example.com/"},
		{"https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"}, // named exactly
		{"https://app.example.com/caf\u00e9", "https://app.example.com/caf%C3%A9"},
	}
	for _, tc := range accept {
		got, err := v.Validate(tc.in)
		if err != nil {
			t.Errorf("Validate(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Validate(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again, err := v.Validate(got); err != nil || again != got {
			t.Errorf("not idempotent: Validate(%q) = %q, %v", got, again, err)
		}
	}

	reject := []struct{ in, why string }{
		{"http://app.example.com/", "http without AllowHTTP"},
		{"//app.example.com/", "protocol-relative, even to an allowed host"},
		{"https:app.example.com", "no slashes"},
		{"https:/app.example.com", "one slash"},
		{"https:\\\\app.example.com", "backslashes"},
		{"https://evil.com/", "not listed"},
		{"https://example.com/", "parent of an exact entry"},
		{"https://apps.example.org/", "apex of a suffix entry is not implied"},
		{"https://evilapps.example.org/", "no dot boundary"},
		{"https://a.apps.example.org.evil.net/", "allowed host as a prefix of another"},
		{"https://app.example.com.evil.net/", "exact host as a prefix"},
		{"https://app.example.com./", "trailing dot: a different host to some resolvers/cookie jars"},
		{"https://a..apps.example.org/", "empty label"},
		{"https://.apps.example.org/", "leading dot"},
		{"https://user@app.example.com/", "userinfo"},
		{"https://app.example.com@evil.com/", "userinfo; real host evil.com"},
		{"https://app.example.com:@evil.com/", "empty password; real host evil.com"},
		{"https://app.example.com\\@evil.com/", "backslash ends the authority in browsers"},
		{"https://evil.com#@app.example.com", "fragment looks like userinfo"},
		{"https://evil.com?@app.example.com", "query looks like userinfo"},
		{"https://evil.com/.app.example.com", "host in the path"},
		{"https://evil.com%2F.apps.example.org/", "percent-encoding in host: browsers decode it"},
		{"https://evil.com\uff0f.apps.example.org/", "fullwidth solidus: IDNA maps it to /"},
		{"https://evil.com\u3002apps.example.org/", "ideographic full stop: IDNA maps it to ."},
		{"https://\u0430pp.example.com/", "Cyrillic a homograph"},
		{"https://xn--pp-8kc.apps.example.org/", "punycode label under a suffix entry"},
		{"https://XN--pp-8kc.apps.example.org/", "punycode, upper-case prefix"},
		{"https://app.example.com:443/", "port not named by the entry"},
		{"https://app.example.com:/", "empty port"},
		{"https://admin.example.net/", "entry requires a port"},
		{"https://admin.example.net:443/", "wrong port"},
		{"https://admin.example.net:08443/", "leading zero"},
		{"https://admin.example.net:8443:1/", "two ports"},
		{"https://[::1]/", "IPv6 literal"},
		{"https://app.example.com//evil.com", "path must obey Path rules"},
		{"https://app.example.com/%0d%0a", "control characters in path"},
		{"https://app.example.com/\t", "TAB"},
		{"https://app.example.com/a b", "space in an absolute URL"},
		{" https://app.example.com/", "leading space"},
		{"javascript://app.example.com/%0aalert(1)", "javascript scheme with an allowed host"},
		{"ftp://app.example.com/", "other scheme"},
		{"https://", "no host"},
		{"https:///app.example.com", "empty authority"},
		{"https://app.example.com/" + strings.Repeat("a", MaxLen), "over-long"},
	}
	for _, tc := range reject {
		got, err := v.Validate(tc.in)
		if err == nil {
			t.Errorf("Validate(%q) = %q, want rejection (%s)", tc.in, got, tc.why)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%q) error %v does not wrap ErrInvalid", tc.in, err)
		}
	}
}

func TestValidatorAllowHTTP(t *testing.T) {
	v := Validator{AllowedHosts: []string{"localhost:3000"}, AllowHTTP: true}
	if got, err := v.Validate("http://localhost:3000/x"); err != nil || got != "http://localhost:3000/x" {
		t.Fatalf("Validate = %q, %v", got, err)
	}
	if got, err := v.Validate("https://localhost:3000/x"); err != nil || got != "https://localhost:3000/x" {
		t.Fatalf("Validate = %q, %v", got, err)
	}
	if _, err := v.Validate("http://localhost/x"); err == nil {
		t.Fatal("port not checked")
	}
}

func TestValidatorZeroValueIsPathOnly(t *testing.T) {
	var v Validator
	if _, err := v.Validate("https://example.com/"); err == nil {
		t.Fatal("zero Validator accepted an absolute URL")
	}
	if got, err := v.Validate("/x"); err != nil || got != "/x" {
		t.Fatalf("Validate(/x) = %q, %v", got, err)
	}
}
