package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/devprovider"
	"github.com/authgate/authgate/internal/promtext"
	"github.com/authgate/authgate/internal/upstream"
	"github.com/authgate/authgate/metrics"
	"github.com/authgate/authgate/proxy"
	"github.com/authgate/authgate/tokens"
)

// The benchmarks below run authgate's whole request path in-process, without
// sockets: ServeHTTP with a reusable response sink and an upstream transport
// that answers at once. What they report per operation is authgate's own
// cost; BenchmarkServeHTTP/bare-reverseproxy is the same work done by a bare
// httputil.ReverseProxy, so the difference between the two is what
// authenticating a request adds. bench/run.sh measures the same paths over
// real sockets against nginx and oauth2-proxy.

// benchSink is a ResponseWriter that keeps nothing, so the benchmark's own
// allocations stay out of the numbers.
type benchSink struct {
	h      http.Header
	status int
}

func (s *benchSink) Header() http.Header         { return s.h }
func (s *benchSink) Write(p []byte) (int, error) { return len(p), nil }
func (s *benchSink) WriteHeader(code int)        { s.status = code }
func (s *benchSink) Flush()                      {}
func (s *benchSink) reset()                      { clear(s.h); s.status = 0 }

// benchUpstream answers every request with an empty 200; see, when set,
// observes the outbound request (used once, before timing starts).
type benchUpstream struct{ see func(*http.Request) }

func (u *benchUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if u.see != nil {
		u.see(r)
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}},
		Body:          http.NoBody,
		ContentLength: 0,
		Request:       r,
	}, nil
}

type benchGate struct {
	h        *proxy.Handler
	engine   *proxy.Engine
	upstream *benchUpstream
	provider *devprovider.Provider
	token    string // RS256 access token of alice
	cookie   string // "name=value" of the sealed session cookie holding token
}

