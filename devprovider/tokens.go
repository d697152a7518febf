package devprovider

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// grant is what one login authorised: a user, scopes and the session facts
// that go into tokens.
type grant struct {
	user     User
	scopes   []string
	nonce    string
	sid      string
	authTime time.Time
	family   string // tokens of one code redemption and its refreshes
}

func hasScope(scopes []string, s string) bool { return slices.Contains(scopes, s) }

// identityClaims are the scope-dependent claims shared by the access token,
// the ID token and userinfo.
func identityClaims(u User, scopes []string) map[string]any {
	c := map[string]any{"sub": u.Subject}
	groups := u.Groups
	if groups == nil {
		groups = []string{}
	}
	c["groups"] = groups
	if hasScope(scopes, "email") {
		c["email"] = u.Email
		c["email_verified"] = u.Email != ""
	}
	if hasScope(scopes, "profile") || hasScope(scopes, "organization") {
		c["name"] = u.Name
	}
	if hasScope(scopes, "profile") {
		c["preferred_username"] = u.Username
		c["nickname"] = u.Username
		c["given_name"] = u.Name
	}
	if hasScope(scopes, "organization") {
		c["organizationId"] = u.OrganizationID
	}
	return c
}

func (p *Provider) accessClaims(g grant, now time.Time) map[string]any {
	c := identityClaims(g.user, g.scopes)
	c["iss"] = p.issuer
	c["aud"] = p.clientID // a string, as Authentik sends it
	c["azp"] = p.clientID
	c["iat"] = now.Unix()
	c["nbf"] = now.Unix()
	c["exp"] = now.Add(p.accessTTL).Unix()
	c["auth_time"] = g.authTime.Unix()
	c["scope"] = strings.Join(g.scopes, " ")
	c["sid"] = g.sid
	c["jti"] = randomToken(16)
	return c
}

