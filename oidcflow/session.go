package oidcflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/respond"
)

var (
	errRefreshRejected = errors.New("refresh token rejected by provider")
	errRefreshBusy     = errors.New("another refresh of this session did not finish in time")
)

type tokenSet struct {
	Access  string `json:"a"`
	Refresh string `json:"r"`
	IDToken string `json:"i,omitempty"`
}

// refresh renews the session: POST /auth/refresh (API clients) or
// GET /auth/refresh?rd=/path (a browser navigation that found its access token
// expired; it comes back to rd without the app seeing the expiry).
func (f *Flow) refresh(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	nav := r.Method == http.MethodGet
	rd := f.returnTarget(r.URL.Query().Get("rd"), "/")
	toLogin := func(code string, status int, err error) {
		f.onRefresh(code)
		f.log.InfoContext(r.Context(), "refresh failed", "error_code", code, "cause", err.Error())
		if nav {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, f.cfg.AuthPrefix+"/login?rd="+url.QueryEscape(rd), http.StatusFound)
			return
		}
		respond.Error(w, status, code)
	}
	if !nav && !f.sameOrigin(r) {
		f.fail(w, r, http.StatusForbidden, "cross_origin", errors.New("refresh from a foreign origin"))
		return
	}
	sealed, ok := f.jar.Refresh.Read(r)
	if !ok {
		toLogin("invalid_refresh_token", http.StatusUnauthorized, errors.New("no refresh cookie"))
		return
	}
	rt, session, err := f.jar.OpenBound(f.jar.Refresh, sealed)
	if err != nil {
		f.jar.Refresh.Clear(w)
		toLogin("invalid_refresh_token", http.StatusUnauthorized, fmt.Errorf("refresh cookie: %w", err))
		return
	}
	// A revoked login (logged out locally from another copy of the cookies,
	// or by the provider's back-channel logout) is not renewed: its refresh
	// token may still be good at the provider (offline_access tokens survive
	// a provider logout), so the check cannot be left to the provider.
	if f.sessions != nil && f.sessions.SessionRevoked(session) {
		f.jar.Refresh.Clear(w)
		f.jar.Auth.Clear(w)
		f.jar.ID.Clear(w)
		toLogin("invalid_refresh_token", http.StatusUnauthorized, errors.New("session revoked"))
		return
	}
	ts, err := f.refreshOnce(r.Context(), string(rt))
	switch {
	case errors.Is(err, errRefreshRejected):
		f.jar.Refresh.Clear(w)
		f.jar.Auth.Clear(w)
		toLogin("invalid_refresh_token", http.StatusUnauthorized, err)
		return
	case errors.Is(err, errRefreshBusy):
		toLogin("refresh_in_progress", http.StatusServiceUnavailable, err)
		return
	case err != nil:
		toLogin("refresh_failed", http.StatusBadGateway, err)
		return
	}
	if ts.IDToken == "" {
		if v, ok := f.jar.ID.Read(r); ok {
			if b, err := f.jar.Open(f.jar.ID, v); err == nil {
				ts.IDToken = string(b)
			}
		}
	}
	if err := f.setSession(w, ts.Access, ts.Refresh, ts.IDToken, session); err != nil {
		f.fail(w, r, http.StatusInternalServerError, "internal_error", err)
		return
	}
	f.onRefresh("success")
	f.log.InfoContext(r.Context(), "refresh")
	if nav {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, rd, http.StatusFound)
		return
	}
	respond.JSON(w, http.StatusOK, map[string]bool{"success": true})
}

// refreshOnce makes sure at most one refresh of a session runs at a time, in
// this process (singleflight) and across replicas (a lock in the store):
// Authentik rotates the refresh token on every use with no grace period, so
// two concurrent refreshes with one token would end the session. Whoever waits
// gets the winner's result, which is kept briefly under the old token's hash.
func (f *Flow) refreshOnce(ctx context.Context, rt string) (*tokenSet, error) {
	key := "refresh:" + hashHex(rt)
	v, err, _ := f.refreshes.Do(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		return f.refreshShared(ctx, key, rt)
	})
	if err != nil {
		return nil, err
	}
	ts := *v.(*tokenSet)
	return &ts, nil
}

// refreshResultTTL is how long a refresh's result stays redeemable with the
// refresh token it replaced. It must outlast the waiters' 10 s poll, and it
// lets a second tab whose request left with the old cookie just after the
// first finished keep its session; beyond that, the old token is as dead at
// authgate as at a provider that rotates without grace.
const refreshResultTTL = 15 * time.Second

