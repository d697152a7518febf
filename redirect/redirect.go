// Package redirect validates user-supplied return targets (the `rd` parameter of
// /auth/login, /auth/refresh and friends) so that authgate can never be used as an
// open redirector (DESIGN.md §9: "redirect targets are same-site relative paths only").
//
// The rules are deliberately stricter than any browser: a target is accepted only when
// every URL parser we know of (WHATWG/browsers, Go's net/url, servlet containers that
// decode or normalise paths) would agree that it names a path on the current origin.
//
// Canonical form: an accepted target is returned with its original percent-encoding
// untouched; bytes that must not appear raw in a URL (space, `"`, `<`, `>`, `[`, `]`,
// `^`, backtick, `{`, `|`, `}` and non-ASCII UTF-8) are percent-encoded. The result is
// therefore plain printable ASCII, safe for a Location header, and Path(result) ==
// result.
//
// Fragments are kept (canonicalised like the rest): hash-routed single-page apps need
// "/#/dashboard" to survive the login round trip, and a fragment cannot change the
// origin a browser navigates to. It still passes every check (no backslash, no control
// characters, valid encoding), because apps routinely feed location.hash back into
// their own navigation.
package redirect

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every rejection; the wrapping error names the reason but
// never echoes the (possibly huge or hostile) input.
var ErrInvalid = errors.New("redirect: invalid target")

// MaxLen bounds the raw target in bytes. Longer values are rejected before any other
// work.
const MaxLen = 2048

// Path validates a user-supplied return target and returns it in canonical form (see
// the package comment). Only same-site relative paths are accepted: the value must
// start with exactly one "/" and still do so after percent-decoding once and after
// dot-segment removal; it must not contain a backslash, a control or invisible
// formatting character, or a Unicode look-alike of "/" or "\" (raw or percent-encoded);
// it must be valid UTF-8 with valid percent-encoding, and at most MaxLen bytes both as
// given and in canonical form.
func Path(raw string) (string, error) {
	if err := checkPath(raw); err != nil {
		return "", err
	}
	p := canonical(raw)
	if len(p) > MaxLen {
		// Checked again after encoding so that Path(Path(x)) == Path(x) (found by
		// FuzzPath: 2000 bytes with a few "}" grow past the bound).
		return "", invalid(fmt.Sprintf("longer than %d bytes once percent-encoded", MaxLen))
	}
	return p, nil
}

// OrDefault returns Path(raw), or def when raw is empty or invalid. def is validated
// too, so a misconfigured default cannot become an open redirect; if it is invalid,
// "/" is returned.
func OrDefault(raw, def string) string {
	if raw != "" {
		if p, err := Path(raw); err == nil {
			return p
		}
	}
	if p, err := Path(def); err == nil {
		return p
	}
	return "/"
}

func invalid(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalid, reason)
}

// checkPath holds every rule of Path. The order is cheap-first: length, encoding and
// structure before decoding.
func checkPath(raw string) error {
	if raw == "" {
		return invalid("empty")
	}
	// Bound first, so nothing below ever walks an attacker-sized string.
	if len(raw) > MaxLen {
		return invalid(fmt.Sprintf("longer than %d bytes", MaxLen))
	}
	if !utf8.ValidString(raw) {
		return invalid("not valid UTF-8")
	}
	// A leading "/" rules out every scheme ("https:", "javascript:", "data:", in any
	// case), userinfo tricks ("@evil.com"), bare hosts, and leading whitespace or
	// control characters — which browsers strip before parsing, so " //evil.com" and
	// "\x01//evil.com" would otherwise become protocol-relative.
	if raw[0] != '/' {
		return invalid(`does not start with "/"`)
	}
	// "//evil.com" is protocol-relative: the browser keeps the scheme and navigates to
	// the host evil.com. Browsers treat "\" as "/" in http(s) URLs, so "/\evil.com" is
	// the same thing.
	if len(raw) > 1 && (raw[1] == '/' || raw[1] == '\\') {
		return invalid("protocol-relative (starts with two slashes)")
	}
	if err := checkChars(raw); err != nil {
		return err
	}
	if last, _ := utf8.DecodeLastRuneInString(raw); unicode.IsSpace(last) {
		// Browsers and header parsers trim it; accepting it would make our canonical
		// form ("%20") and the browser's reading of the raw value differ.
		return invalid("trailing whitespace")
	}

	// Decode once and re-check everything: the target may be decoded again by an
	// upstream app or a front proxy before it reaches a Location header ("/%2F%2Fevil",
	// "/%5Cevil", "/%0d%0aSet-Cookie:").
	decoded, ok := unescape(raw)
	if !ok {
		return invalid("invalid percent-encoding")
	}
	if !utf8.ValidString(decoded) {
		return invalid("percent-decoded value is not valid UTF-8")
	}
	if err := checkChars(decoded); err != nil {
		return fmt.Errorf("%w (after percent-decoding)", err)
	}

	// Path-structure checks run on the path component only: in the query and the
	// fragment "//" is harmless data.
	rawPath := raw
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		rawPath = raw[:i]
	}
	p, _ := unescape(rawPath) // valid: raw as a whole decoded above
	for round := 0; ; round++ {
		if strings.HasPrefix(p, "//") {
			return invalid("protocol-relative after percent-decoding")
		}
		// WHATWG URL parsing removes dot segments (also "%2e" spellings, which p has
		// already decoded): "/.//evil.com", "/..//evil.com" and "/a/..//evil.com"
		// resolve to the path "//evil.com". That is still same-origin in the browser,
		// but any component that normalises the path and re-emits it (a framework's
		// redirect helper, history.replaceState) turns it into a protocol-relative
		// URL. Servlet containers (Tomcat, Spring) also drop ";param" path parameters,
		// so "/;x/evil.com" becomes "//evil.com" there.
		if strings.HasPrefix(normalizePath(p), "//") {
			return invalid("protocol-relative after dot-segment removal")
		}
		// Defence in depth against components that decode twice (a proxy, then the
		// app): "/%252F%252Fevil.com" is "//evil.com" after two decodes. Bounded, and
		// only the path: queries legitimately carry encoded URLs.
		if round == 2 || !strings.Contains(p, "%") {
			break
		}
		next, ok := unescape(p)
		if !ok {
			break // a literal "%zz" after one decode is plain data, not an escape
		}
		if strings.ContainsAny(next, "\\") || hasControl(next) {
			return invalid("backslash or control character after repeated percent-decoding")
		}
		p = next
	}
	return nil
}

