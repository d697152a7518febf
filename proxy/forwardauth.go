package proxy

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/authgate/authgate/internal/httptoken"
	"github.com/authgate/authgate/respond"
)

// Forward-auth mode: a front proxy (Nginx auth_request, Traefik forwardAuth,
// Caddy forward_auth, Envoy ext_authz) asks authgate about a request it holds.
// The answer comes from the same Engine.Decide as proxy mode; only the way the
// original request is described and the way a deny is spelled differ.
//
//	Nginx:   auth_request /auth/verify;   X-Original-URL, X-Original-Method
//	         (answers only 2xx/401/403: Nginx turns anything else into a 500)
//	Traefik: forwardAuth address .../auth/forward;  X-Forwarded-Method/-Proto/-Host/-Uri
//	Caddy:   forward_auth ... { uri /auth/forward }  (same headers as Traefik)
//	Envoy:   ext_authz http_service path_prefix /auth/envoy  (original path appended)

// Flavour names a front proxy's dialect.
type Flavour int

const (
	Nginx Flavour = iota
	Traefik
	Envoy
)

var errForwarded = errors.New("forwarded request description missing or malformed")

// original is the request a front proxy describes.
type original struct {
	Method, Scheme, Host string
	URI                  string // escaped path and query
	Path                 string // decoded path
}

// describe reads the original request. The description is believed only from
// a trusted proxy: anyone else could claim to be asking about a public path.
func (h *Handler) describe(r *http.Request, f Flavour) (original, error) {
	if !h.trusted.contains(peerAddr(r.RemoteAddr)) {
		return original{}, errUntrusted
	}
	var o original
	switch f {
	case Nginx:
		o.Method = r.Header.Get("X-Original-Method")
		if raw := r.Header.Get("X-Original-URL"); raw != "" {
			u, err := url.Parse(raw)
			if err != nil || !requestTarget(raw) || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				return original{}, errForwarded
			}
			o.Scheme, o.Host, o.URI = u.Scheme, u.Host, u.RequestURI()
		} else {
			o.URI = r.Header.Get("X-Original-URI")
			o.Host = r.Header.Get("X-Forwarded-Host")
			if o.Host == "" {
				o.Host = r.Host
			}
			o.Scheme = r.Header.Get("X-Forwarded-Proto")
		}
	case Traefik:
		o.Method = r.Header.Get("X-Forwarded-Method")
		o.Scheme = r.Header.Get("X-Forwarded-Proto")
		o.Host = r.Header.Get("X-Forwarded-Host")
		o.URI = r.Header.Get("X-Forwarded-Uri")
	case Envoy:
		// Envoy sends the original method and appends the original path to
		// the configured prefix; Host is the original :authority.
		o.Method = r.Method
		o.Host = r.Host
		o.Scheme = r.Header.Get("X-Forwarded-Proto")
		prefix := h.cfg.AuthPrefix + "/envoy"
		o.URI = strings.TrimPrefix(r.URL.RequestURI(), prefix)
		if o.URI == "" || o.URI[0] != '/' || !requestTarget(r.RequestURI) {
			return original{}, errForwarded
		}
	}
	if o.Scheme == "" {
		o.Scheme = "http"
	}
	if o.Method == "" || len(o.Method) > 32 || !httptoken.Valid(o.Method) {
		return original{}, errForwarded
	}
	if o.Scheme != "http" && o.Scheme != "https" {
		return original{}, errForwarded
	}
	if o.Host == "" || !validHost(o.Host) {
		return original{}, errForwarded
	}
	if o.URI == "" || o.URI[0] != '/' || len(o.URI) > 8<<10 || !requestTarget(o.URI) {
		return original{}, errForwarded
	}
	o.Path, _, _ = strings.Cut(o.URI, "?")
	if strings.IndexByte(o.Path, '%') >= 0 {
		// Only an escaped path needs the URL parser to decode it; without
		// "%", the path it would return is the text before the first "?".
		u, err := url.ParseRequestURI(o.URI)
		if err != nil {
			return original{}, errForwarded
		}
		o.Path = u.Path
	}
	return o, nil
}

var errUntrusted = errors.New("forwarded headers from an untrusted peer")

// forwardAuth answers a front proxy's subrequest.
func (h *Handler) forwardAuth(w http.ResponseWriter, r *http.Request, f Flavour) {
	o, err := h.describe(r, f)
	if err != nil {
		reason := "invalid_forwarded_request"
		if errors.Is(err, errUntrusted) {
			reason = "untrusted_forwarder"
		}
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "forward-auth deny",
			slog.String("reason", reason), slog.String("peer", r.RemoteAddr))
		// 403, never 2xx: the request cannot be judged, and a 400 would be
		// turned into a 500 by Nginx.
		respond.Error(w, http.StatusForbidden, reason)
		return
	}
	// ServeHTTP already stripped the client's identity headers that the front
	// proxy copied into this subrequest, so none can come back as if set here.
	nav := *r
	nav.Method = o.Method
	d := h.engine.Decide(&nav, Target{Method: o.Method, Path: o.Path, URI: o.URI})
	if !d.Allow {
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "deny",
			slog.String("reason", d.Reason), slog.Int("status", d.Status),
			slog.String("method", o.Method), slog.String("path", o.Path), slog.String("mode", "forward-auth"))
		rd := o.URI
		if o.Method != http.MethodGet && o.Method != http.MethodHead {
			rd = "/"
		}
		// Return to another host (multi-app SSO) by absolute URL; /auth/login
		// accepts it only for hosts on the allow-list.
		if !strings.EqualFold(o.Host, h.cfg.APIURL.Host) {
			rd = o.Scheme + "://" + o.Host + rd
		}
		if f == Nginx && d.Status != http.StatusUnauthorized && d.Status != http.StatusForbidden {
			d.Status = http.StatusForbidden
		}
		writeDeny(w, &nav, d, h.login, rd, f != Nginx)
		return
	}
	if d.m != nil {
		h.headers.strip(w.Header())
		h.headers.set(w.Header(), &d.m.vals)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// requestTarget reports whether s could have come from a request line: no
// space or control character. url.Parse accepts "/a b", which no front proxy
// ever received, so such a description is a forgery or a bug, not a request.
// Nor a "#": a request target has no fragment (RFC 9112 §3.2), and servers
// disagree on it — "/public/x#/../../admin" is /public/x to one that cuts at
// "#" and /admin to one that resolves the dot segments after it.
func requestTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '#' {
			return false
		}
	}
	return true
}
