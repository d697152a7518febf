package redirect

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// hostile is a corpus of open-redirect payloads seen in the field (bug-bounty reports,
// PayloadsAllTheThings, oauth2-proxy/Authelia/Pomerium advisories). Every one must be
// rejected by Path and, being relative or scheme-bearing, by a Validator with no hosts.
var hostile = []struct {
	in, why string
}{
	// --- protocol-relative ---
	{"//evil.com", "protocol-relative: browser keeps the scheme, goes to evil.com"},
	{"///evil.com", "browsers collapse extra leading slashes in special URLs: https://evil.com"},
	{"////evil.com", "same, more slashes"},
	{"/\\evil.com", `browsers treat "\" as "/" in http(s) URLs: //evil.com`},
	{"/\\/evil.com", `"\" then "/": //evil.com after backslash folding`},
	{"\\\\evil.com", "two backslashes = //evil.com in browsers"},
	{"\\/evil.com", `"\/" = "//" in browsers`},
	{"/%5Cevil.com", "encoded backslash: servers that decode before Location emit /\\evil.com"},
	{"/%5cevil.com", "lower-case hex of the same"},
	{"/%2F%2Fevil.com", "encoded slashes: decoded by a proxy/app → ///evil.com"},
	{"/%2fevil.com", "one encoded slash after the leading one: decoded //evil.com"},
	{"%2F%2Fevil.com", "fully encoded protocol-relative; does not even start with /"},
	{"/%252F%252Fevil.com", "double-encoded; a double-decoding chain yields //evil.com"},
	{"/%255Cevil.com", "double-encoded backslash"},
	{"/.//evil.com", "dot segment removed by the URL parser → path //evil.com, re-emitted protocol-relative"},
	{"/..//evil.com", "\"..\" at the root is dropped → //evil.com"},
	{"/a/..//evil.com", "\"a/..\" cancels → //evil.com"},
	{"/%2e//evil.com", "WHATWG treats %2e as a dot segment too"},
	{"/%2e%2e//evil.com", "encoded .. → //evil.com"},
	{"/;x/evil.com", "Tomcat/Spring strip ;params → //evil.com"},
	// --- whitespace and control characters ---
	{"/%09/evil.com", "encoded TAB: a decoding app emits /\\t/evil.com, browsers delete TAB → //evil.com"},
	{"/\t/evil.com", "raw TAB deleted by the browser's URL parser → //evil.com"},
	{"/\n/evil.com", "raw LF deleted likewise"},
	{"/\r/evil.com", "raw CR deleted likewise"},
	{"\t//evil", "leading TAB stripped by browsers → //evil"},
	{" /x", "leading space stripped by browsers; we require the first byte to be /"},
	{" //evil.com", "leading space then protocol-relative"},
	{"\x01//evil.com", "leading C0 control stripped by browsers"},
	{"/x ", "trailing space: trimmed by header parsers, would differ from our canonical form"},
	{"/%0d%0aSet-Cookie:x=y", "CRLF injection: response splitting when decoded into a header"},
	{"/\r\nSet-Cookie:x=y", "raw CRLF injection"},
	{"/%00evil", "encoded NUL: truncation in C-based servers and logs"},
	{"/\x00evil", "raw NUL"},
	{"/%7f", "DEL after decoding"},
	{"/\x7f", "raw DEL"},
	{"/\u0085x", "C1 control NEL: a line break for some parsers"},
	{"/%C2%85x", "encoded NEL"},
	{"/\u202e/moc.live", "RIGHT-TO-LEFT OVERRIDE: makes the target read differently in logs and UIs"},
	{"/\u200b/evil.com", "zero-width space: invisible"},
	{"/\u00a0/evil.com", "NBSP: trimmed/folded by some parsers"},
	{"/\u3000/evil.com", "ideographic space"},
	// --- schemes ---
	{"https://evil.com", "absolute URL"},
	{"HTTPS://evil.com", "upper-case scheme"},
	{"https:evil.com", "scheme without slashes: browsers read https://evil.com"},
	{"https:/evil.com", "one slash: browsers read https://evil.com"},
	{"http:/\\evil.com", "slash-backslash: browsers read http://evil.com"},
	{"http:\\\\evil.com", "backslashes: browsers read http://evil.com"},
	{"javascript:alert(1)", "script execution on navigation"},
	{"JaVaScRiPt:alert(1)", "schemes are case-insensitive"},
	{"java\tscript:alert(1)", "browsers delete TAB inside the scheme"},
	{" javascript:alert(1)", "leading space stripped"},
	{"\x00javascript:alert(1)", "leading NUL stripped by some browsers"},
	{"data:text/html,<script>alert(1)</script>", "data: URL"},
	{"vbscript:msgbox(1)", "legacy IE scheme"},
	// --- hosts and userinfo ---
	{"evil.com", "bare host: relative for browsers, but dangerous for string concatenation"},
	{"@evil.com", "concatenated as https://site@evil.com → userinfo site, host evil.com"},
	{".evil.com", "concatenated as https://site.evil.com"},
	{"〱evil.com", "U+3031 vertical kana repeat mark renders/normalises like /"},
	{"/〱evil.com", "same inside a path: a normaliser may produce //evil.com"},
	{"/／evil.com", "FULLWIDTH SOLIDUS: NFKC → //evil.com"},
	{"/%EF%BC%8Fevil.com", "encoded FULLWIDTH SOLIDUS"},
	{"/＼evil.com", "FULLWIDTH REVERSE SOLIDUS: NFKC → /\\evil.com"},
	{"/∕evil.com", "DIVISION SLASH"},
	{"/⁄evil.com", "FRACTION SLASH"},
	// --- encoding errors ---
	{"/%", "truncated escape: parsers disagree on what it means"},
	{"/%2", "truncated escape"},
	{"/%zz", "non-hex escape"},
	{"/%%", "bare percent signs (found by FuzzPath: once crashed the decoder)"},
	{"/%%32%66evil.com", "nested escape that some decoders turn into %2f"},
	{"/\xff", "invalid UTF-8: decoders substitute or split differently"},
	{"/%FF", "invalid UTF-8 after decoding"},
	{"/\xc0\xaf", "overlong UTF-8 encoding of /"},
	{"/%C0%AFevil.com", "encoded overlong / (classic IIS traversal)"},
	// --- misc ---
	{"", "empty"},
	{"/" + strings.Repeat("a", MaxLen), "over-long: no unbounded work, no log flooding"},
	{"/" + strings.Repeat("}", MaxLen/2), "fits raw, over-long once percent-encoded (found by FuzzPath)"},
	{"/?x=\\", "backslash in the query: rejected anywhere (simplest rule that is always safe)"},
	{"/#\\evil", "backslash in the fragment: apps feed location.hash back into navigation"},
	{"/#%0aevil", "encoded LF in the fragment"},
}

