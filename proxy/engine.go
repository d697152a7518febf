// Package proxy is authgate's decision engine and its two front ends: a
// reverse proxy that forwards allowed requests with identity headers, and the
// forward-auth endpoints that answer a front proxy's "may this pass?" subrequest.
// Both call Engine.Decide, so they cannot disagree on the same request.
package proxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unsafe"

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

	// OnDecision, when set, is told every decision (metrics). Set it before
	// the engine serves; it must be cheap and must not keep the Decision.
	OnDecision func(Decision)
}

// SessionCacheEntries bounds the cache of opened session cookies. An entry
// holds the token's claims and the login's binding (about 1 KiB), so the
// bound is lower than the token cache's; sessions beyond it still work, at
// the cost of opening their cookie again.
const SessionCacheEntries = 10_000

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
	Allow    bool
	Identity *identity.Identity // nil on public routes
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
	id, err := e.Authenticate(r)
	if err != nil {
		d := deny(http.StatusUnauthorized, Reason(err))
		d.Expired = errors.Is(err, tokens.ErrExpired)
		return d
	}
	if !e.routes.allowed(p, id) {
		return Decision{Status: http.StatusForbidden, Reason: "forbidden_role", Identity: id}
	}
	return Decision{Allow: true, Identity: id, Reason: "authenticated"}
}

// Authenticate finds the access token (the session cookie first, then an
// Authorization: Bearer header), verifies it and maps it to an identity.
func (e *Engine) Authenticate(r *http.Request) (*identity.Identity, error) {
	claims, binding, err := e.verified(r)
	if err != nil {
		return nil, err
	}
	if e.revoker != nil && e.revoker.Revoked(r.Context(), claims, binding) {
		return nil, tokens.ErrRevoked
	}
	id := e.mapper.FromClaims(claims)
	return &id, nil
}

// verified returns the verified claims of the request's token and the binding
// sealed with it. A session cookie opened before is found in e.sessions; every
// claim rule still runs on it (Recheck), and its sealed expiry is still
// enforced, so a hit answers exactly as opening the cookie again would.
func (e *Engine) verified(r *http.Request) (*tokens.Claims, cookies.Binding, error) {
	if e.sessions != nil {
		// Peek's value is the one Read would pick whenever it is a value
		// opened before; when it is not in the cache, the slow path reads
		// the header exactly as net/http does.
		if sealed, ok := e.jar.Auth.Peek(r.Header); ok {
			k := sessionKey(sealed)
			if s, ok := e.sessions.Get(&k); ok && !e.jar.Codec.Expired(s.expires) {
				if err := e.verifier.Recheck(s.claims); err != nil {
					return nil, cookies.Binding{}, err
				}
				return s.claims, s.binding, nil
			}
		}
	}
	t, err := e.token(r)
	if err != nil {
		return nil, cookies.Binding{}, err
	}
	claims, err := e.verifier.Verify(r.Context(), t.raw)
	if err != nil {
		return nil, cookies.Binding{}, err
	}
	if t.sealed != "" && e.sessions != nil {
		k := sessionKey(t.sealed)
		exp := t.expires
		if claims.Expiry.Before(exp) {
			exp = claims.Expiry.Time // useless after that: Recheck refuses it
		}
		e.sessions.Put(&k, openedSession{claims: claims, binding: t.binding, expires: t.expires}, exp, e.jar.Codec.Now())
	}
	return claims, t.binding, nil
}

// sessionKey is the SHA-256 of a sealed cookie value, hashed in place (the
// hash keeps no reference to its input).
func sessionKey(sealed string) hashcache.Key {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(sealed), len(sealed)))
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
	auth := r.Header.Values("Authorization")
	switch {
	case len(auth) == 0:
		if cookieErr != nil {
			return found{}, cookieErr
		}
		return found{}, ErrNoToken
	case len(auth) > 1:
		// Two Authorization headers: which one a later hop reads is anyone's guess.
		return found{}, ErrBadHeader
	}
	scheme, tok, ok := strings.Cut(auth[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return found{}, ErrBadHeader
	}
	tok = strings.TrimSpace(tok)
	// Two byte searches, not ContainsAny: that checks a 2 KiB token byte by
	// byte, and costs a quarter of a forward-auth answer.
	if tok == "" || strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 {
		return found{}, ErrBadHeader
	}
	return found{raw: tok}, nil
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
