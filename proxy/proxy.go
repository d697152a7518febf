package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/respond"
)

// Options configure the reverse proxy.
type Options struct {
	Config *config.Config
	Engine *Engine
	Jar    *cookies.Jar
	// Auth serves everything under Config.AuthPrefix (the login flow).
	Auth   http.Handler
	Logger *slog.Logger
	// Transport to the upstream; default a tuned clone of http.DefaultTransport.
	Transport http.RoundTripper
}

// Handler is authgate's front door in sidecar mode.
type Handler struct {
	cfg      *config.Config
	engine   *Engine
	auth     http.Handler
	headers  identityHeaders
	trusted  trustedProxies
	login    Login
	strip    []string // cookie names not forwarded upstream
	log      *slog.Logger
	upstream *httputil.ReverseProxy
}

type ctxKey struct{}

// New returns the handler.
func New(o Options) *Handler {
	h := &Handler{
		cfg:     o.Config,
		engine:  o.Engine,
		auth:    o.Auth,
		headers: newIdentityHeaders(o.Config.Headers),
		trusted: trustedProxies(o.Config.TrustedProxies),
		login:   Login{Base: strings.TrimSuffix(o.Config.APIURL.String(), "/") + "/auth"},
		log:     o.Logger,
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if !o.Config.PassAuthCookies {
		h.strip = o.Jar.Names()
	}
	if o.Config.UpstreamURL != nil {
		tr := o.Transport
		if tr == nil {
			tr = NewTransport()
		}
		h.upstream = &httputil.ReverseProxy{
			Rewrite:       h.rewrite,
			Transport:     tr,
			ErrorHandler:  h.upstreamError,
			FlushInterval: -1, // server-sent events and other streams pass through unbuffered
		}
	}
	return h
}

// NewTransport returns the upstream transport. Go's default keeps only two
// idle connections per host, which under load means a new TCP connection for
// most requests; a sidecar talks to one host, so it keeps many.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	t.IdleConnTimeout = 90 * time.Second
	return t
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Identity headers from the client are removed before anything reads the request.
	h.headers.strip(r.Header)

	if p := r.URL.Path; p == h.cfg.AuthPrefix || strings.HasPrefix(p, h.cfg.AuthPrefix+"/") {
		switch rest := p[len(h.cfg.AuthPrefix):]; {
		case rest == "/verify":
			h.forwardAuth(w, r, Nginx)
		case rest == "/forward":
			h.forwardAuth(w, r, Traefik)
		case rest == "/envoy" || strings.HasPrefix(rest, "/envoy/"):
			h.forwardAuth(w, r, Envoy)
		default:
			h.auth.ServeHTTP(w, r)
		}
		return
	}
	if h.upstream == nil {
		respond.Error(w, http.StatusNotFound, "not_found")
		return
	}
	d := h.engine.Decide(r, Target{Method: r.Method, Path: r.URL.Path, URI: r.URL.RequestURI()})
	if !d.Allow {
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "deny",
			slog.String("reason", d.Reason), slog.Int("status", d.Status),
			slog.String("method", r.Method), slog.String("path", r.URL.Path))
		writeDeny(w, r, d, h.login, returnTarget(r), true)
		return
	}
	if d.Identity != nil {
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, d.Identity))
	}
	h.upstream.ServeHTTP(w, r)
}

// returnTarget is where the browser returns after login: this request's path
// and query. Only GET can be replayed by a redirect; other methods return to "/".
func returnTarget(r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "/"
	}
	return r.URL.RequestURI()
}

// rewrite builds the outbound request. It runs after ReverseProxy removed the
// hop-by-hop headers, including any the client listed in Connection:, so
// identity headers set here cannot be stripped by "Connection: X-User-Sub"
// (golang/go#50580). The inbound request is never modified.
func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(h.cfg.UpstreamURL)
	pr.Out.Host = pr.In.Host
	h.setForwarded(pr)
	h.headers.strip(pr.Out.Header)
	if id, ok := pr.In.Context().Value(ctxKey{}).(*identity.Identity); ok {
		h.headers.set(pr.Out.Header, id)
	}
	if len(h.strip) > 0 {
		cookies.StripHeader(pr.Out.Header, h.strip...)
	}
}

// setForwarded writes X-Forwarded-For/-Host/-Proto. Values the client sent are
// kept only when the peer is a trusted proxy; from anyone else they are lies
// waiting to be believed by the upstream.
func (h *Handler) setForwarded(pr *httputil.ProxyRequest) {
	peer := peerAddr(pr.In.RemoteAddr)
	trusted := h.trusted.contains(peer)
	xff := peer.String()
	proto := "http"
	if pr.In.TLS != nil {
		proto = "https"
	}
	host := pr.In.Host
	if trusted {
		if prior := strings.Join(pr.In.Header.Values("X-Forwarded-For"), ", "); prior != "" {
			xff = prior + ", " + xff
		}
		if p := pr.In.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			proto = p
		}
		if fh := pr.In.Header.Get("X-Forwarded-Host"); fh != "" && validHost(fh) {
			host = fh
		}
	}
	pr.Out.Header.Set("X-Forwarded-For", xff)
	pr.Out.Header.Set("X-Forwarded-Proto", proto)
	pr.Out.Header.Set("X-Forwarded-Host", host)
}

func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream error", slog.String("error", err.Error()))
	respond.Error(w, http.StatusBadGateway, "upstream_unavailable")
}

type trustedProxies []netip.Prefix

func (t trustedProxies) contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func validHost(h string) bool {
	if len(h) > 255 {
		return false
	}
	u, err := url.Parse("http://" + h)
	return err == nil && u.Host == h && u.User == nil && u.Path == ""
}