// checkChars rejects characters that browsers ignore, rewrite or render deceptively.
func checkChars(s string) error {
	for _, r := range s {
		switch {
		case r == '\\':
			// Browsers treat "\" as "/" in http(s) URLs: "/\evil.com", "/.\evil.com".
			return invalid("contains a backslash")
		case unicode.IsControl(r):
			// C0 (incl. NUL, TAB, CR, LF), DEL and C1. Browsers silently delete TAB, CR
			// and LF anywhere in a URL, so "/\t/evil.com" becomes "//evil.com"; CR/LF
			// in a Location header is response splitting; NUL truncates in C-based
			// servers and logs.
			return invalid("contains a control character")
		case unicode.Is(unicode.Cf, r):
			// Zero-width and bidi-override characters: invisible in the address bar and
			// in logs, used to disguise a target.
			return invalid("contains an invisible formatting character")
		case r != ' ' && unicode.IsSpace(r):
			// NBSP, ideographic space, line/paragraph separators: some parsers trim
			// or fold them; none belongs in a return path.
			return invalid("contains non-ASCII whitespace")
		case isSlashLike(r):
			return invalid("contains a look-alike of / or \\")
		}
	}
	return nil
}

// isSlashLike reports Unicode characters that NFKC/IDNA mapping, "smart" URL
// normalisers or a human reader turn into "/" or "\". Browsers map some of them
// (U+FF0F, U+FF3C) to ASCII during host parsing, and several redirect bypasses
// ("/〱evil.com", "/／evil.com") rely on a server-side normaliser doing the same to
// the path. Ordinary letters that merely resemble a slash (katakana "ノ") are not
// listed: they are common in real paths and no normaliser maps them to "/".
func isSlashLike(r rune) bool {
	switch r {
	case 0x2044, // FRACTION SLASH
		0x2215, // DIVISION SLASH
		0x2216, // SET MINUS
		0x2571, // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
		0x2572, // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
		0x29F5, // REVERSE SOLIDUS OPERATOR
		0x29F8, // BIG SOLIDUS
		0x29F9, // BIG REVERSE SOLIDUS
		0x3031, // VERTICAL KANA REPEAT MARK
		0x3033, // VERTICAL KANA REPEAT WITH VOICED SOUND MARK UPPER HALF
		0xFE68, // SMALL REVERSE SOLIDUS
		0xFF0F, // FULLWIDTH SOLIDUS
		0xFF3C: // FULLWIDTH REVERSE SOLIDUS
		return true
	}
	return false
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// unescape percent-decodes s once. Unlike url.PathUnescape it is total over its
// input: it reports ok=false for a "%" not followed by two hex digits instead of
// guessing.
func unescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s)) // not len(s)-2*count: "%%" would make that negative
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// normalizePath removes ";param" path parameters from each segment and then dot
// segments (RFC 3986 §5.2.4). p is a decoded absolute path.
func normalizePath(p string) string {
	segs := strings.Split(p, "/")[1:]
	out := make([]string, 0, len(segs))
	for i, seg := range segs {
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			seg = seg[:j]
		}
		last := i == len(segs)-1
		switch seg {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}

// canonical percent-encodes the bytes of an already validated target that must not
// appear raw in a URL; existing escapes (all valid, checked) are kept as they are.
func canonical(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !keepRaw(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keepRaw(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

// keepRaw reports the bytes RFC 3986 allows in a path, query or fragment (unreserved,
// sub-delims, ":", "@", "/", "?"), plus "%" (escapes were validated) and "#" (the
// fragment delimiter; the fragment is kept as written).
func keepRaw(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/?#%", c) >= 0
}
