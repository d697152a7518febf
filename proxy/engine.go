// Package proxy is authgate's decision engine and its two front ends: a
// reverse proxy that forwards allowed requests with identity headers, and the
// forward-auth endpoints that answer a front proxy's "may this pass?" subrequest.
// Both call Engine.Decide, so they cannot disagree on the same request.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/identity"
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

	// OnDecision, when set, is told every decision (metrics). Set it before
	// the engine serves; it must be cheap and must not keep the Decision.
	OnDecision func(Decision)
}

// NewEngine builds the engine. revoker may be nil.
func NewEngine(cfg *config.Config, v *tokens.Verifier, jar *cookies.Jar, revoker Revoker) *Engine {
	return &Engine{
		verifier: v,
		jar:      jar,
		mapper:   identity.Mapper{Rules: cfg.RoleRules, DefaultRole: cfg.DefaultRole},
		routes:   routes{public: cfg.PublicRoutes, rules: cfg.RouteRules},
		revoker:  revoker,
	}
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
	raw, binding, err := e.token(r)
	if err != nil {
		return nil, err
	}
	claims, err := e.verifier.Verify(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	if e.revoker != nil && e.revoker.Revoked(r.Context(), claims, binding) {
		return nil, tokens.ErrRevoked
	}
	id := e.mapper.FromClaims(claims)
	return &id, nil
}

func (e *Engine) token(r *http.Request) (string, cookies.Binding, error) {
	var cookieErr error
	if sealed, ok := e.jar.Auth.Read(r); ok {
		raw, binding, err := e.jar.OpenBound(e.jar.Auth, sealed)
		if err == nil {
			return string(raw), binding, nil
		}
		// An unreadable cookie (old secret, tampering) is not fatal if the
		// client also sent a bearer token; otherwise it is the reason to deny.
		cookieErr = fmt.Errorf("%w: %v", ErrBadCookie, err)
	}
	auth := r.Header.Values("Authorization")
	switch {
	case len(auth) == 0:
		if cookieErr != nil {
			return "", cookies.Binding{}, cookieErr
		}
		return "", cookies.Binding{}, ErrNoToken
	case len(auth) > 1:
		// Two Authorization headers: which one a later hop reads is anyone's guess.
		return "", cookies.Binding{}, ErrBadHeader
	}
	scheme, tok, ok := strings.Cut(auth[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", cookies.Binding{}, ErrBadHeader
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", cookies.Binding{}, ErrBadHeader
	}
	return tok, cookies.Binding{}, nil
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
