package cookies

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Spec describes one cookie. Set and Clear write it from the same attributes, because
// a deletion that differs in Path, Domain, Secure or name prefix is a different cookie
// to the browser and leaves the original alive (DESIGN.md §2.7: logout clears "with
// the same attributes they were set with").
type Spec struct {
	Name     string        // final name, including any "__Host-"/"__Secure-" prefix (see Prefixed)
	Path     string        // "" means "/" (never the browser's request-dependent default path)
	Domain   string        // "" = host-only (the safer choice: subdomains cannot read or overwrite it)
	Secure   bool          // true in production (DESIGN.md §9)
	SameSite http.SameSite // zero or SameSiteDefaultMode means Lax
	MaxAge   time.Duration // > 0: persistent, rounded up to whole seconds; <= 0: session cookie
}

// Validate reports attribute combinations browsers silently refuse, so a
// misconfiguration is caught at start-up rather than as "login loops forever".
// Prefixes are matched case-insensitively, as current browsers do.
func (s Spec) Validate() error {
	c := s.cookie("x", 0)
	if err := c.Valid(); err != nil {
		return fmt.Errorf("cookies: %q: %w", s.Name, err)
	}
	switch {
	case hasPrefixFold(s.Name, "__Host-"):
		// RFC 6265bis §4.1.3.2: Secure, Path=/, no Domain.
		if !s.Secure || c.Path != "/" || s.Domain != "" {
			return fmt.Errorf("cookies: %q: __Host- cookies need Secure, Path=/ and no Domain", s.Name)
		}
	case hasPrefixFold(s.Name, "__Secure-"):
		if !s.Secure {
			return fmt.Errorf("cookies: %q: __Secure- cookies need Secure", s.Name)
		}
	}
	if c.SameSite == http.SameSiteNoneMode && !s.Secure {
		return fmt.Errorf("cookies: %q: SameSite=None needs Secure", s.Name)
	}
	return nil
}

// Set writes the cookie with value. HttpOnly is always on: no authgate cookie is for
// scripts (an XSS in the upstream app must not be able to read a token).
func (s Spec) Set(w http.ResponseWriter, value string) {
	maxAge := 0
	if s.MaxAge > 0 {
		maxAge = int((s.MaxAge + time.Second - 1) / time.Second)
	}
	http.SetCookie(w, s.cookie(value, maxAge))
}

// Clear deletes the cookie: same name and attributes as Set, empty value, Max-Age=0.
func (s Spec) Clear(w http.ResponseWriter) {
	http.SetCookie(w, s.cookie("", -1))
}

// Read returns the value of the first cookie named s.Name, and false if there is none.
// Only the first is used: a browser sends the most specific (longest Path) cookie
// first, and a second copy is usually one planted by a sibling subdomain ("cookie
// tossing", which the __Host- prefix rules out).
func (s Spec) Read(r *http.Request) (string, bool) {
	cs := r.CookiesNamed(s.Name)
	if len(cs) == 0 {
		return "", false
	}
	return cs[0].Value, true
}

// maxCookies is net/http's default bound on the cookies of one request
// (GODEBUG httpcookiemaxnum): above it, Read finds none.
const maxCookies = 3000

// Peek returns the value Read would most likely return, without checking its
// bytes: the value of the first cookie named s.Name, found as net/http finds
// it (fields and pairs trimmed alike, surrounding double quotes removed).
// Read also skips a same-named cookie whose value holds a byte no cookie value
// may hold; Peek does not, so its answer may be such a value. It is for a
// caller that looks the value up among values it opened before (which are all
// valid) and falls back to Read when it is not there: for such a value Peek
// and Read agree, and Peek costs a scan for ';' instead of a check of every
// byte of a 3 KiB value.
func (s Spec) Peek(h http.Header) (string, bool) {
	lines := h["Cookie"]
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	if n > maxCookies {
		return "", false
	}
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			// Like net/http, a pair without "=" is a cookie with an empty value.
			name, val, _ := strings.Cut(trimOWS(part), "=")
			if trimOWS(name) != s.Name {
				continue
			}
			if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			return val, true
		}
	}
	return "", false
}

func (s Spec) cookie(value string, maxAge int) *http.Cookie {
	path := s.Path
	if path == "" {
		path = "/"
	}
	ss := s.SameSite
	if ss == 0 || ss == http.SameSiteDefaultMode {
		ss = http.SameSiteLaxMode
	}
	return &http.Cookie{
		Name:     s.Name,
		Value:    value,
		Path:     path,
		Domain:   s.Domain,
		MaxAge:   maxAge,
		Secure:   s.Secure,
		HttpOnly: true,
		SameSite: ss,
	}
}

// Prefixed returns the cookie name to use for base: "__Host-"+base when secure,
// host-only and scoped to "/" (path "" counts as "/", as in Spec); "__Secure-"+base
// when secure otherwise; base when not secure (browsers reject prefixed cookies
// without Secure). The prefixes make the browser refuse a same-named cookie set by a
// sibling subdomain or over plain HTTP.
func Prefixed(base string, secure bool, path, domain string) string {
	switch {
	case !secure:
		return base
	case (path == "/" || path == "") && domain == "":
		return "__Host-" + base
	default:
		return "__Secure-" + base
	}
}

// Strip removes every cookie whose name is one of names from a Cookie request header
// value and returns the rest, so authgate's own cookies are not forwarded upstream
// (DESIGN.md §5). Names match case-sensitively, as browsers send them; surrounding
// whitespace (including Unicode spaces some parsers trim) is ignored when comparing.
//
// If nothing is removed, cookieHeader is returned unchanged. Otherwise the remaining
// cookies are kept byte-exact (minus the whitespace around each "name=value" pair),
// in order, joined by "; "; empty segments are dropped. The result may be "".
func Strip(cookieHeader string, names ...string) string {
	if len(names) == 0 || cookieHeader == "" {
		return cookieHeader
	}
	var kept []string
	removed := false
	for seg := range strings.SplitSeq(cookieHeader, ";") {
		pair := trimOWS(seg)
		if pair == "" {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		if slices.Contains(names, trimAnySpace(name)) {
			removed = true
			continue
		}
		kept = append(kept, pair)
	}
	if !removed {
		return cookieHeader
	}
	return strings.Join(kept, "; ")
}

// StripField applies Strip to the values of h's Cookie field k (HTTP/1.1
// clients may send several, and HTTP/2 splits cookies across values), drops
// values left empty, and removes the field when none is left. The caller
// picks k, matching "Cookie" case-insensitively, while it walks the header
// for its own reasons (the proxy's one pass over the outgoing header).
func StripField(h http.Header, k string, names ...string) {
	out := h[k][:0:0]
	for _, v := range h[k] {
		if v = Strip(v, names...); trimOWS(v) != "" {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		delete(h, k)
	} else {
		h[k] = out
	}
}

// trimOWS trims what net/http trims around cookie pairs (textproto.TrimString).
func trimOWS(s string) string {
	return strings.Trim(s, " \t\r\n")
}

// trimAnySpace is broader: some upstream cookie parsers (JavaScript's String.trim)
// also trim Unicode spaces and the BOM, and would read "\u00a0name=v" as "name".
func trimAnySpace(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' })
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
