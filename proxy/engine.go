// Package proxy is authgate's decision engine and its two front ends: a
// reverse proxy that forwards allowed requests with identity headers, and the
// forward-auth endpoints that answer a front proxy's "may this pass?" subrequest.
// Both call Engine.Decide, so they cannot disagree on the same request.
package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"strings"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/internal/hashcache"
	"github.com/authgate/authgate/tokens"
)

// Errors of the authentication step that are not token errors.
var (
	ErrNoToken   = errors.New("no token")
	ErrBadCookie = errors.New("session cookie unreadable")
	ErrBadHeader = errors.New("malformed Authorization header")
)

// Revoker reports whether a verified session was revoked (back-channel logout,
// local logout). It is consulted after the token cache, on every request. b is
// the binding sealed into the session cookie with the token (which login it
// belongs to); it is zero for a bearer token.
type Revoker interface {
	Revoked(ctx context.Context, c *tokens.Claims, b cookies.Binding) bool
}

// Engine decides whether a request may pass.
type Engine struct {
	verifier *tokens.Verifier
	jar      *cookies.Jar
	mapper   identity.Mapper
	routes   routes
	revoker  Revoker
	// sessions remembers session cookies already opened (nil when the token
	// cache is off), keyed by the SHA-256 of the sealed value. Opening one
	// again (base64 of ~3 KiB, AES-GCM, the binding's JSON) and hashing the
	// token inside would cost several times the lookup.
	sessions *hashcache.Cache[openedSession]
	// hot remembers the credentials of the most recent requests (bearer
	// tokens and sealed cookies, nil when the token cache is off), found by
	// a seeded maphash and then compared whole: a SHA-256 of a 2–3 KiB
	// credential costs 2–3 µs, most of what authgate adds to a request.
	hot  *hashcache.Cache[hotCred]
	seed maphash.Seed

	// OnDecision, when set, is told every decision (metrics). Set it before
	// the engine serves; it must be cheap and must not keep the Decision.
	OnDecision func(Decision)
}

// SessionCacheEntries bounds the cache of opened session cookies. An entry
// holds the token's claims and the login's binding (about 1 KiB), so the
// bound is lower than the token cache's; sessions beyond it still work, at
// the cost of opening their cookie again.
const SessionCacheEntries = 10_000

// HotEntries bounds the cache of recent credentials. An entry keeps the
// credential itself (2–3 KiB), so it holds the few hundred clients active at
// any moment; the others go through the hashed caches as before.
const HotEntries = 512

// hotCred is a credential verified recently.
type hotCred struct {
	cred    string // the bearer token or sealed cookie value, compared whole
	cookie  bool
	claims  *tokens.Claims
	binding cookies.Binding
	expires time.Time // the cookie's sealed expiry; zero for a bearer token
	m       *mapped   // the identity of claims
}

// mapped is an identity with the values of its headers. It is a function of
// the verified claims alone, so it is made once per recent credential and
// shared, read-only, by every request presenting that credential.
type mapped struct {
	id   identity.Identity
	vals headerValues
}

func (e *Engine) mapClaims(c *tokens.Claims) *mapped {
	m := &mapped{id: e.mapper.FromClaims(c)}
	m.vals = valuesOf(&m.id)
	return m
}

// openedSession is a session cookie opened and verified once.
type openedSession struct {
	claims  *tokens.Claims
	binding cookies.Binding
	expires time.Time // sealed in the cookie
}

// NewEngine builds the engine. revoker may be nil.
func NewEngine(cfg *config.Config, v *tokens.Verifier, jar *cookies.Jar, revoker Revoker) *Engine {
	e := &Engine{
		verifier: v,
		jar:      jar,
		mapper:   identity.Mapper{Rules: cfg.RoleRules, DefaultRole: cfg.DefaultRole},
		routes:   routes{public: cfg.PublicRoutes, rules: cfg.RouteRules},
		revoker:  revoker,
	}
	if cfg.TokenCacheEntries >= 0 {
		n := SessionCacheEntries
		if cfg.TokenCacheEntries > 0 {
			n = min(n, cfg.TokenCacheEntries)
		}
		e.sessions = hashcache.New[openedSession](n, nil)
		e.hot = hashcache.New[hotCred](min(n, HotEntries), nil)
		e.seed = maphash.MakeSeed()
	}
	return e
}

// Target is the request being judged: the request itself in proxy mode, the
// original request a front proxy describes in forward-auth mode.
type Target struct {
	Method string
	// Path is the decoded path; URI the request target as sent.
	Path string
	URI  string
}

