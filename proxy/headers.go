package proxy

import (
	"net/http"
	"strings"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/identity"
)

// identityHeaders knows the identity header names authgate sets and removes
// every client-sent copy of them.
type identityHeaders struct {
	names config.Headers
	// keys are the names in http.Header's canonical form, in the order of set.
	keys [6]string
	// folded holds each name lower-cased with "_" and "." as "-": CGI-style
	// servers (Gunicorn, PHP, Apache's mod_cgi) turn every non-alphanumeric
	// into "_", so X_User_Sub and X.User.Sub reach the app as X-User-Sub and
	// a client could smuggle an identity header under either spelling.
	folded map[string]bool
}

func newIdentityHeaders(h config.Headers) identityHeaders {
	ih := identityHeaders{names: h, folded: map[string]bool{}}
	for i, n := range h.All() {
		ih.keys[i] = http.CanonicalHeaderKey(n)
		ih.folded[fold(n)] = true
	}
	return ih
}

func fold(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '.':
			return '-'
		}
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// foldTo appends s folded exactly like fold to dst; with a stack buffer as
// dst it folds the names of every request's headers without allocating.
func foldTo(dst []byte, s string) []byte {
	start := len(dst)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			// Not ASCII: fold's rune mapping decides (it rewrites invalid
			// UTF-8). Go's server refuses such names; this keeps the two
			// spellings of the rule identical anyway.
			return append(dst[:start], fold(s)...)
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_' || c == '.':
			c = '-'
		}
		dst = append(dst, c)
	}
	return dst
}

// strip deletes every spelling of every identity header. It runs on the
// inbound request before anything reads it and again on the outbound request.
func (ih *identityHeaders) strip(h http.Header) {
	var buf [64]byte
	for k := range h {
		if ih.folded[string(foldTo(buf[:0], k))] {
			delete(h, k)
		}
	}
}

// headerValues are the values of the identity headers, in the order of
// identityHeaders.keys.
type headerValues [6]string

// valuesOf makes the header values of id. Values come from a signed token but
// are still user-controlled text (a display name), so control characters are
// removed: a CR/LF would otherwise make the transport refuse the request.
func valuesOf(id *identity.Identity) headerValues {
	return headerValues{
		clean(id.Subject), clean(id.OrganizationID), clean(id.Role),
		clean(id.Email), clean(id.Name), clean(strings.Join(id.Groups, ",")),
	}
}

// set writes the identity headers into h, which the caller has stripped. The
// values are shared, not copied: each header gets a one-element slice of v
// whose capacity ends there, so an append copies rather than writing into v,
// and nothing in net/http writes into a header's values in place.
func (ih *identityHeaders) set(h http.Header, v *headerValues) {
	for i, k := range ih.keys {
		h[k] = v[i : i+1 : i+1]
	}
}

func clean(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}
