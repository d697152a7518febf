// Command bareproxy is the load benchmark's baseline: httputil.ReverseProxy
// with authgate's transport settings and buffer pool, and nothing else. The
// ratio against it is the cost of authenticating, not of proxy tuning.
//
//	bareproxy -listen ADDR -upstream URL [-headers | -rs256]
//
// It is a program of its own rather than a benchstack subcommand so that its
// memory is a bare proxy's: start-up maps most of a Go binary's code (every
// package's initialisation runs), and benchstack links the provider, the
// token minting and the runner. It does not import authgate's proxy package
// for the same reason; main_test.go holds its transport to proxy.NewTransport.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/authgate/authgate/bench"
	"github.com/authgate/authgate/requestid"
)

func main() {
	fs := flag.NewFlagSet("bareproxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	up := fs.String("upstream", "", "upstream URL")
	headers := fs.Bool("headers", false, "send what authgate adds to a proxied request: the six identity headers upstream, X-Request-Id both ways")
	rs256 := fs.Bool("rs256", false, "check one raw RS256 signature (bench.RS256: crypto/rsa alone) before forwarding each request")
	_ = fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *up, *headers, *rs256); err != nil {
		fmt.Fprintf(os.Stderr, "bareproxy: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, listen, upstream string, headers, rs256 bool) error {
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-upstream %q: not a URL", upstream)
	}
	h, err := newHandler(u, headers, rs256)
	if err != nil {
		return err
	}
	return bench.Serve(ctx, listen, h)
}

// newTransport is proxy.NewTransport's: idle upstream connections kept.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// bufferPool recycles the 32 KiB copy buffers, as authgate's proxy does.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([32 << 10]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[32 << 10]byte)[:] }

func (b *bufferPool) Put(x []byte) {
	if cap(x) == 32<<10 {
		b.p.Put((*[32 << 10]byte)(x[:32<<10]))
	}
}

// newHandler is the bare proxy to u; with headers it also sends authgate's
// seven headers, with rs256 it checks one raw RS256 signature per request.
func newHandler(u *url.URL, headers, rs256 bool) (http.Handler, error) {
	identity := bench.Identity()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			if headers {
				h := pr.Out.Header
				for _, kv := range identity {
					h[kv[0]] = []string{kv[1]}
				}
			}
		},
		Transport:  newTransport(),
		BufferPool: newBufferPool(),
	}
	switch {
	case headers:
		// Like authgate: a fresh id, answered to the client and sent upstream
		// (set on the inbound request, which the proxy copies; a baseline
		// need not guard against Connection: X-Request-Id).
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := requestid.New()
			w.Header().Set(requestid.Header, id)
			r.Header.Set(requestid.Header, id)
			rp.ServeHTTP(w, r)
		}), nil
	case rs256:
		// The yardstick of the cache-miss target, measured where authgate's
		// misses are: in a proxy process under the same load, not in a hot loop.
		sig, err := bench.NewRS256()
		if err != nil {
			return nil, err
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := sig.Verify(); err != nil {
				http.Error(w, "rs256: "+err.Error(), http.StatusInternalServerError)
				return
			}
			rp.ServeHTTP(w, r)
		}), nil
	}
	return rp, nil
}