// Decision is the outcome. There is exactly one way to get Allow: a public
// route, or a verified, unrevoked token whose identity satisfies the route.
type Decision struct {
	Allow bool
	m     *mapped // the identity and its header values; nil on public routes
	// Status is the deny status: 400 (unjudgeable request), 401 (no valid
	// session) or 403 (authenticated but lacking the route's role or group).
	Status int
	// Reason is a stable code for logs, metrics and JSON bodies.
	Reason string
	// Expired is set when the only problem is an expired access token, so a
	// browser navigation can go through refresh instead of a full login.
	Expired bool
}

func deny(status int, reason string) Decision { return Decision{Status: status, Reason: reason} }

// Decide judges a request. Every error on the way is a deny with a reason: it
// has one path to Allow and fails closed.
func (e *Engine) Decide(r *http.Request, t Target) Decision {
	d := e.decide(r, t)
	if e.OnDecision != nil {
		e.OnDecision(d)
	}
	return d
}

func (e *Engine) decide(r *http.Request, t Target) Decision {
	p, err := canonicalPath(t.Path)
	if err != nil || !requestTarget(t.URI) {
		return deny(http.StatusBadRequest, "invalid_path")
	}
	if e.routes.isPublic(p) {
		return Decision{Allow: true, Reason: "public_route"}
	}
	m, err := e.authenticate(r)
	if err != nil {
		d := deny(http.StatusUnauthorized, Reason(err))
		d.Expired = errors.Is(err, tokens.ErrExpired)
		return d
	}
	if !e.routes.allowed(p, &m.id) {
		return Decision{Status: http.StatusForbidden, Reason: "forbidden_role", m: m}
	}
	return Decision{Allow: true, m: m, Reason: "authenticated"}
}

// Authenticate finds the access token (the session cookie first, then an
// Authorization: Bearer header), verifies it and maps it to an identity. The
// identity may be shared with other requests: read it, never modify it.
func (e *Engine) Authenticate(r *http.Request) (*identity.Identity, error) {
	m, err := e.authenticate(r)
	if err != nil {
		return nil, err
	}
	return &m.id, nil
}

func (e *Engine) authenticate(r *http.Request) (*mapped, error) {
	claims, binding, m, err := e.verified(r)
	if err != nil {
		return nil, err
	}
	if e.revoker != nil && e.revoker.Revoked(r.Context(), claims, binding) {
		return nil, tokens.ErrRevoked
	}
	return m, nil
}

// verified returns the verified claims of the request's token, the binding
// sealed with it and the identity they map to. A session cookie opened before
// is found in e.sessions; every claim rule still runs on it (Recheck), and its
// sealed expiry is still enforced, so a hit answers exactly as opening the
// cookie again would.
func (e *Engine) verified(r *http.Request) (*tokens.Claims, cookies.Binding, *mapped, error) {
	var peeked string // the session cookie looked up below, and its key
	var peekedKey hashcache.Key
	if e.sessions != nil {
		// The credential the slow path would take first: the session cookie
		// if there is one (Peek's value is the one Read would pick whenever
		// it is a value opened before), else the bearer token. When it is in
		// neither cache, the slow path reads the header exactly as net/http
		// does.
		cred, cookie := e.presented(r.Header)
		// Made even for an empty credential (Peek may find an empty cookie),
		// so a session hit below always remembers under hotKey(cred).
		hk := e.hotKey(cred)
		if cred != "" {
			if h, ok := e.hot.Get(&hk); ok && h.cookie == cookie && sameCredential(h.cred, cred) &&
				(!cookie || !e.jar.Codec.Expired(h.expires)) {
				if err := e.verifier.Recheck(h.claims); err != nil {
					return nil, cookies.Binding{}, nil, err
				}
				return h.claims, h.binding, h.m, nil
			}
		}
		if cookie {
			peeked, peekedKey = cred, hashcache.KeyOf(cred)
			if s, ok := e.sessions.Get(&peekedKey); ok && !e.jar.Codec.Expired(s.expires) {
				if err := e.verifier.Recheck(s.claims); err != nil {
					return nil, cookies.Binding{}, nil, err
				}
				m := e.mapClaims(s.claims)
				e.remember(&hk, cred, true, s.claims, s.binding, s.expires, m)
				return s.claims, s.binding, m, nil
			}
		}
	}
	t, err := e.token(r)
	if err != nil {
		return nil, cookies.Binding{}, nil, err
	}
	claims, err := e.verifier.Verify(r.Context(), t.raw)
	if err != nil {
		return nil, cookies.Binding{}, nil, err
	}
	m := e.mapClaims(claims)
	if e.sessions != nil {
		if t.sealed != "" {
			k := peekedKey
			if t.sealed != peeked {
				k = hashcache.KeyOf(t.sealed) // Read picked another cookie than Peek
			}
			e.sessions.Put(&k, openedSession{claims: claims, binding: t.binding, expires: t.expires}, minTime(t.expires, claims.Expiry.Time), e.jar.Codec.Now())
			hk := e.hotKey(t.sealed)
			e.remember(&hk, t.sealed, true, claims, t.binding, t.expires, m)
		} else {
			hk := e.hotKey(t.raw)
			e.remember(&hk, t.raw, false, claims, t.binding, time.Time{}, m)
		}
	}
	return claims, t.binding, m, nil
}

