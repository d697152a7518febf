package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/authgate/authgate/respond"
)

// isNavigation tells a top-level browser navigation (which should be sent to
// log in) from an API or XHR call (which should get a 401 it can act on).
func isNavigation(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Mode") {
	case "navigate":
		return true
	case "cors", "no-cors", "same-origin", "websocket":
		return false
	}
	if r.Header.Get("X-Requested-With") != "" {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// Login builds authgate's login and refresh URLs for a return target.
type Login struct {
	// Base is the public base of the auth endpoints, e.g. https://app.example.com/auth.
	Base string
}

func (l Login) URL(rd string) string     { return l.Base + "/login?rd=" + url.QueryEscape(rd) }
func (l Login) Refresh(rd string) string { return l.Base + "/refresh?rd=" + url.QueryEscape(rd) }

// writeDeny answers a deny. Navigations are redirected (302 for GET/HEAD, 303
// otherwise so the browser does not replay a POST at the provider); everything
// else gets a status it can act on, with WWW-Authenticate and the login URL.
// redirect=false is for Nginx auth_request, which cannot pass a 3xx through.
func writeDeny(w http.ResponseWriter, r *http.Request, d Decision, login Login, rd string, redirect bool) {
	if d.Status == http.StatusUnauthorized {
		loginURL := login.URL(rd)
		if redirect && isNavigation(r) {
			target := loginURL
			if d.Expired {
				target = login.Refresh(rd)
			}
			status := http.StatusFound
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				status = http.StatusSeeOther
			}
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, target, status)
			return
		}
		if !redirect && isNavigation(r) {
			// Nginx cannot pass a redirect through auth_request; its config
			// turns this header into one (see deploy/nginx).
			target := loginURL
			if d.Expired {
				target = login.Refresh(rd)
			}
			w.Header().Set("X-Auth-Redirect", target)
		}
		challenge := `Bearer realm="authgate"`
		if d.Reason != "no_token" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		w.Header().Set("X-Auth-Login-Url", loginURL)
		respond.JSON(w, http.StatusUnauthorized, respond.ErrorBody{Error: d.Reason, LoginURL: loginURL})
		return
	}
	respond.Error(w, d.Status, d.Reason)
}
