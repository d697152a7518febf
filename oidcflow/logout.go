package oidcflow

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/authgate/authgate/cookies"
)

// maxLogoutState bounds the state a caller may round-trip through the
// provider's logout; it travels in URLs.
const maxLogoutState = 512

// logoutParams reads the optional parameters of an RP-initiated logout
// (OIDC RP-Initiated Logout 1.0 §2), from the query or a form body:
// post_logout_redirect_uri, which must be the configured default or on the
// allow-list (an open redirect through the provider otherwise: most providers
// check only that the URI is registered for the client, so any registered
// URI would do), and state, handed back by the provider to that URI. after
// is "" when the URI is not allowed.
func (f *Flow) logoutParams(w http.ResponseWriter, r *http.Request) (after, state string, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		return "", "", fmt.Errorf("logout parameters: %w", err)
	}
	state = r.Form.Get("state")
	if len(state) > maxLogoutState {
		return "", "", errors.New("state too long")
	}
	for i := 0; i < len(state); i++ {
		if c := state[i]; c < 0x21 || c > 0x7e {
			return "", "", errors.New("state has characters outside printable ASCII")
		}
	}
	def := f.cfg.PostLogoutRedirectURL
	if def == "" {
		def = "/"
	}
	raw := r.Form.Get("post_logout_redirect_uri")
	if raw == "" || raw == def {
		return def, state, nil
	}
	for _, ok := range f.cfg.PostLogoutRedirectURLs {
		// Exact match, as providers compare registered URIs.
		if raw == ok {
			return raw, state, nil
		}
	}
	return "", state, nil
}

// loggingOut reads what the browser's cookies say about the login that ends:
// the ID token (the logout hint) and the login's binding, from the ID cookie
// (sent only to the logout endpoint) or else the access cookie.
func (f *Flow) loggingOut(r *http.Request) (idToken string, session cookies.Binding) {
	if v, ok := f.jar.ID.Read(r); ok {
		if b, s, err := f.jar.OpenBound(f.jar.ID, v); err == nil {
			idToken, session = string(b), s
		}
	}
	if session.IsZero() {
		if v, ok := f.jar.Auth.Read(r); ok {
			if _, s, err := f.jar.OpenBound(f.jar.Auth, v); err == nil {
				session = s
			}
		}
	}
	return idToken, session
}

// withState appends state to u (when there is one).
func withState(u, state string) string {
	if state == "" {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "state=" + url.QueryEscape(state)
}