// remember puts a verified credential, whose key is hk (hotKey(cred): the
// caller has it already on the session cache's path), into the hot cache.
// It is kept no longer than its token (after that, Recheck refuses it
// anyway) or cookie. On the slow path the key is made from the credential
// that was verified, never from the one looked up before it.
func (e *Engine) remember(hk *hashcache.Key, cred string, cookie bool, claims *tokens.Claims, b cookies.Binding, sealedExp time.Time, m *mapped) {
	exp := claims.Expiry.Time
	if cookie {
		exp = minTime(exp, sealedExp)
	}
	e.hot.Put(hk, hotCred{cred: cred, cookie: cookie, claims: claims, binding: b, expires: sealedExp, m: m}, exp, e.jar.Codec.Now())
}

// presented returns the credential the request would be judged by, without
// checking it: the session cookie's value (cookie true), or else a bearer
// token that is well-formed. "" when there is neither.
func (e *Engine) presented(h http.Header) (cred string, cookie bool) {
	if v, ok := e.jar.Auth.Peek(h); ok {
		return v, true
	}
	tok, err := bearer(h)
	if err != nil {
		return "", false
	}
	return tok, false
}

// hotKey places a credential in the hot cache. maphash is keyed with a seed
// chosen at start-up, so no client can aim two credentials at one entry;
// and a key is only where to look — a hit needs the whole credential equal.
func (e *Engine) hotKey(cred string) hashcache.Key {
	var k hashcache.Key
	binary.LittleEndian.PutUint64(k[:8], maphash.String(e.seed, cred))
	return k
}

// sameCredential compares the whole credential. A plain comparison, not a
// constant-time one (which goes byte by byte and would cost as much as the
// hash it replaces): a stored credential is only ever compared with a string
// whose 64-bit seeded maphash equals its own, and a client cannot find such a
// string without the seed, so its timing has nothing to tell.
func sameCredential(a, b string) bool { return a == b }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// found is a token as the request carries it.
type found struct {
	raw string
	// sealed is the session cookie's value when the token came from it, with
	// the binding and expiry sealed there; empty for a bearer token.
	sealed  string
	binding cookies.Binding
	expires time.Time
}

func (e *Engine) token(r *http.Request) (found, error) {
	var cookieErr error
	if sealed, ok := e.jar.Auth.Read(r); ok {
		o, err := e.jar.OpenSealed(e.jar.Auth, sealed)
		if err == nil {
			return found{raw: string(o.Value), sealed: sealed, binding: o.Binding, expires: o.Expires}, nil
		}
		// An unreadable cookie (old secret, tampering) is not fatal if the
		// client also sent a bearer token; otherwise it is the reason to deny.
		cookieErr = fmt.Errorf("%w: %v", ErrBadCookie, err)
	}
	tok, err := bearer(r.Header)
	if errors.Is(err, ErrNoToken) && cookieErr != nil {
		return found{}, cookieErr
	}
	if err != nil {
		return found{}, err
	}
	return found{raw: tok}, nil
}

// bearer returns the token of the request's Authorization header: ErrNoToken
// without one, ErrBadHeader unless it is exactly one "Bearer <token>".
func bearer(h http.Header) (string, error) {
	auth := h.Values("Authorization")
	switch {
	case len(auth) == 0:
		return "", ErrNoToken
	case len(auth) > 1:
		// Two Authorization headers: which one a later hop reads is anyone's guess.
		return "", ErrBadHeader
	}
	scheme, tok, ok := strings.Cut(auth[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrBadHeader
	}
	tok = strings.TrimSpace(tok)
	// Two byte searches, not ContainsAny: that checks a 2 KiB token byte by
	// byte, and costs a quarter of a forward-auth answer.
	if tok == "" || strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 {
		return "", ErrBadHeader
	}
	return tok, nil
}

// Reason maps an authentication error onto a stable code.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrNoToken):
		return "no_token"
	case errors.Is(err, ErrBadCookie):
		return "cookie_invalid"
	case errors.Is(err, ErrBadHeader):
		return "authorization_header_invalid"
	default:
		return tokens.Reason(err)
	}
}