func TestPathRejectsHostile(t *testing.T) {
	n := 0
	for _, tc := range hostile {
		n++
		got, err := Path(tc.in)
		if err == nil {
			t.Errorf("Path(%q) = %q, want rejection (%s)", tc.in, got, tc.why)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Path(%q) error %v does not wrap ErrInvalid", tc.in, err)
		}
		if len(tc.in) > 16 && strings.Contains(err.Error(), tc.in) {
			t.Errorf("Path(%q) error echoes the input: %v", tc.in, err)
		}
		// Relative or scheme-bearing, none of these may pass a Validator either.
		if got, err := (Validator{}).Validate(tc.in); err == nil {
			t.Errorf("Validator{}.Validate(%q) = %q, want rejection", tc.in, got)
		}
	}
	if n < 40 {
		t.Fatalf("only %d hostile payloads", n)
	}
}

func TestPathAccepts(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/a/b?x=1&y=%2F", "/a/b?x=1&y=%2F"},
		{"/path#frag", "/path#frag"},
		{"/#/dashboard", "/#/dashboard"},                       // hash-routed SPA
		{"/app/#/a?b=c", "/app/#/a?b=c"},                       // fragment kept
		{"/a%2Fb", "/a%2Fb"},                                   // encoded slash inside a segment stays encoded
		{"/a//b", "/a//b"},                                     // double slash not at the start: same origin
		{"/a/../b", "/a/../b"},                                 // dot segments that stay inside the site
		{"/?next=//evil.com", "/?next=//evil.com"},             // data in the query, not a target
		{"/?next=https://evil.com", "/?next=https://evil.com"}, // likewise
		{"/javascript:alert(1)", "/javascript:alert(1)"},       // a path segment, not a scheme
		{"/@evil.com", "/@evil.com"},                           // a path segment on this site
		{"/search?q=a b", "/search?q=a%20b"},                   // interior space encoded
		{"/caf\u00e9", "/caf%C3%A9"},                           // non-ASCII encoded as UTF-8
		{"/caf%C3%A9", "/caf%C3%A9"},
		{"/ノート", "/%E3%83%8E%E3%83%BC%E3%83%88"}, // katakana "ノート" is not a slash look-alike                           // already encoded: unchanged
		{"/%20", "/%20"},                         // encoded trailing space is data
		{"/a\"<b>", "/a%22%3Cb%3E"},              // characters unsafe in HTML/headers
		{"/x?y=%252F", "/x?y=%252F"},             // double encoding in the query is data
		{"/x;y=1", "/x;y=1"},                     // path parameters not at the start
		{"/" + strings.Repeat("a", MaxLen-1), "/" + strings.Repeat("a", MaxLen-1)},
	} {
		got, err := Path(tc.in)
		if err != nil {
			t.Errorf("Path(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Path(%q) = %q, want %q", tc.in, got, tc.want)
		}
		checkAccepted(t, tc.in, got)
	}
}

