package devprovider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	sessionCookie = "authgate_devprovider_session"
	csrfCookie    = "authgate_devprovider_csrf"
)

// authzParams are the authorization request parameters the provider reads.
// They travel through the login form in hidden fields, in this order.
var authzParamNames = []string{
	"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt",
}

type authzRequest struct {
	values      url.Values // only authzParamNames
	clientID    string
	redirectURI string
	state       string
	nonce       string
	challenge   string
	scopes      []string
	prompt      []string
}

type hiddenField struct{ Name, Value string }

func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.stats.Authorize++
	autoLogin := p.autoLogin
	p.mu.Unlock()
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	var raw url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			p.errorPage(w, http.StatusBadRequest, "The request body does not parse.")
			return
		}
		raw = r.PostForm
	} else {
		raw = r.URL.Query()
	}

	// 1. Client and redirect URI. Until both are known good, errors are shown
	//    here and never redirected.
	for _, name := range []string{"client_id", "redirect_uri"} {
		if len(raw[name]) > 1 {
			p.errorPage(w, http.StatusBadRequest, "Parameter "+name+" is repeated.")
			return
		}
	}
	req := &authzRequest{values: url.Values{}}
	for _, name := range authzParamNames {
		if v, ok := raw[name]; ok {
			req.values[name] = v[:1]
		}
	}
	req.clientID = raw.Get("client_id")
	req.redirectURI = raw.Get("redirect_uri")
	if req.clientID == "" {
		p.errorPage(w, http.StatusBadRequest, "client_id is missing.")
		return
	}
	if req.clientID != p.clientID {
		p.errorPage(w, http.StatusBadRequest, "Unknown client_id "+req.clientID+".")
		return
	}
	if req.redirectURI == "" {
		p.errorPage(w, http.StatusBadRequest, "redirect_uri is missing.")
		return
	}
	if !p.redirects[req.redirectURI] {
		p.errorPage(w, http.StatusBadRequest, "redirect_uri "+req.redirectURI+" is not registered for this client.")
		return
	}

	// 2. Everything else is answered at the redirect URI.
	req.state = raw.Get("state")
	fail := func(code, desc string) { p.redirectError(w, r, req, code, desc) }
	for _, name := range authzParamNames {
		if len(raw[name]) > 1 {
			fail("invalid_request", "parameter "+name+" is repeated")
			return
		}
	}
	if rt := raw.Get("response_type"); rt != "code" {
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	if req.state == "" {
		fail("invalid_request", "state is required")
		return
	}
	req.challenge = raw.Get("code_challenge")
	method := raw.Get("code_challenge_method")
	if req.challenge == "" {
		fail("invalid_request", "code_challenge is required (PKCE)")
		return
	}
	if method != "S256" {
		fail("invalid_request", "code_challenge_method must be S256")
		return
	}
	if len(req.challenge) != 43 || !validVerifier(req.challenge+"xxxxxxxx") {
		fail("invalid_request", "code_challenge is not a base64url SHA-256 value")
		return
	}
	req.nonce = raw.Get("nonce")
	for _, s := range strings.Fields(raw.Get("scope")) {
		if slices.Contains(knownScopes, s) && !slices.Contains(req.scopes, s) {
			req.scopes = append(req.scopes, s)
		}
	}
	if !slices.Contains(req.scopes, "openid") {
		fail("invalid_scope", "scope must contain openid")
		return
	}
	req.prompt = strings.Fields(raw.Get("prompt"))

	// 3. Who is this?
	now := p.now()
	if autoLogin != "" {
		if _, ok := p.users[autoLogin]; !ok {
			p.errorPage(w, http.StatusInternalServerError, "AutoLogin user "+autoLogin+" is not configured.")
			return
		}
		s := p.currentSession(r, now)
		if s == nil || s.username != autoLogin {
			s = p.startSession(w, r, autoLogin, now)
		}
		p.finishAuthorize(w, r, req, s, now)
		return
	}
	if r.Method == http.MethodPost && raw.Has("csrf") {
		p.handleLogin(w, r, req, raw, now)
		return
	}
	if !slices.Contains(req.prompt, "login") {
		if s := p.currentSession(r, now); s != nil {
			p.finishAuthorize(w, r, req, s, now) // SSO: silent
			return
		}
	}
	if slices.Contains(req.prompt, "none") {
		fail("login_required", "no provider session")
		return
	}
	p.loginPage(w, r, req, http.StatusOK, "")
}

