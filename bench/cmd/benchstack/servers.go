package main

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"

	"github.com/authgate/authgate/bench"
)

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
	return bench.Serve(ctx, *listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/echo" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(r.Header)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(ok)
	}))
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
	identity := bench.Identity()
	return bench.Serve(ctx, *listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, kv := range identity {
			h.Set(kv[0], kv[1])
		}
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}))
}