func newBenchGate(b testing.TB, extraEnv ...string) *benchGate {
	b.Helper()
	p, err := devprovider.New(devprovider.Options{BaseURL: "http://provider.test", AccessTokenTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]string{
		"AUTHENTIK_URL":           "http://provider.test",
		"AUTHENTIK_APP_SLUG":      devprovider.DefaultSlug,
		"AUTHENTIK_CLIENT_ID":     p.ClientID(),
		"AUTHENTIK_CLIENT_SECRET": p.ClientSecret(),
		"API_URL":                 "http://app.test",
		"UPSTREAM_URL":            "http://upstream.test",
		"COOKIE_SECRET":           "bench-cookie-secret-0123456789abcdef",
	}
	for i := 0; i+1 < len(extraEnv); i += 2 {
		env[extraEnv[i]] = extraEnv[i+1]
	}
	cfg, err := config.Load(config.Source{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		b.Fatal(err)
	}
	keys := tokens.NewKeySet(p.JWKSURL(), tokens.KeySetOptions{Client: &http.Client{Transport: proxy.HandlerTransport{H: p}}})
	if err := keys.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	v := tokens.NewVerifier(tokens.Config{
		Issuer: cfg.Issuer, ClientID: cfg.ClientID, CacheEntries: cfg.TokenCacheEntries, Leeway: cfg.TokenLeeway,
	}, keys)
	codec, err := cookies.NewCodec(cfg.CookieSecret, nil)
	if err != nil {
		b.Fatal(err)
	}
	jar, err := cookies.NewJar(codec, cookies.JarConfig{
		AuthName: cfg.CookieName, RefreshName: cfg.RefreshCookieName, AuthPrefix: cfg.AuthPrefix, MaxAge: cfg.CookieMaxAge,
	})
	if err != nil {
		b.Fatal(err)
	}
	up := &benchUpstream{}
	engine := proxy.NewEngine(cfg, v, jar, nil)
	h := proxy.New(proxy.Options{
		Config:    cfg,
		Engine:    engine,
		Jar:       jar,
		Auth:      http.NotFoundHandler(),
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Transport: up,
	})
	tok, err := p.AccessToken("alice", nil)
	if err != nil {
		b.Fatal(err)
	}
	sealed, err := jar.Seal(jar.Auth, tok, time.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	return &benchGate{h: h, engine: engine, upstream: up, provider: p, token: tok, cookie: jar.Auth.Name + "=" + sealed}
}

// benchRequest is an API call as a browser's fetch() or a mobile client sends it.
func benchRequest(target string, header ...string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = "192.0.2.10:40000"
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return r
}

// benchRun times h on r, after checking once that the answer is 200 and that
// the identity arrived: at the upstream (wantHeader "upstream") or in the
// answer to a forward-auth request ("response").
func benchRun(b *testing.B, h http.Handler, up *benchUpstream, r *http.Request, wantHeader string) {
	b.Helper()
	sink := &benchSink{h: http.Header{}}
	seen := ""
	if up != nil {
		up.see = func(out *http.Request) { seen = out.Header.Get("X-User-Sub") }
	}
	h.ServeHTTP(sink, r)
	if up != nil {
		up.see = nil
	}
	if sink.status != 0 && sink.status != http.StatusOK {
		b.Fatalf("status %d", sink.status)
	}
	switch wantHeader {
	case "upstream":
		if seen == "" {
			b.Fatal("upstream received no X-User-Sub")
		}
	case "response":
		if sink.h.Get("X-User-Sub") == "" {
			b.Fatal("answer carries no X-User-Sub")
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sink.reset()
		h.ServeHTTP(sink, r)
	}
}

// newBareProxy does the same forwarding as authgate with nothing else: no
// authentication, no header policy. It shares authgate's buffer pool, so the
// difference is the cost of authenticating, not of proxy tuning.
func newBareProxy() *httputil.ReverseProxy {
	u, _ := url.Parse("http://upstream.test")
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:  &benchUpstream{},
		BufferPool: upstream.NewBufferPool(),
	}
}

// BenchmarkServeHTTP is the hot path of every deployment with a warm token
// cache: proxy mode with a bearer token or the session cookie, the
// forward-auth endpoints, and a bare reverse proxy doing the same forwarding
// for comparison.
func BenchmarkServeHTTP(b *testing.B) {
	g := newBenchGate(b)
	b.Run("bare-reverseproxy", func(b *testing.B) {
		benchRun(b, newBareProxy(), nil, benchRequest("http://app.test/api/items?page=2", "Authorization", "Bearer "+g.token), "")
	})
	b.Run("proxy-bearer", func(b *testing.B) {
		benchRun(b, g.h, g.upstream, benchRequest("http://app.test/api/items?page=2", "Authorization", "Bearer "+g.token), "upstream")
	})
	b.Run("proxy-cookie", func(b *testing.B) {
		benchRun(b, g.h, g.upstream, benchRequest("http://app.test/api/items?page=2", "Cookie", g.cookie+"; theme=dark"), "upstream")
	})
	b.Run("forward-traefik", func(b *testing.B) {
		r := benchRequest("http://authgate.test/auth/forward", "Authorization", "Bearer "+g.token,
			"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.test", "X-Forwarded-Uri", "/api/items?page=2")
		r.RemoteAddr = "127.0.0.1:40000" // the front proxy, trusted
		benchRun(b, g.h, nil, r, "response")
	})
	b.Run("forward-nginx", func(b *testing.B) {
		r := benchRequest("http://authgate.test/auth/verify", "Authorization", "Bearer "+g.token,
			"X-Original-URL", "https://app.test/api/items?page=2", "X-Original-Method", "GET")
		r.RemoteAddr = "127.0.0.1:40000"
		benchRun(b, g.h, nil, r, "response")
	})
}

// BenchmarkAuthenticate is Engine.Authenticate alone with a warm cache: token
// extraction (cookie Open or header parsing), cache lookup with every claim
// check, and identity mapping.
func BenchmarkAuthenticate(b *testing.B) {
	g := newBenchGate(b)
	for _, tc := range []struct{ name, header, value string }{
		{"bearer", "Authorization", "Bearer " + g.token},
		{"cookie", "Cookie", g.cookie},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := benchRequest("http://app.test/", tc.header, tc.value)
			if _, err := g.engine.Authenticate(r); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = g.engine.Authenticate(r)
			}
		})
	}
}

// BenchmarkServeHTTPWired is proxy mode with a bearer token as the authgate
// command wires it: the in-flight gauge around the handler, every decision
// and verification counted. The difference to
// BenchmarkServeHTTP/proxy-bearer is what operations cost per request.
func BenchmarkServeHTTPWired(b *testing.B) {
	g := newBenchGate(b)
	m := metrics.New(promtext.NewRegistry())
	g.engine.OnDecision = func(d proxy.Decision) { m.Decision(d.Allow, d.Reason) }
	h := m.InFlight(g.h)
	benchRun(b, h, g.upstream, benchRequest("http://app.test/api/items?page=2", "Authorization", "Bearer "+g.token), "upstream")
}

// BenchmarkServeHTTPMiss is proxy mode with the token cache off, so every
// request verifies its token's signature (RS256) and parses its claims: the
// cost of a token authgate has not seen, in-process. The tokens rotate, as in
// the load benchmark's cache-miss rows.
func BenchmarkServeHTTPMiss(b *testing.B) {
	g := newBenchGate(b, "AUTHGATE_TOKEN_CACHE_ENTRIES", "-1")
	reqs := make([]*http.Request, 256)
	for i := range reqs {
		tok, err := g.provider.AccessToken("alice", nil)
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = benchRequest("http://app.test/api/items?page=2", "Authorization", "Bearer "+tok)
	}
	sink := &benchSink{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sink.reset()
		g.h.ServeHTTP(sink, reqs[i%len(reqs)])
		if sink.status != 0 && sink.status != http.StatusOK {
			b.Fatalf("status %d", sink.status)
		}
		i++
	}
}
