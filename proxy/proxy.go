package proxy

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/internal/upstream"
	"github.com/authgate/authgate/ratelimit"
	"github.com/authgate/authgate/requestid"
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
	// Limiter bounds per-client calls of the endpoints that write to the store
	// (login, callback, exchange); nil allows everything.
	Limiter *ratelimit.Limiter
}

// Handler is authgate's front door in sidecar mode.
type Handler struct {
	cfg      *config.Config
	engine   *Engine
	auth     http.Handler
	limiter  *ratelimit.Limiter
	headers  identityHeaders
	trusted  trustedProxies
	login    Login
	strip    []string // cookie names not forwarded upstream
	log      *slog.Logger
	upstream *httputil.ReverseProxy
}

// state is what one request carries through the handler to Rewrite, in one
// context value: its id (requestid.Carrier, so its log lines find it) and the
// identity to send upstream, set once the request is admitted.
type state struct {
	id string
	m  *mapped // nil until admitted, and on a public route
}

func (s *state) RequestID() string { return s.id }

// New returns the handler.
func New(o Options) *Handler {
	h := &Handler{
		cfg:     o.Config,
		engine:  o.Engine,
		auth:    o.Auth,
		limiter: o.Limiter,
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
			tr = upstream.NewTransport()
		}
		h.upstream = &httputil.ReverseProxy{
			Rewrite:      h.rewrite,
			Transport:    tr,
			ErrorHandler: h.upstreamError,
			// Zero, not -1: ReverseProxy already flushes every write of a
			// server-sent event stream or a response of unknown length (so
			// streams pass through unbuffered), and -1 would arm a timer and
			// wake the poller for every ordinary response as well.
			FlushInterval: 0,
			BufferPool:    upstream.NewBufferPool(),
		}
	}
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Identity headers from the client are removed before anything reads the request.
	h.headers.strip(r.Header)
	// The request id is picked here and kept in one context value, with the
	// rest of what the request carries: one Request copy per request.
	id := requestid.Pick(r.Header.Get(requestid.Header))

	if p := r.URL.Path; p == h.cfg.AuthPrefix || strings.HasPrefix(p, h.cfg.AuthPrefix+"/") {
		r = r.WithContext(requestid.With(r.Context(), id))
		requestid.Answer(w, r)
		h.serveAuth(w, r, p[len(h.cfg.AuthPrefix):])
		return
	}
	st := &state{id: id}
	r = r.WithContext(requestid.WithCarrier(r.Context(), st))
	m, ok := h.admit(w, r)
	if !ok {
		return
	}
	st.m = m
	h.upstream.ServeHTTP(w, r)
}

// admit decides a request for the upstream and answers it when denied (or
// when there is no upstream). It returns the identity to send upstream, nil
// on a public route.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request) (*mapped, bool) {
	if h.upstream == nil {
		requestid.Answer(w, r)
		respond.Error(w, http.StatusNotFound, "not_found")
		return nil, false
	}
	d := h.engine.Decide(r, Target{Method: r.Method, Path: r.URL.Path, URI: r.RequestURI})
	if !d.Allow {
		requestid.Answer(w, r)
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "deny",
			slog.String("reason", d.Reason), slog.Int("status", d.Status),
			slog.String("method", r.Method), slog.String("path", r.URL.Path))
		writeDeny(w, r, d, h.login, returnTarget(r), true)
		return nil, false
	}
	return d.m, true
}

// serveAuth serves authgate's own endpoints; rest is the path after the
// auth prefix.
func (h *Handler) serveAuth(w http.ResponseWriter, r *http.Request, rest string) {
	switch {
	case rest == "/verify":
		h.forwardAuth(w, r, Nginx)
	case rest == "/forward":
		h.forwardAuth(w, r, Traefik)
	case rest == "/envoy" || strings.HasPrefix(rest, "/envoy/"):
		h.forwardAuth(w, r, Envoy)
	case rest == "/login" || rest == "/callback" || rest == "/exchange":
		// Each of these writes to the store; one client may not flood it.
		if ok, wait := h.limiter.Allow(rateKey(h.clientIP(r))); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "rate limited", slog.String("path", r.URL.Path))
			respond.Error(w, http.StatusTooManyRequests, "rate_limited")
			return
		}
		h.auth.ServeHTTP(w, r)
	default:
		h.auth.ServeHTTP(w, r)
	}
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
	peer := peerAddr(pr.In.RemoteAddr)
	trusted := h.trusted.contains(peer)
	h.scrub(pr.Out.Header, trusted)
	// The values of the headers set here share one backing array, one
	// allocation instead of four; each header gets a slice whose capacity
	// ends at its own value, so an append elsewhere copies.
	vals := make([]string, 4)
	h.setForwarded(pr, peer, trusted, vals[:3:3])
	st, _ := requestid.CarrierFrom(pr.In.Context()).(*state)
	if st == nil {
		return // not a request ServeHTTP admitted
	}
	if st.m != nil {
		h.headers.set(pr.Out.Header, &st.m.vals)
	}
	// Set on the outgoing request, like the identity headers, so that a
	// client's "Connection: X-Request-Id" cannot strip it.
	vals[3] = st.id
	pr.Out.Header[requestid.Header] = vals[3:4:4]
}