func (p *Provider) handleLogin(w http.ResponseWriter, r *http.Request, req *authzRequest, form url.Values, now time.Time) {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" || !p.csrfOK(r, form.Get("csrf")) {
		p.loginPage(w, r, req, http.StatusForbidden, "The login form expired or was not sent from this page. Please try again.")
		return
	}
	u, ok := p.users[form.Get("username")]
	// Compare against something even for unknown users, to keep timing flat.
	want := "\x00no-such-user"
	if ok {
		want = u.Password
	}
	if !constantEqual(form.Get("password"), want) || !ok {
		p.loginPage(w, r, req, http.StatusForbidden, "Invalid username or password.")
		return
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		p.mu.Lock()
		delete(p.sessions, old.Value)
		p.mu.Unlock()
	}
	s := p.startSession(w, r, u.Username, now)
	p.finishAuthorize(w, r, req, s, now)
}

// finishAuthorize mints a code and sends the browser back to the client.
func (p *Provider) finishAuthorize(w http.ResponseWriter, r *http.Request, req *authzRequest, s *session, now time.Time) {
	code := randomToken(32)
	p.mu.Lock()
	p.sweepLocked(now)
	p.codes[code] = &authCode{
		clientID: req.clientID, redirectURI: req.redirectURI, scopes: req.scopes,
		nonce: req.nonce, challenge: req.challenge, username: s.username,
		sid: s.sid, authTime: s.authTime, expires: now.Add(codeTTL),
	}
	p.mu.Unlock()
	target, _ := url.Parse(req.redirectURI) // registered, so it parses
	q := target.Query()
	q.Set("code", code)
	q.Set("state", req.state)
	target.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target.String(), http.StatusFound)
}

func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, req *authzRequest, code, desc string) {
	target, _ := url.Parse(req.redirectURI)
	q := target.Query()
	q.Set("error", code)
	q.Set("error_description", desc)
	if req.state != "" {
		q.Set("state", req.state)
	}
	target.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// ---- provider browser session ----

func (p *Provider) cookiePath() string { return p.basePath + "/application/o/" }

func (p *Provider) currentSession(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sessions[c.Value]
	if !ok || now.After(s.expires) {
		return nil
	}
	if _, ok := p.users[s.username]; !ok {
		return nil
	}
	return s
}

func (p *Provider) startSession(w http.ResponseWriter, r *http.Request, username string, now time.Time) *session {
	id := randomToken(32)
	s := &session{username: username, sid: randomToken(16), authTime: now, expires: now.Add(sessionTTL)}
	p.mu.Lock()
	p.sweepLocked(now)
	p.sessions[id] = s
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: p.cookiePath(),
		HttpOnly: true, Secure: p.secureCookie, SameSite: http.SameSiteLaxMode,
	})
	return s
}

func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		p.mu.Lock()
		delete(p.sessions, c.Value)
		p.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: p.cookiePath(), MaxAge: -1,
		HttpOnly: true, Secure: p.secureCookie, SameSite: http.SameSiteLaxMode,
	})
}

// ---- CSRF: a random cookie and its HMAC in the form (double submit) ----

func (p *Provider) csrfToken(cookieValue string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte("login-csrf\x00" + cookieValue))
	return hex.EncodeToString(m.Sum(nil))
}

func (p *Provider) csrfOK(r *http.Request, field string) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" || field == "" {
		return false
	}
	return hmac.Equal([]byte(p.csrfToken(c.Value)), []byte(field))
}

// ensureCSRF returns the form token for this browser, setting the cookie
// when it has none.
func (p *Provider) ensureCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return p.csrfToken(c.Value)
	}
	v := randomToken(32)
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: v, Path: p.basePath + "/application/o/authorize/",
		MaxAge: int(csrfTTL / time.Second), HttpOnly: true, Secure: p.secureCookie, SameSite: http.SameSiteLaxMode,
	})
	return p.csrfToken(v)
}

// ---- end-session ----

