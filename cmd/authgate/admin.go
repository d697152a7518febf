package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/internal/promtext"
	"github.com/authgate/authgate/respond"
)

// admin is the separate operations listener: /healthz (the process runs),
// /readyz (store reachable and keys loaded, false while draining), /metrics,
// and, when asked for, Go's profiler.
type admin struct {
	mux      *http.ServeMux
	ready    atomic.Pointer[func(context.Context) error]
	draining atomic.Bool
	Registry *promtext.Registry
}

func newAdmin(withPprof bool) *admin {
	a := &admin{mux: http.NewServeMux(), Registry: promtext.NewRegistry()}
	a.Registry.MustRegister(promtext.GoCollector(), promtext.ProcessCollector())
	a.mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		respond.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.mux.HandleFunc("/readyz", a.readyz)
	a.mux.Handle("/metrics", a.Registry)
	if withPprof {
		// Registered here, not through the package's init on
		// http.DefaultServeMux, so the proxy listener never serves it.
		a.mux.HandleFunc("/debug/pprof/", pprof.Index)
		a.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		a.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		a.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		a.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return a
}

func (a *admin) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *admin) setReady(f func(context.Context) error) { a.ready.Store(&f) }
func (a *admin) setDraining()                           { a.draining.Store(true) }

func (a *admin) readyz(w http.ResponseWriter, r *http.Request) {
	check := a.ready.Load()
	switch {
	case a.draining.Load():
		respond.Error(w, http.StatusServiceUnavailable, "draining")
		return
	case check == nil:
		respond.Error(w, http.StatusServiceUnavailable, "starting")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := (*check)(ctx); err != nil {
		respond.JSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not_ready", "detail": err.Error()})
		return
	}
	respond.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// healthcheck is the container HEALTHCHECK: it asks the admin listener, so the
// image needs no curl.
func healthcheck(ctx context.Context, args []string, env func(string) (string, bool), stderr io.Writer) int {
	addr := ":9090"
	if v, ok := env("ADMIN_ADDR"); ok && v != "" {
		addr = v
	}
	if len(args) > 0 {
		addr = args[0]
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "healthcheck: status", resp.StatusCode)
		return 1
	}
	return 0
}
