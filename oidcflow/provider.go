// Package oidcflow is the browser side of OpenID Connect: discovery of the
// provider, and the /auth/* endpoints (login, callback, completion, exchange,
// refresh, logout, session) that turn a provider login into authgate cookies.
package oidcflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Provider is what discovery tells about the OpenID provider, with every URL
// already on the right side: browser-facing endpoints on the public base,
// server-to-server endpoints on the internal base.
type Provider struct {
	Issuer string
	// Browser-facing (public).
	AuthorizationURL string
	EndSessionURL    string
	// Server-to-server (internal).
	TokenURL    string
	JWKSURL     string
	UserinfoURL string
	// Client is the HTTP client for server-to-server calls; it presents the
	// public host to the internal URL (see hostRewriter).
	Client *http.Client
}

// Discovery is how to find the provider.
type Discovery struct {
	// Issuer is the public issuer, exactly as tokens carry it.
	Issuer string
	// PublicBase is the prefix of public URLs (Authentik's base URL, or the
	// issuer's origin); InternalBase replaces it for server-to-server calls.
	PublicBase, InternalBase string
	Timeout                  time.Duration
}

// ErrDiscovery wraps every discovery failure.
var ErrDiscovery = errors.New("oidc discovery")

// ErrIssuerMismatch (wrapped with ErrDiscovery) means the provider answered
// and named another issuer: a configuration error that retrying cannot fix
// (OIDF rp-discovery-issuer-not-matching-config).
var ErrIssuerMismatch = errors.New("issuer mismatch")

// Discover fetches ${issuer}/.well-known/openid-configuration over the internal
// URL and checks that it names the public issuer (OIDC Discovery §4.3: the
// issuer in the document must be identical to the one used to find it).
func Discover(ctx context.Context, d Discovery) (*Provider, error) {
	if d.Timeout <= 0 {
		d.Timeout = 10 * time.Second
	}
	rw := rewriter{public: strings.TrimRight(d.PublicBase, "/"), internal: strings.TrimRight(d.InternalBase, "/")}
	if rw.internal == "" {
		rw.internal = rw.public
	}
	client := &http.Client{Timeout: d.Timeout, Transport: newHostRewriter(rw)}
	// Never follow a redirect off the configured host: a compromised or
	// misconfigured discovery must not steer server-to-server calls elsewhere.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	wellKnown := rw.toInternal(strings.TrimSuffix(d.Issuer, "/") + "/.well-known/openid-configuration")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDiscovery, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch %s: %v", ErrDiscovery, wellKnown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s answered %d", ErrDiscovery, wellKnown, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: read: %v", ErrDiscovery, err)
	}
	var doc struct {
		Issuer        string `json:"issuer"`
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		JWKS          string `json:"jwks_uri"`
		Userinfo      string `json:"userinfo_endpoint"`
		EndSession    string `json:"end_session_endpoint"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: parse: %v", ErrDiscovery, err)
	}
	if doc.Issuer != d.Issuer {
		return nil, fmt.Errorf("%w: %w: document names issuer %q, configured issuer is %q (check AUTHENTIK_URL and AUTHENTIK_APP_SLUG or OIDC_ISSUER_URL: the trailing slash and the public URL)", ErrDiscovery, ErrIssuerMismatch, truncate(doc.Issuer, 256), d.Issuer)
	}
	if doc.Authorization == "" || doc.Token == "" || doc.JWKS == "" {
		return nil, fmt.Errorf("%w: document lacks authorization_endpoint, token_endpoint or jwks_uri", ErrDiscovery)
	}
	p := &Provider{
		Issuer:           doc.Issuer,
		AuthorizationURL: rw.toPublic(doc.Authorization),
		EndSessionURL:    rw.toPublic(doc.EndSession),
		TokenURL:         rw.toInternal(doc.Token),
		JWKSURL:          rw.toInternal(doc.JWKS),
		UserinfoURL:      rw.toInternal(doc.Userinfo),
		Client:           client,
	}
	for _, u := range []string{p.AuthorizationURL, p.TokenURL, p.JWKSURL} {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, fmt.Errorf("%w: endpoint %q is not an absolute http(s) URL", ErrDiscovery, u)
		}
	}
	return p, nil
}

// rewriter moves URLs between the public and the internal base.
type rewriter struct{ public, internal string }

func (rw rewriter) toInternal(u string) string { return swapBase(u, rw.public, rw.internal) }
func (rw rewriter) toPublic(u string) string   { return swapBase(u, rw.internal, rw.public) }

// swapBase replaces base from with to when u starts with it at a boundary.
func swapBase(u, from, to string) string {
	if from == to || from == "" {
		return u
	}
	if u == from || strings.HasPrefix(u, from+"/") || strings.HasPrefix(u, from+"?") {
		return to + u[len(from):]
	}
	return u
}

// hostRewriter sends requests to the internal base with the public Host and
// X-Forwarded-Proto. Providers that build URLs from the request (Authentik
// does, for the issuer it puts in tokens and discovery) then answer as if
// reached publicly, so the issuer matches what browsers and tokens see.
type hostRewriter struct {
	rw           rewriter
	publicHost   string
	publicScheme string
	internalHost string
	base         http.RoundTripper
}

func newHostRewriter(rw rewriter) http.RoundTripper {
	pub, _ := url.Parse(rw.public)
	in, _ := url.Parse(rw.internal)
	h := &hostRewriter{rw: rw, base: http.DefaultTransport}
	if pub != nil && in != nil && pub.Host != in.Host {
		h.publicHost, h.publicScheme, h.internalHost = pub.Host, pub.Scheme, in.Host
	}
	return h
}

func (h *hostRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	if h.internalHost != "" && req.URL.Host == h.internalHost {
		req = req.Clone(req.Context())
		req.Host = h.publicHost
		req.Header.Set("X-Forwarded-Host", h.publicHost)
		req.Header.Set("X-Forwarded-Proto", h.publicScheme)
	}
	return h.base.RoundTrip(req)
}