func TestOrDefault(t *testing.T) {
	for _, tc := range []struct{ raw, def, want string }{
		{"", "/home", "/home"},
		{"//evil.com", "/home", "/home"},
		{"/ok", "/home", "/ok"},
		{"//evil.com", "//also-evil.com", "/"}, // an invalid default is not trusted
		{"", "", "/"},
		{"", "/a b", "/a%20b"}, // the default is canonicalised too
	} {
		if got := OrDefault(tc.raw, tc.def); got != tc.want {
			t.Errorf("OrDefault(%q, %q) = %q, want %q", tc.raw, tc.def, got, tc.want)
		}
	}
}

func TestErrorDoesNotEchoHugeInput(t *testing.T) {
	huge := "/" + strings.Repeat("x", 100000)
	_, err := Path(huge)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	if len(err.Error()) > 200 {
		t.Fatalf("error message is %d bytes", len(err.Error()))
	}
}

// checkAccepted asserts the invariants of an accepted target (shared with FuzzPath).
func checkAccepted(t *testing.T, in, got string) {
	t.Helper()
	if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") {
		t.Fatalf("Path(%q) = %q: bad prefix", in, got)
	}
	if strings.Contains(got, "\\") {
		t.Fatalf("Path(%q) = %q: contains a backslash", in, got)
	}
	for i := 0; i < len(got); i++ {
		if c := got[i]; c < 0x21 || c >= 0x7f {
			t.Fatalf("Path(%q) = %q: contains byte %#x", in, got, c)
		}
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatalf("Path(%q) = %q: url.Parse: %v", in, got, err)
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		t.Fatalf("Path(%q) = %q: parses with scheme %q host %q", in, got, u.Scheme, u.Host)
	}
	// Resolved against a site, the target must stay on that site.
	base, _ := url.Parse("https://site.example/base/")
	if r := base.ResolveReference(u); r.Scheme != "https" || r.Host != "site.example" {
		t.Fatalf("Path(%q) = %q resolves to %s", in, got, r)
	}
	again, err := Path(got)
	if err != nil || again != got {
		t.Fatalf("Path not idempotent: Path(%q) = %q, Path(%q) = %q, %v", in, got, got, again, err)
	}
}
