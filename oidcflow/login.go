package oidcflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/respond"
	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/tokens"
)

// Sizes of the random values, in bytes: 256 bits each, above the design's
// minimum of 128 bits for state and 160 bits for exchange codes.
const (
	stateBytes    = 32
	bindingBytes  = 32
	exchangeBytes = 32
	sessionBytes  = 24
	maxQuery      = 8 << 10
)

// stateRecord is what a login remembers until its callback.
type stateRecord struct {
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	Return   string `json:"rd"`
	Binding  string `json:"b"` // hash of the browser-binding value
}

// exchangeRecord is what the callback hands to the exchange endpoint.
type exchangeRecord struct {
	Access  string `json:"a"`
	Refresh string `json:"r,omitempty"`
	IDToken string `json:"i,omitempty"`
	Binding string `json:"b"`
	Return  string `json:"rd"`
	Expires int64  `json:"e"` // unix ms
	// Session is sealed into the cookies with the tokens (revocation).
	Session cookies.Binding `json:"s"`
}

// login starts a login: GET /auth/login?rd=/path.
func (f *Flow) login(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	if len(r.URL.RawQuery) > maxQuery {
		f.fail(w, r, http.StatusBadRequest, "invalid_request", errors.New("query too long"))
		return
	}
	rd := "/"
	if raw := r.URL.Query().Get("rd"); raw != "" {
		v, err := f.returns.Validate(raw)
		if err != nil {
			f.fail(w, r, http.StatusBadRequest, "invalid_redirect", err)
			return
		}
		rd = v
	}
	// The binding ties state and exchange code to this browser: a login
	// started in one browser cannot be completed in another (login CSRF), and a
	// leaked exchange code is useless elsewhere. Several tabs share one binding.
	m := f.mark(r)
	if m.Binding == "" {
		m.Binding = randomToken(bindingBytes)
	}
	binding := m.Binding
	if f.countLogin(&m, rd) {
		f.log.WarnContext(r.Context(), "login loop stopped", "error_code", "login_loop", "count", m.Count)
		_ = f.setMark(w, m)
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, loopPage(m.Count, f.cfg.AuthPrefix+"/login?rd="+url.QueryEscape(rd)))
			return
		}
		respond.Error(w, http.StatusTooManyRequests, "login_loop")
		return
	}
	state := randomToken(stateBytes)
	nonce := randomToken(stateBytes)
	verifier := oauth2.GenerateVerifier()

	rec, err := f.seal("state", stateRecord{Verifier: verifier, Nonce: nonce, Return: rd, Binding: hashHex(binding)}, StateTTL)
	if err != nil {
		f.fail(w, r, http.StatusInternalServerError, "internal_error", err)
		return
	}
	if err := f.store.Put(r.Context(), "state:"+state, rec, StateTTL); err != nil {
		f.storeFail(w, r, fmt.Errorf("save state: %w", err))
		return
	}
	if err := f.setMark(w, m); err != nil {
		f.fail(w, r, http.StatusInternalServerError, "internal_error", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, f.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), http.StatusFound)
}

// loginMark is the content of the login cookie: the browser binding, and how
// often this browser started a login for the same target lately (to break
// redirect loops, e.g. when the app's domain rejects authgate's cookies).
type loginMark struct {
	Binding string `json:"b"`
	Target  string `json:"t"` // hash of the return target
	Count   int    `json:"n"`
	Since   int64  `json:"s"` // unix seconds of the first start in the window
}

// A browser that starts more than loopLimit logins for one target within
// loopWindow is stopped with an explanation instead of bouncing forever.
const (
	loopLimit  = 5
	loopWindow = 2 * time.Minute
)

func (f *Flow) mark(r *http.Request) loginMark {
	v, ok := f.jar.Login.Read(r)
	if !ok {
		return loginMark{}
	}
	b, err := f.jar.Open(f.jar.Login, v)
	if err != nil {
		return loginMark{}
	}
	var m loginMark
	if json.Unmarshal(b, &m) != nil || !validRandom(m.Binding, bindingBytes) {
		return loginMark{}
	}
	return m
}

func (f *Flow) binding(r *http.Request) string { return f.mark(r).Binding }

func (f *Flow) setMark(w http.ResponseWriter, m loginMark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	v, err := f.jar.Seal(f.jar.Login, string(b), f.now().Add(StateTTL))
	if err != nil {
		return err
	}
	f.jar.Login.Set(w, v)
	return nil
}

// countLogin updates the loop counter for target and reports whether the
// browser is looping.
func (f *Flow) countLogin(m *loginMark, target string) bool {
	now := f.now()
	t := hashHex(target)
	if m.Target != t || now.Sub(time.Unix(m.Since, 0)) > loopWindow {
		m.Target, m.Count, m.Since = t, 0, now.Unix()
	}
	m.Count++
	return m.Count > loopLimit
}