func (p *Provider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.stats.EndSession++
	p.mu.Unlock()
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	var q url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			p.errorPage(w, http.StatusBadRequest, "The request body does not parse.")
			return
		}
		q = r.PostForm
	} else {
		q = r.URL.Query()
	}
	hint, target, state := q.Get("id_token_hint"), q.Get("post_logout_redirect_uri"), q.Get("state")
	if hint != "" {
		if _, err := p.verifyIDTokenHint(hint); err != nil {
			p.errorPage(w, http.StatusBadRequest, "id_token_hint is not valid: "+err.Error()+".")
			return
		}
	}
	if cid := q.Get("client_id"); cid != "" && cid != p.clientID {
		p.errorPage(w, http.StatusBadRequest, "Unknown client_id "+cid+".")
		return
	}
	if target != "" {
		if hint == "" {
			p.errorPage(w, http.StatusBadRequest, "post_logout_redirect_uri requires id_token_hint.")
			return
		}
		if !p.postLogout[target] {
			p.errorPage(w, http.StatusBadRequest, "post_logout_redirect_uri "+target+" is not registered for this client.")
			return
		}
	}
	p.endSession(w, r)
	if target == "" {
		p.render(w, http.StatusOK, "loggedout", pageData{Title: "Logged out"})
		return
	}
	u, _ := url.Parse(target)
	if state != "" {
		v := u.Query()
		v.Set("state", state)
		u.RawQuery = v.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// ---- HTML ----

type pageData struct {
	Title     string
	Message   string
	Error     string
	Action    string
	Hidden    []hiddenField
	CSRF      string
	Username  string
	DemoHint  string
	Issuer    string
	Discovery string
}

const pageHead = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>`

const pageStyle = ` · authgate dev provider</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f5;color:#18181b}
.banner{background:#b91c1c;color:#fff;padding:.6rem 1rem;font-weight:600;text-align:center}
main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 3px #0002}
label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}
button{margin-top:1.2rem;padding:.55rem 1.2rem}.error{color:#b91c1c}.hint{color:#52525b;font-size:.9rem}code{word-break:break-all}
</style></head><body>
<div class="banner" role="alert">`

// page writes one HTML page: the layout around the named page's content.
// Pages are written out rather than executed as html/template, which would
// keep 8 MB of otherwise dead code in the authgate binary that embeds this
// provider (see oidcflow's completePage). Every value passes through esc,
// in element text or in a double-quoted attribute; the two URLs (the form's
// action and the discovery link) are the provider's own.
func page(name string, d pageData) string {
	esc := html.EscapeString
	var b strings.Builder
	b.WriteString(pageHead + esc(d.Title) + pageStyle + esc(Banner) + "</div>\n<main>")
	switch name {
	case "login":
		b.WriteString("<h1>Sign in</h1>\n")
		if d.Error != "" {
			b.WriteString(`<p class="error" role="alert">` + esc(d.Error) + "</p>")
		}
		b.WriteString(`<form method="post" action="` + esc(d.Action) + `" autocomplete="off">` + "\n")
		for _, h := range d.Hidden {
			b.WriteString(`<input type="hidden" name="` + esc(h.Name) + `" value="` + esc(h.Value) + `">` + "\n")
		}
		b.WriteString(`<input type="hidden" name="csrf" value="` + esc(d.CSRF) + `">
<label for="username">Username</label><input type="text" id="username" name="username" value="` + esc(d.Username) + `" required autofocus>
<label for="password">Password</label><input type="password" id="password" name="password" required>
<button type="submit">Sign in</button>
</form>
`)
	case "error":
		b.WriteString(`<h1>Request rejected</h1><p class="error">` + esc(d.Message) + "</p>")
	case "loggedout":
		b.WriteString(`<h1>Logged out</h1><p>Your session at the development provider has ended.</p>`)
	case "index":
		b.WriteString(`<h1>authgate dev provider</h1>
<p>Issuer: <code>` + esc(d.Issuer) + `</code></p><p>Discovery: <a href="` + esc(d.Discovery) + `"><code>` + esc(d.Discovery) + "</code></a></p>\n")
	}
	if d.DemoHint != "" && (name == "login" || name == "index") {
		b.WriteString(`<p class="hint">` + esc(d.DemoHint) + "</p>")
	}
	b.WriteString("</main>\n</body></html>")
	return b.String()
}

// render writes a page with the provider's security headers.
func (p *Provider) render(w http.ResponseWriter, status int, name string, data pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, page(name, data))
}

func (p *Provider) errorPage(w http.ResponseWriter, status int, msg string) {
	p.render(w, status, "error", pageData{Title: "Error", Message: msg})
}

func (p *Provider) demoHint() string {
	if p.demoUsers {
		return "Demo account: alice / alice"
	}
	return ""
}

func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request, req *authzRequest, status int, errMsg string) {
	var hidden []hiddenField
	for _, name := range authzParamNames {
		if v, ok := req.values[name]; ok {
			hidden = append(hidden, hiddenField{Name: name, Value: v[0]})
		}
	}
	username := ""
	if r.Method == http.MethodPost {
		username = r.PostForm.Get("username")
	}
	p.render(w, status, "login", pageData{
		Title:    "Sign in",
		Error:    errMsg,
		Action:   p.basePath + "/application/o/authorize/",
		Hidden:   hidden,
		CSRF:     p.ensureCSRF(w, r),
		Username: username,
		DemoHint: p.demoHint(),
	})
}

func (p *Provider) handleIndex(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	p.render(w, http.StatusOK, "index", pageData{
		Title: "Development provider", Issuer: p.issuer, Discovery: p.DiscoveryURL(), DemoHint: p.demoHint(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
