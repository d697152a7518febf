package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/authgate/authgate/bench"
	"github.com/authgate/authgate/proxy"
	"github.com/authgate/authgate/requestid"
)

// serve runs h on addr until ctx ends.
func serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// upstream is the protected app: as cheap as an HTTP answer gets, so that
// the proxies in front of it are what is measured. /echo returns the request
// headers, for the checks that identity headers arrive.
func upstream(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ok := []byte("ok\n")
	return serve(ctx, *listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/echo" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(r.Header)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(ok)
	}))
}

// bareProxy is the baseline: httputil.ReverseProxy with the transport and
// buffer pool authgate uses, and nothing else. The ratio against it is the
// cost of authenticating, not of proxy tuning.
func bareProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bareproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	up := fs.String("upstream", "", "upstream URL")
	rs256 := fs.Bool("rs256", false, "check one raw RS256 signature (bench.RS256: crypto/rsa alone) before forwarding each request")
	headers := fs.Bool("headers", false, "send what authgate adds to a proxied request: the six identity headers upstream, X-Request-Id both ways")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*up)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-upstream %q: not a URL", *up)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			if *headers {
				h := pr.Out.Header
				for _, kv := range trivialIdentity {
					h[kv[0]] = []string{kv[1]}
				}
			}
		},
		Transport:  proxy.NewTransport(),
		BufferPool: bufferPool{},
	}
	if *headers {
		// Like authgate: a fresh id, answered to the client and sent
		// upstream (set on the inbound request, which the proxy copies; a
		// baseline need not guard against Connection: X-Request-Id).
		next := rp
		return serve(ctx, *listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := requestid.New()
			w.Header().Set(requestid.Header, id)
			r.Header.Set(requestid.Header, id)
			next.ServeHTTP(w, r)
		}))
	}
	if !*rs256 {
		return serve(ctx, *listen, rp)
	}
	// The yardstick of the cache-miss target, measured where authgate's
	// misses are: in a proxy process under the same load, not in a hot loop.
	sig, err := bench.NewRS256()
	if err != nil {
		return err
	}
	return serve(ctx, *listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sig.Verify(); err != nil {
			http.Error(w, "rs256: "+err.Error(), http.StatusInternalServerError)
			return
		}
		rp.ServeHTTP(w, r)
	}))
}

// bufferPool is what proxy.New gives authgate's ReverseProxy.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (bufferPool) Get() []byte  { return buffers.Get().(*[32 << 10]byte)[:] }
func (bufferPool) Put(b []byte) { buffers.Put((*[32 << 10]byte)(b)) }

// The identity the trivial forward-auth handler vouches for: the provider's
// user alice, as authgate maps her.
var trivialIdentity = [][2]string{
	{"X-User-Sub", aliceSub()},
	{"X-Org-Id", "org-1"},
	{"X-Role", "admin"},
	{"X-User-Email", "alice@example.com"},
	{"X-User-Name", "Alice Example"},
	{"X-User-Groups", "ecosire-admins,staff"},
}

// aliceSub is the subject devprovider derives for the username alice.
func aliceSub() string {
	sum := sha256.Sum256([]byte("authgate-devprovider:alice"))
	return hex.EncodeToString(sum[:])
}

// faTrivial is the forward-auth baseline: the cheapest handler that answers a
// front proxy the way authgate does (200, the same identity headers,
// Cache-Control: no-store), checking nothing.
func faTrivial(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fatrivial", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serve(ctx, *listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, kv := range trivialIdentity {
			h.Set(kv[0], kv[1])
		}
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}))
}
