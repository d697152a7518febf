package redirect

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Validator accepts what Path accepts and, in addition, absolute URLs on an allow-list
// of hosts (for SSO across several hosts). The zero value accepts relative paths only.
//
// Host rules, all conservative (a rejection falls back to a default page; an acceptance
// may be an open redirect):
//   - the URL must start with "https://" ("http://" only with AllowHTTP), in any case;
//     "https:evil.com", "https:/evil.com" and "//host" are rejected;
//   - no userinfo ("https://example.com@evil.com"), no "%" in the authority, no IPv6
//     literals, no non-ASCII host: browsers apply IDNA mapping to the host, so
//     "evil.com／.example.com" (fullwidth solidus) ends with ".example.com" as a
//     string but navigates to evil.com;
//   - the host is letters, digits, "-" and "." only, compared case-insensitively, with
//     no empty label and no trailing dot;
//   - an entry "example.com" matches that host exactly; an entry ".example.com"
//     matches any subdomain at a dot boundary ("a.example.com", not "evilexample.com",
//     not "example.com.evil.net", and not the apex "example.com" itself — list it too
//     if it is wanted);
//   - a punycode label ("xn--…") is accepted only where the entry itself spells it, so
//     ".example.com" never admits a homograph subdomain such as "xn--pple-43d.example.com";
//   - an entry "host:port" requires exactly that port; an entry without a port matches
//     only URLs without one (":443" is not assumed to be the default);
//   - the path, query and fragment follow the same rules as Path.
//
// Entries that are not themselves valid hosts never match.
type Validator struct {
	AllowedHosts []string
	AllowHTTP    bool
}

// Validate returns raw in canonical form if it is a relative path accepted by Path or
// an absolute URL on an allowed host. Absolute URLs come back with a lower-case scheme
// and host and a non-empty path ("https://a.example.com?x" → "https://a.example.com/?x").
func (v Validator) Validate(raw string) (string, error) {
	if strings.HasPrefix(raw, "/") {
		return Path(raw)
	}
	if raw == "" {
		return "", invalid("empty")
	}
	if len(raw) > MaxLen {
		return "", invalid("longer than " + strconv.Itoa(MaxLen) + " bytes")
	}
	if !utf8.ValidString(raw) {
		return "", invalid("not valid UTF-8")
	}
	// Leading whitespace and control characters are stripped by browsers ("\t//evil"),
	// backslashes become "/" ("https://example.com\@evil.com" goes to evil.com in
	// some browsers); rejected up front so nothing below has to think about them.
	if err := checkChars(raw); err != nil {
		return "", err
	}
	if strings.ContainsRune(raw, ' ') {
		return "", invalid("contains a space")
	}

	i := strings.Index(raw, "://")
	if i < 0 {
		return "", invalid(`neither a relative path nor an absolute "https://" URL`)
	}
	scheme := strings.ToLower(raw[:i])
	switch {
	case scheme == "https":
	case scheme == "http" && v.AllowHTTP:
	default:
		return "", invalid("scheme not allowed")
	}
	rest := raw[i+3:]
	authority, tail := rest, ""
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		authority, tail = rest[:j], rest[j:]
	}
	if strings.ContainsAny(authority, "@%[]") {
		// "@": userinfo, "https://example.com@evil.com" goes to evil.com.
		// "%": browsers percent-decode the host before IDNA ("evil.com%2F.example.com").
		// "[]": IPv6 literals are not supported in the allow-list.
		return "", invalid("userinfo, percent-encoding or IP literal in host")
	}
	host, port, ok := splitHostPort(authority)
	if !ok {
		return "", invalid("malformed host or port")
	}
	host = strings.ToLower(host)
	if !v.allowed(host, port) {
		return "", invalid("host not allowed")
	}

	// The rest is checked exactly like a relative target. An empty path is "/" for
	// http(s), so "?x" and "#x" are checked and returned as "/?x" and "/#x".
	if !strings.HasPrefix(tail, "/") {
		tail = "/" + tail
	}
	p, err := Path(tail)
	if err != nil {
		return "", err
	}
	out := scheme + "://" + host
	if port != "" {
		out += ":" + port
	}
	out += p
	if len(out) > MaxLen {
		return "", invalid("longer than " + strconv.Itoa(MaxLen) + " bytes")
	}
	return out, nil
}

func (v Validator) allowed(host, port string) bool {
	for _, e := range v.AllowedHosts {
		e = strings.ToLower(strings.TrimSpace(e))
		suffix := strings.HasPrefix(e, ".")
		if suffix {
			e = e[1:]
		}
		eh, ep, ok := splitHostPort(e)
		if !ok || ep != port {
			continue
		}
		eh = strings.ToLower(eh)
		if !suffix {
			if host == eh {
				return true
			}
			continue
		}
		// Dot boundary: the host must end with "."+eh and have at least one label
		// before it (validHost forbids empty labels, so the prefix is a real label).
		prefix, found := strings.CutSuffix(host, "."+eh)
		if !found || prefix == "" {
			continue
		}
		if hasPunycodeLabel(prefix) {
			continue
		}
		return true
	}
	return false
}

// splitHostPort splits "host" or "host:port" and validates both parts.
func splitHostPort(s string) (host, port string, ok bool) {
	host = s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if !validPort(port) {
			return "", "", false
		}
	}
	if !validHost(host) {
		return "", "", false
	}
	return host, port, true
}

// validHost accepts ASCII DNS names and dotted IPv4: letters, digits, "-" and "."; no
// empty label (so no leading, trailing or doubled dot), labels ≤ 63, total ≤ 253.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validPort accepts 1–65535 written without leading zeros, so that an entry's port
// and a URL's port compare as strings exactly when they compare as numbers.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

func hasPunycodeLabel(h string) bool {
	for _, label := range strings.Split(h, ".") {
		if len(label) >= 4 && strings.EqualFold(label[:4], "xn--") {
			return true
		}
	}
	return false
}
