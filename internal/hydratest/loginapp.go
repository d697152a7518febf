package hydratest

import (
	"fmt"
	"net/http"
	"strings"
)

// appHandler is the login/consent/logout app Hydra's urls.* point at. It
// accepts every request through the admin API and redirects the browser on.
func (h *Hydra) appHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", h.handleLogin)
	mux.HandleFunc("GET /consent", h.handleConsent)
	mux.HandleFunc("GET /logout", h.handleLogout)
	mux.HandleFunc("GET /error", handleError)
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "hydratest: logged out")
	})
	return mux
}

type redirectTo struct {
	RedirectTo string `json:"redirect_to"`
}

func (h *Hydra) handleLogin(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("login_challenge")
	if challenge == "" {
		h.appFail(w, "login: missing login_challenge")
		return
	}
	q := map[string]string{"login_challenge": challenge}
	var lr struct {
		Skip    bool   `json:"skip"`
		Subject string `json:"subject"`
	}
	if err := h.adminJSON(http.MethodGet, "/admin/oauth2/auth/requests/login", q, nil, &lr); err != nil {
		h.appFail(w, "login: %v", err)
		return
	}
	subject := h.User().Subject
	remember := !h.opts.ForgetLogin
	if lr.Skip {
		// Hydra remembers this browser's session: it insists on the same
		// subject, and a skipped login must not change "remember".
		subject, remember = lr.Subject, true
	}
	body := map[string]any{"subject": subject, "remember": remember, "remember_for": 0}
	var out redirectTo
	if err := h.adminJSON(http.MethodPut, "/admin/oauth2/auth/requests/login/accept", q, body, &out); err != nil {
		h.appFail(w, "login: %v", err)
		return
	}
	http.Redirect(w, r, out.RedirectTo, http.StatusFound)
}

func (h *Hydra) handleConsent(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("consent_challenge")
	if challenge == "" {
		h.appFail(w, "consent: missing consent_challenge")
		return
	}
	q := map[string]string{"consent_challenge": challenge}
	var cr struct {
		Subject        string   `json:"subject"`
		RequestedScope []string `json:"requested_scope"`
		Client         struct {
			Audience []string `json:"audience"`
		} `json:"client"`
	}
	if err := h.adminJSON(http.MethodGet, "/admin/oauth2/auth/requests/consent", q, nil, &cr); err != nil {
		h.appFail(w, "consent: %v", err)
		return
	}
	claims := userClaims(h.userFor(cr.Subject))
	body := map[string]any{
		"grant_scope":                 nonNil(cr.RequestedScope),
		"grant_access_token_audience": nonNil(cr.Client.Audience),
		"remember":                    false,
		"session": map[string]any{
			"id_token":     claims,
			"access_token": claims,
		},
	}
	var out redirectTo
	if err := h.adminJSON(http.MethodPut, "/admin/oauth2/auth/requests/consent/accept", q, body, &out); err != nil {
		h.appFail(w, "consent: %v", err)
		return
	}
	http.Redirect(w, r, out.RedirectTo, http.StatusFound)
}

func userClaims(u User) map[string]any {
	c := map[string]any{"groups": nonNil(u.Groups)}
	if u.Email != "" {
		c["email"] = u.Email
	}
	if u.Name != "" {
		c["name"] = u.Name
	}
	if u.OrganizationID != "" {
		c["organizationId"] = u.OrganizationID
	}
	return c
}

func (h *Hydra) handleLogout(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("logout_challenge")
	if challenge == "" {
		h.appFail(w, "logout: missing logout_challenge")
		return
	}
	var out redirectTo
	q := map[string]string{"logout_challenge": challenge}
	if err := h.adminJSON(http.MethodPut, "/admin/oauth2/auth/requests/logout/accept", q, nil, &out); err != nil {
		h.appFail(w, "logout: %v", err)
		return
	}
	http.Redirect(w, r, out.RedirectTo, http.StatusFound)
}

// handleError shows Hydra's error redirect (urls.error) as a 400 whose body
// names the error, so a test following redirects sees why.
func handleError(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, "hydratest: provider error %q: %s %s\n", q.Get("error"), q.Get("error_description"), q.Get("error_hint"))
}

// appFail answers 500 with the message and records it for the failure report.
func (h *Hydra) appFail(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.appErrMu.Lock()
	h.appErrs = append(h.appErrs, msg)
	h.appErrMu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, "hydratest login app: %s\n", strings.TrimSpace(msg))
}

func (h *Hydra) appErrors() []string {
	h.appErrMu.Lock()
	defer h.appErrMu.Unlock()
	return append([]string(nil), h.appErrs...)
}