func (p *Provider) idClaims(g grant, accessToken string, now time.Time) map[string]any {
	c := identityClaims(g.user, g.scopes)
	c["iss"] = p.issuer
	c["aud"] = p.clientID
	c["azp"] = p.clientID
	c["iat"] = now.Unix()
	c["nbf"] = now.Unix()
	c["exp"] = now.Add(p.accessTTL).Unix()
	c["auth_time"] = g.authTime.Unix()
	c["sid"] = g.sid
	c["acr"] = "goauthentik.io/providers/oauth2/default"
	if g.nonce != "" {
		c["nonce"] = g.nonce
	}
	sum := sha256.Sum256([]byte(accessToken))
	c["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
	return c
}

// signClaims signs with the current key and Authentik's header shape.
func (p *Provider) signClaims(claims map[string]any) (string, error) {
	p.mu.Lock()
	k := p.key
	p.mu.Unlock()
	h := map[string]any{"alg": k.alg, "typ": "JWT"}
	if k.kid != "" {
		h["kid"] = k.kid
	}
	return encodeJWS(k, p.clientSecret, h, claims)
}

// Sign signs arbitrary claims with the current key. header entries override
// or extend the default header {alg, kid, typ: JWT}; a nil value removes an
// entry. The signature follows the header's alg where the key allows it:
// "none" gives an empty signature, HS256/384/512 an HMAC keyed with the
// client secret, RS*/PS* use the RSA key; any other alg (e.g. "ES256" over an
// RSA key) is signed with the key's own algorithm, so the header lies.
func (p *Provider) Sign(header map[string]any, claims map[string]any) (string, error) {
	p.mu.Lock()
	k := p.key
	p.mu.Unlock()
	h := map[string]any{"alg": k.alg, "typ": "JWT"}
	if k.kid != "" {
		h["kid"] = k.kid
	}
	for name, v := range header {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	if claims == nil {
		claims = map[string]any{}
	}
	return encodeJWS(k, p.clientSecret, h, claims)
}

// AccessToken returns a valid access token for username, as issued after a
// login with scope "openid email profile organization offline_access".
// extra claims override the standard ones; a nil value removes a claim. The
// token is known to userinfo and revoke like any issued token.
func (p *Provider) AccessToken(username string, extra map[string]any) (string, error) {
	u, ok := p.users[username]
	if !ok {
		return "", fmt.Errorf("devprovider: AccessToken: unknown user %q", username)
	}
	now := p.now()
	g := grant{user: u, scopes: append([]string(nil), knownScopes...), sid: randomToken(16), authTime: now, family: randomToken(16)}
	claims := p.accessClaims(g, now)
	for name, v := range extra {
		if v == nil {
			delete(claims, name)
		} else {
			claims[name] = v
		}
	}
	tok, err := p.signClaims(claims)
	if err != nil {
		return "", fmt.Errorf("devprovider: AccessToken: %w", err)
	}
	exp := now.Add(p.accessTTL)
	if e, ok := numericClaim(claims["exp"]); ok {
		exp = time.Unix(e, 0)
	}
	p.mu.Lock()
	p.sweepLocked(now)
	p.accesses[hashToken(tok)] = &accessToken{clientID: p.clientID, claims: claims, expires: exp, family: g.family}
	p.mu.Unlock()
	return tok, nil
}

func numericClaim(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}

// issue mints the token response for g. withRefresh adds a refresh token
// (only ever true when offline_access was granted).
func (p *Provider) issue(g grant, withRefresh bool) (map[string]any, error) {
	now := p.now()
	ac := p.accessClaims(g, now)
	at, err := p.signClaims(ac)
	if err != nil {
		return nil, err
	}
	it, err := p.signClaims(p.idClaims(g, at, now))
	if err != nil {
		return nil, err
	}
	resp := map[string]any{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   int64(p.accessTTL / time.Second),
		"id_token":     it,
		"scope":        strings.Join(g.scopes, " "),
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked(now)
	p.accesses[hashToken(at)] = &accessToken{clientID: p.clientID, claims: ac, expires: now.Add(p.accessTTL), family: g.family}
	if withRefresh {
		rt := randomToken(48)
		p.refreshes[hashToken(rt)] = &refreshToken{
			clientID: p.clientID, username: g.user.Username, scopes: g.scopes, nonce: g.nonce,
			sid: g.sid, authTime: g.authTime, expires: now.Add(p.refreshTTL), family: g.family,
		}
		resp["refresh_token"] = rt
	}
	return resp, nil
}

// revokeFamilyLocked revokes every token of one grant family.
func (p *Provider) revokeFamilyLocked(family string) {
	for k, v := range p.refreshes {
		if v.family == family {
			delete(p.refreshes, k)
		}
	}
	for _, v := range p.accesses {
		if v.family == family {
			v.revoked = true
		}
	}
}

// ---- token endpoint ----

type oauthError struct {
	status int
	code   string
	desc   string
	basic  bool // client tried HTTP Basic: answer WWW-Authenticate
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func badRequest(code, desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, desc: desc}
}

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.status == http.StatusUnauthorized {
		if e.basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="authgate-devprovider"`)
		}
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

// parseTokenForm reads an application/x-www-form-urlencoded POST body,
// rejecting repeated parameters (RFC 6749 §3.2).
func parseTokenForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, badRequest("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("invalid_request", "request body does not parse")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, badRequest("invalid_request", "parameter "+k+" repeated")
		}
	}
	return r.PostForm, nil
}

// authenticateClient accepts client_secret_basic or client_secret_post,
// never both at once.
func (p *Provider) authenticateClient(r *http.Request, form url.Values) *oauthError {
	bid, bsecret, basic := r.BasicAuth()
	_, hasPostSecret := form["client_secret"]
	if basic && hasPostSecret {
		return badRequest("invalid_request", "more than one client authentication method")
	}
	var id, secret string
	if basic {
		// RFC 6749 §2.3.1: both are form-encoded before Basic encoding.
		id, secret = formUnescape(bid), formUnescape(bsecret)
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client_id does not match the authenticated client", basic: true}
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
		if !hasPostSecret {
			return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication required", basic: true}
		}
	}
	if !constantEqual(id, p.clientID) || !constantEqual(secret, p.clientSecret) {
		return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication failed", basic: basic}
	}
	return nil
}

func formUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func constantEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		p.countToken("")
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "token endpoint requires POST"})
		return
	}
	form, oerr := parseTokenForm(w, r)
	if oerr != nil {
		p.countToken("")
		writeOAuthError(w, oerr)
		return
	}
	grantType := form.Get("grant_type")
	p.countToken(grantType)
	if oerr := p.authenticateClient(r, form); oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	var resp map[string]any
	switch grantType {
	case "":
		oerr = badRequest("invalid_request", "grant_type is required")
	case "authorization_code":
		resp, oerr = p.codeGrant(form)
	case "refresh_token":
		resp, oerr = p.refreshGrant(form)
	default:
		oerr = badRequest("unsupported_grant_type", "grant_type "+grantType+" is not supported")
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (p *Provider) countToken(grantType string) {
	p.mu.Lock()
	p.stats.Token[grantType]++
	p.mu.Unlock()
}

func (p *Provider) codeGrant(form url.Values) (map[string]any, *oauthError) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	if code == "" {
		return nil, badRequest("invalid_request", "code is required")
	}
	now := p.now()
	p.mu.Lock()
	c, ok := p.codes[code]
	if ok && c.used {
		// Replay: the code was redeemed before. Revoke what it yielded.
		p.revokeFamilyLocked(c.family)
		p.mu.Unlock()
		return nil, badRequest("invalid_grant", "authorization code already used")
	}
	if ok {
		// Any redemption attempt consumes the code, successful or not.
		c.used = true
		c.family = randomToken(16)
	}
	p.mu.Unlock()
	switch {
	case !ok:
		return nil, badRequest("invalid_grant", "unknown authorization code")
	case now.After(c.expires):
		return nil, badRequest("invalid_grant", "authorization code expired")
	case c.clientID != p.clientID:
		return nil, badRequest("invalid_grant", "authorization code was issued to another client")
	case redirectURI != c.redirectURI:
		return nil, badRequest("invalid_grant", "redirect_uri does not match the authorization request")
	case verifier == "":
		return nil, badRequest("invalid_grant", "code_verifier is required")
	case !validVerifier(verifier):
		return nil, badRequest("invalid_grant", "code_verifier is malformed")
	}
	sum := sha256.Sum256([]byte(verifier))
	if !constantEqual(base64.RawURLEncoding.EncodeToString(sum[:]), c.challenge) {
		return nil, badRequest("invalid_grant", "PKCE verification failed")
	}
	u, ok := p.users[c.username]
	if !ok {
		return nil, badRequest("invalid_grant", "user no longer exists")
	}
	g := grant{user: u, scopes: c.scopes, nonce: c.nonce, sid: c.sid, authTime: c.authTime, family: c.family}
	resp, err := p.issue(g, hasScope(c.scopes, "offline_access"))
	if err != nil {
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: err.Error()}
	}
	return resp, nil
}

// validVerifier: RFC 7636 §4.1, 43–128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)) {
			return false
		}
	}
	return true
}

func (p *Provider) refreshGrant(form url.Values) (map[string]any, *oauthError) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, badRequest("invalid_request", "refresh_token is required")
	}
	now := p.now()
	h := hashToken(rt)
	p.mu.Lock()
	rec, ok := p.refreshes[h]
	if ok && now.After(rec.expires) {
		delete(p.refreshes, h)
		ok = false
	}
	if ok && rec.clientID != p.clientID {
		ok = false
	}
	rotate := ok && !p.omitRotated
	if rotate {
		delete(p.refreshes, h) // rotation: the old token dies now, no grace period
	}
	p.mu.Unlock()
	if !ok {
		return nil, badRequest("invalid_grant", "refresh token is invalid, expired or revoked")
	}
	scopes := rec.scopes
	if s := form.Get("scope"); s != "" {
		asked := strings.Fields(s)
		for _, a := range asked {
			if !hasScope(rec.scopes, a) {
				if rotate { // the request failed: give the token back
					p.mu.Lock()
					p.refreshes[h] = rec
					p.mu.Unlock()
				}
				return nil, badRequest("invalid_scope", "scope "+a+" exceeds the original grant")
			}
		}
		scopes = asked
	}
	u, ok := p.users[rec.username]
	if !ok {
		return nil, badRequest("invalid_grant", "user no longer exists")
	}
	g := grant{user: u, scopes: scopes, nonce: rec.nonce, sid: rec.sid, authTime: rec.authTime, family: rec.family}
	resp, err := p.issue(g, false)
	if err != nil {
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: err.Error()}
	}
	if rotate {
		nrt := randomToken(48)
		p.mu.Lock()
		p.refreshes[hashToken(nrt)] = &refreshToken{
			clientID: rec.clientID, username: rec.username, scopes: rec.scopes, nonce: rec.nonce,
			sid: rec.sid, authTime: rec.authTime, expires: now.Add(p.refreshTTL), family: rec.family,
		}
		p.mu.Unlock()
		resp["refresh_token"] = nrt
	}
	return resp, nil
}

// ---- userinfo and revocation ----

func (p *Provider) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.stats.UserInfo++
	p.mu.Unlock()
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	authz := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(authz, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authgate-devprovider"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "bearer token required"})
		return
	}
	now := p.now()
	p.mu.Lock()
	rec, ok := p.accesses[hashToken(strings.TrimSpace(tok))]
	valid := ok && !rec.revoked && !now.After(rec.expires)
	var claims map[string]any
	if valid {
		claims = map[string]any{}
		for _, name := range []string{"sub", "email", "email_verified", "name", "given_name", "preferred_username", "nickname", "groups", "organizationId"} {
			if v, ok := rec.claims[name]; ok {
				claims[name] = v
			}
		}
	}
	p.mu.Unlock()
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authgate-devprovider", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "access token is invalid, expired or revoked"})
		return
	}
	writeJSON(w, http.StatusOK, claims)
}

func (p *Provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.stats.Revoke++
	p.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "revocation endpoint requires POST"})
		return
	}
	form, oerr := parseTokenForm(w, r)
	if oerr == nil {
		oerr = p.authenticateClient(r, form)
	}
	if oerr == nil && form.Get("token") == "" {
		oerr = badRequest("invalid_request", "token is required")
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	h := hashToken(form.Get("token"))
	p.mu.Lock()
	if rec, ok := p.refreshes[h]; ok && rec.clientID == p.clientID {
		delete(p.refreshes, h)
	}
	if rec, ok := p.accesses[h]; ok && rec.clientID == p.clientID {
		rec.revoked = true
	}
	p.mu.Unlock()
	// RFC 7009 §2.2: 200 whether or not the token was known.
	w.WriteHeader(http.StatusOK)
}

// verifyIDTokenHint checks an id_token_hint: our signature (current or a
// retired key), our issuer, our client. An expired hint is accepted
// (OpenID RP-Initiated Logout §2).
func (p *Provider) verifyIDTokenHint(hint string) (map[string]any, error) {
	p.mu.Lock()
	keys := append([]*signingKey{p.key}, p.retired...)
	p.mu.Unlock()
	claims, err := decodeJWS(hint, keys)
	if err != nil {
		return nil, err
	}
	if iss, _ := claims["iss"].(string); iss != p.issuer {
		return nil, errors.New("issuer does not match")
	}
	switch aud := claims["aud"].(type) {
	case string:
		if aud != p.clientID {
			return nil, errors.New("audience does not match")
		}
	case []any:
		if !slices.Contains(aud, any(p.clientID)) {
			return nil, errors.New("audience does not match")
		}
	default:
		return nil, errors.New("audience missing")
	}
	return claims, nil
}
