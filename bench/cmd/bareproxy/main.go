// Command bareproxy is the load benchmark's baseline: httputil.ReverseProxy
// with authgate's transport settings and buffer pool, and nothing else. The
// ratio against it is the cost of authenticating, not of proxy tuning.
//
//	bareproxy -listen ADDR -upstream URL [-headers | -rs256]
//
// It is a program of its own rather than a benchstack subcommand so that its
// memory is a bare proxy's: start-up maps most of a Go binary's code (every
// package's initialisation runs), and benchstack links the provider, the
// token minting and the runner. For the same reason it takes the transport
// and buffer pool from internal/upstream, not from authgate's proxy package.
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
	"syscall"

	"github.com/authgate/authgate/bench"
	"github.com/authgate/authgate/internal/upstream"
	"github.com/authgate/authgate/requestid"
)

func main() {
	fs := flag.NewFlagSet("bareproxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	up := fs.String("upstream", "", "upstream URL")
	headers := fs.Bool("headers", false, "send what authgate adds to a proxied request: the six identity headers and X-Request-Id upstream")
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
		Transport:  upstream.NewTransport(),
		BufferPool: upstream.NewBufferPool(),
	}
	switch {
	case headers:
		// Like authgate: a fresh id sent upstream, not answered (a relayed
		// response is the upstream's). It is set on the inbound request,
		// which the proxy copies; a baseline need not guard against
		// Connection: X-Request-Id.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set(requestid.Header, requestid.New())
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
