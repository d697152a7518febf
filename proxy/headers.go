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
	// folded holds each name lower-cased with "_" as "-": servers such as
	// Gunicorn and some PHP setups fold X_User_Sub into X-User-Sub, so a client
	// could smuggle an identity header under the underscore spelling.
	folded map[string]bool
}

func newIdentityHeaders(h config.Headers) identityHeaders {
	ih := identityHeaders{names: h, folded: map[string]bool{}}
	for _, n := range h.All() {
		ih.folded[fold(n)] = true
	}
	return ih
}

func fold(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}

// strip deletes every spelling of every identity header. It runs on the
// inbound request before anything reads it and again on the outbound request.
func (ih identityHeaders) strip(h http.Header) {
	for k := range h {
		if ih.folded[fold(k)] {
			delete(h, k)
		}
	}
}

// set writes the identity, after strip. Values come from a signed token but are
// still user-controlled text (a display name), so control characters are
// removed: a CR/LF would otherwise make the transport refuse the request.
func (ih identityHeaders) set(h http.Header, id *identity.Identity) {
	ih.strip(h)
	h.Set(ih.names.Sub, clean(id.Subject))
	h.Set(ih.names.OrgID, clean(id.OrganizationID))
	h.Set(ih.names.Role, clean(id.Role))
	h.Set(ih.names.Email, clean(id.Email))
	h.Set(ih.names.Name, clean(id.Name))
	h.Set(ih.names.Groups, clean(strings.Join(id.Groups, ",")))
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