func (f *Flow) refreshShared(ctx context.Context, key, rt string) (*tokenSet, error) {
	if ts, ok := f.refreshResult(ctx, key); ok {
		return ts, nil
	}
	locked, err := f.store.PutNew(ctx, key+":lock", []byte("1"), 15*time.Second)
	if err != nil {
		// Without a store the cross-replica lock is lost, not the session:
		// refresh anyway (this process still serialises its own callers).
		f.log.WarnContext(ctx, "refresh lock unavailable", "error", err.Error())
		locked = true
	}
	if !locked {
		deadline := time.NewTimer(10 * time.Second)
		defer deadline.Stop()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if ts, ok := f.refreshResult(ctx, key); ok {
					return ts, nil
				}
			case <-deadline.C:
				return nil, errRefreshBusy
			case <-ctx.Done():
				return nil, errRefreshBusy
			}
		}
	}
	ts, err := f.grantRefresh(ctx, rt)
	if err != nil {
		_ = f.store.Delete(ctx, key+":lock")
		return nil, err
	}
	if b, err := f.seal("refresh", ts, refreshResultTTL); err == nil {
		_ = f.store.Put(ctx, key+":result", b, refreshResultTTL)
	}
	return ts, nil
}

func (f *Flow) refreshResult(ctx context.Context, key string) (*tokenSet, bool) {
	b, err := f.store.Get(ctx, key+":result")
	if err != nil {
		return nil, false
	}
	var ts tokenSet
	if f.open("refresh", b, &ts) != nil {
		return nil, false
	}
	return &ts, true
}

// grantRefresh runs the refresh_token grant over the internal URL.
func (f *Flow) grantRefresh(ctx context.Context, rt string) (*tokenSet, error) {
	tok, err := f.oauth.TokenSource(f.providerCtx(ctx), &oauth2.Token{RefreshToken: rt}).Token()
	f.onToken("refresh_token", err)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_token") {
			return nil, fmt.Errorf("%w: %v", errRefreshRejected, describeOAuthError(err))
		}
		return nil, describeOAuthError(err)
	}
	if _, err := f.access.Verify(ctx, tok.AccessToken); err != nil {
		return nil, fmt.Errorf("refreshed access token: %w", err)
	}
	ts := &tokenSet{Access: tok.AccessToken, Refresh: tok.RefreshToken}
	// A refresh response may carry no new refresh token (Authentik, some
	// configurations): keep the old one rather than ending the session.
	if ts.Refresh == "" {
		ts.Refresh = rt
	}
	if rawID, _ := tok.Extra("id_token").(string); rawID != "" {
		if _, err := f.verifyIDToken(ctx, rawID); err == nil {
			ts.IDToken = rawID
		}
	}
	return ts, nil
}

// logout ends the session: POST answers {"logoutUrl": ...}; GET redirects there.
func (f *Flow) logout(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	if r.Method == http.MethodPost && !f.sameOrigin(r) {
		f.fail(w, r, http.StatusForbidden, "cross_origin", errors.New("logout from a foreign origin"))
		return
	}
	after, state, err := f.logoutParams(w, r)
	if err != nil {
		f.fail(w, r, http.StatusBadRequest, "invalid_request", err)
		return
	}
	if after == "" {
		f.fail(w, r, http.StatusBadRequest, "invalid_redirect", errors.New("post_logout_redirect_uri not in the allow-list"))
		return
	}
	idToken, session := f.loggingOut(r)
	// The login is revoked, not only its cookies cleared here: a copy of the
	// cookies (another tab's jar, a stolen cookie) stops working at once
	// rather than at the access token's exp.
	if f.sessions != nil && !session.IsZero() {
		if err := f.sessions.EndSession(r.Context(), session); err != nil {
			f.log.WarnContext(r.Context(), "logout: session not revoked", "error", err.Error())
		}
	}
	// Cleared with the attributes they were set with; otherwise the browser
	// keeps the original cookie alive.
	f.jar.Auth.Clear(w)
	f.jar.Refresh.Clear(w)
	f.jar.ID.Clear(w)
	target := f.logoutURL(idToken, after, state)
	f.log.InfoContext(r.Context(), "logout")
	if r.Method == http.MethodGet {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	respond.JSON(w, http.StatusOK, map[string]string{"logoutUrl": target})
}

// logoutURL is the provider's end-session URL (OIDC RP-Initiated Logout §2).
// post_logout_redirect_uri goes only with id_token_hint: Authentik (and the
// spec, §2) require the hint when a redirect is asked for. state goes with
// it, and the provider hands it back to that URL (§3).
func (f *Flow) logoutURL(idToken, after, state string) string {
	if f.provider.EndSessionURL == "" {
		// No provider logout: authgate sends the browser on itself, with the
		// state the provider would have returned.
		return withState(after, state)
	}
	q := url.Values{}
	q.Set("client_id", f.cfg.ClientID)
	if idToken != "" {
		q.Set("id_token_hint", idToken)
		if after != "/" {
			q.Set("post_logout_redirect_uri", after)
			if state != "" {
				q.Set("state", state)
			}
		}
	}
	sep := "?"
	if strings.Contains(f.provider.EndSessionURL, "?") {
		sep = "&"
	}
	return f.provider.EndSessionURL + sep + q.Encode()
}

// session answers who the caller is: GET /auth/session.
func (f *Flow) session(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	id, reason := f.authn(r)
	if id == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authgate"`)
		respond.Error(w, http.StatusUnauthorized, reason)
		return
	}
	respond.JSON(w, http.StatusOK, id)
}