// loopPage explains a stopped sign-in loop. Written out for the reason
// completePage is; the retry link is escaped by html.EscapeString.
func loopPage(count int, retry string) string {
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in loop stopped</title></head>
<body><h1>Sign-in keeps starting over</h1>
<p>You were sent to sign in ` + strconv.Itoa(count) + ` times in a row for the same page, so authgate stopped the loop.
This usually means the browser does not keep authgate's session cookie for this site: the cookie
domain does not cover this host, the site is reached over http while cookies are Secure, or
cookies are blocked.</p>
<p>Wait two minutes and <a href="` + html.EscapeString(retry) + `">try again</a>, or ask the site's operator to check
authgate's cookie_domain, api_url and allowed_redirect_hosts.</p></body></html>
`
}

// callback finishes the provider round trip: GET /auth/callback?code&state.
func (f *Flow) callback(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet) {
		return
	}
	if len(r.URL.RawQuery) > maxQuery {
		f.fail(w, r, http.StatusBadRequest, "invalid_request", errors.New("query too long"))
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if !validRandom(state, stateBytes) {
		f.fail(w, r, http.StatusBadRequest, "invalid_state", errors.New("malformed state"))
		return
	}
	// The state is deleted before anything else is looked at: whatever happens
	// next, it cannot be used twice.
	raw, err := f.store.Take(r.Context(), "state:"+state)
	if errors.Is(err, store.ErrNotFound) {
		f.fail(w, r, http.StatusBadRequest, "invalid_state", errors.New("unknown, used or expired state"))
		return
	} else if err != nil {
		f.storeFail(w, r, fmt.Errorf("take state: %w", err))
		return
	}
	var rec stateRecord
	if err := f.open("state", raw, &rec); err != nil {
		f.fail(w, r, http.StatusBadRequest, "invalid_state", fmt.Errorf("state record: %w", err))
		return
	}
	if b := f.binding(r); b == "" || !equalHash(hashHex(b), rec.Binding) {
		f.fail(w, r, http.StatusBadRequest, "invalid_state", errors.New("state was issued to another browser"))
		return
	}
	if e := q.Get("error"); e != "" {
		code := "provider_error"
		status := http.StatusBadGateway
		if e == "access_denied" {
			code, status = "access_denied", http.StatusForbidden
		}
		f.fail(w, r, status, code, fmt.Errorf("provider returned error %q", truncate(e, 64)))
		return
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		f.fail(w, r, http.StatusBadRequest, "invalid_request", errors.New("missing or oversized code"))
		return
	}

	ctx := f.providerCtx(r.Context())
	tok, err := f.oauth.Exchange(ctx, code, oauth2.VerifierOption(rec.Verifier))
	f.onToken("authorization_code", err)
	if err != nil {
		f.fail(w, r, http.StatusBadGateway, "token_exchange_failed", describeOAuthError(err))
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		f.fail(w, r, http.StatusBadGateway, "invalid_id_token", errors.New("token response has no id_token"))
		return
	}
	idt, err := f.verifyIDToken(r.Context(), rawID)
	if err != nil {
		f.fail(w, r, http.StatusBadGateway, "invalid_id_token", err)
		return
	}
	// OIDC Core §3.1.3.7 (11): the nonce binds the ID token to this login.
	if !equalHash(idt.Nonce, rec.Nonce) {
		f.fail(w, r, http.StatusBadGateway, "invalid_id_token", errors.New("nonce mismatch"))
		return
	}
	claims, err := f.access.Verify(r.Context(), tok.AccessToken)
	if err != nil {
		f.fail(w, r, http.StatusBadGateway, "invalid_access_token", fmt.Errorf("access token from provider: %w", err))
		return
	}
	if claims.Subject != idt.Subject {
		f.fail(w, r, http.StatusBadGateway, "invalid_access_token", errors.New("access token and ID token name different subjects"))
		return
	}
	id := f.mapper.FromClaims(claims)
	session := f.newSession(idt, claims)
	if id.SessionID == "" {
		id.SessionID = session.ProviderSession
	}
	if f.provision != nil {
		// The provisioner returns an error only when it is configured to be
		// required; otherwise it counts and logs its own failures.
		if err := f.provision.Provision(r.Context(), id); err != nil {
			f.fail(w, r, http.StatusBadGateway, "provisioning_failed", err)
			return
		}
	}

	exchange := randomToken(exchangeBytes)
	xrec, err := f.seal("exchange", exchangeRecord{
		Access: tok.AccessToken, Refresh: tok.RefreshToken, IDToken: rawID,
		Binding: rec.Binding, Return: rec.Return, Expires: f.now().Add(ExchangeTTL).UnixMilli(),
		Session: session,
	}, ExchangeTTL)
	if err != nil {
		f.fail(w, r, http.StatusInternalServerError, "internal_error", err)
		return
	}
	if err := f.store.Put(r.Context(), "exchange:"+exchange, xrec, ExchangeTTL); err != nil {
		f.storeFail(w, r, fmt.Errorf("save exchange code: %w", err))
		return
	}
	f.log.InfoContext(r.Context(), "login", "sub", id.Subject, "role", id.Role)

	var target string
	if f.cfg.FrontendURL != "" {
		target = f.cfg.FrontendURL + "/auth/callback?exchange=" + exchange + "&redirect=" + url.QueryEscape(rec.Return)
	} else {
		target = f.cfg.AuthPrefix + "/complete?exchange=" + exchange + "&rd=" + url.QueryEscape(rec.Return)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusFound)
}

// newSession describes a new login for its cookies: a fresh authgate session
// id (what a local logout revokes), the provider's session id from the ID
// token (what a back-channel logout names; Hydra puts it only there), the
// subject, and the access token's iat as the login time (the provider's
// clock, which subject-wide logouts are compared with).
func (f *Flow) newSession(idt *oidc.IDToken, access *tokens.Claims) cookies.Binding {
	var c struct {
		SID string `json:"sid"`
	}
	_ = idt.Claims(&c)
	if c.SID == "" {
		c.SID = access.SessionID
	}
	at := f.now().Unix()
	if access.IssuedAt.Set {
		at = access.IssuedAt.Unix()
	}
	return cookies.Binding{Session: randomToken(sessionBytes), ProviderSession: c.SID, Subject: access.Subject, LoginAt: at}
}

// describeOAuthError keeps the provider's error code and drops its body, which
// may echo what was sent.
func describeOAuthError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = "unknown"
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Errorf("token endpoint answered %d %s", status, truncate(code, 64))
	}
	return fmt.Errorf("token endpoint: %w", err)
}

func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n]
	}
	return s
}