// scrub removes, in one pass over the outgoing header, everything the upstream
// must not get from the client: every spelling of an identity header; a
// proxy's word about the original request (X-Forwarded-*, Forwarded,
// X-Original-*, …) unless the peer is a trusted proxy; and authgate's own
// cookies (unless pass_auth_cookies).
func (h *Handler) scrub(hdr http.Header, trusted bool) {
	var buf [64]byte
	for k := range hdr {
		f := foldTo(buf[:0], k)
		if h.headers.folded[string(f)] || !trusted && forwardingFolded(string(f)) {
			delete(hdr, k)
			continue
		}
		if len(h.strip) > 0 && strings.EqualFold(k, "Cookie") {
			cookies.StripField(hdr, k, h.strip...)
		}
	}
}

// setForwarded writes X-Forwarded-For/-Host/-Proto. Values the client sent are
// kept only when the peer is a trusted proxy (scrub removed them otherwise);
// from anyone else they are lies waiting to be believed by the upstream.
// vals holds the three values (len 3, cap 3).
func (h *Handler) setForwarded(pr *httputil.ProxyRequest, peer netip.Addr, trusted bool, vals []string) {
	xff := peerString(pr.In.RemoteAddr, peer)
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
	vals[0], vals[1], vals[2] = xff, proto, host
	pr.Out.Header["X-Forwarded-For"] = vals[0:1:1]
	pr.Out.Header["X-Forwarded-Proto"] = vals[1:2:2]
	pr.Out.Header["X-Forwarded-Host"] = vals[2:3:3]
}

// forwardingFolded reports whether a header, its name folded by foldTo,
// carries a proxy's word about the original request: client address, host,
// scheme, port, prefix or URL. From an
// untrusted peer it is a lie the upstream may believe: X-Original-URL and
// X-Rewrite-URL make Symfony and IIS serve another path than the one authgate
// judged, X-Real-IP and X-Forwarded-Prefix spoof address and routing. Names
// are folded like identity headers (X_Original_URL reads as X-Original-URL to
// servers that fold "_").
func forwardingFolded(f string) bool {
	return f == "forwarded" || f == "x-real-ip" || f == "x-rewrite-url" ||
		strings.HasPrefix(f, "x-forwarded-") || strings.HasPrefix(f, "x-original-")
}

func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	requestid.Answer(w, r)
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream error", slog.String("error", err.Error()))
	respond.Error(w, http.StatusBadGateway, "upstream_unavailable")
}

// clientIP is the address a rate limit applies to: the peer, or, when the
// peer is a trusted proxy, the nearest untrusted address in X-Forwarded-For
// (the leftmost entries are whatever the client chose to write).
func (h *Handler) clientIP(r *http.Request) netip.Addr {
	peer := peerAddr(r.RemoteAddr)
	if !h.trusted.contains(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if a = a.Unmap(); !h.trusted.contains(a) {
			return a
		}
		peer = a
	}
	return peer
}

// rateKey is what one client is limited as: its IPv4 address, or its IPv6
// /64. One subscriber usually holds a whole /64; counted address by address,
// it could rotate through 2^64 of them past any per-client limit.
func rateKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
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

// peerString is peer.String(), taken from remote (the RemoteAddr peer was
// parsed from) when it spells the address the same way, as net/http's
// RemoteAddr does but for IPv4-mapped addresses: no allocation per request.
func peerString(remote string, peer netip.Addr) string {
	var buf [64]byte
	if host, _, err := net.SplitHostPort(remote); err == nil && string(peer.AppendTo(buf[:0])) == host {
		return host
	}
	return peer.String()
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
	if plainHost(h) {
		return true
	}
	u, err := url.Parse("http://" + h)
	return err == nil && u.Host == h && u.User == nil && u.Path == ""
}

// plainHost reports whether h is a DNS name or IPv4 address, with an optional
// port: the form of nearly every Host a front proxy describes, which
// validHost then accepts without building a URL (every such h also passes
// the url.Parse check; FuzzPlainHost holds it to that).
func plainHost(h string) bool {
	name, port, hasPort := strings.Cut(h, ":")
	if name == "" || hasPort && (port == "" || len(port) > 5) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	for i := 0; i < len(port); i++ {
		if c := port[i]; c < '0' || c > '9' {
			return false
		}
	}
	return true
}
