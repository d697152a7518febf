package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/authgate/authgate/config"
)

// parseFlags parses the configuration flags a subcommand shares with serve.
// done reports that the command should exit at once with code: 0 after
// --help, 2 after a bad flag (pflag has printed why).
func parseFlags(name string, args []string, stderr io.Writer) (fs *pflag.FlagSet, code int, done bool) {
	fs = config.Flags(name)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, 0, true
		}
		return nil, 2, true
	}
	return fs, 0, false
}

func serve(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	fs, code, done := parseFlags("authgate serve", args, stderr)
	if done {
		return code
	}
	cfg, err := config.Load(config.Source{Flags: fs, Env: env})
	if err != nil {
		fmt.Fprintln(stderr, "authgate:", err)
		return 2
	}
	log := newLogger(stderr, cfg)
	if err := runServer(ctx, cfg, log, nil); err != nil {
		log.Error("authgate stopped", "error", err.Error())
		return 1
	}
	return 0
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// listeners lets a caller (tests, `authgate dev`) hand in bound listeners.
type listeners struct{ main, admin net.Listener }

// runServer starts the admin listener at once (so /healthz answers while the
// provider is still being discovered), builds the app, serves until ctx ends,
// then drains in-flight requests for up to 20 s.
func runServer(ctx context.Context, cfg *config.Config, log *slog.Logger, ls *listeners) error {
	if ls == nil {
		ls = &listeners{}
	}
	var err error
	if ls.admin == nil {
		if ls.admin, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
	}
	if ls.main == nil {
		if ls.main, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
			return fmt.Errorf("listener: %w", err)
		}
	}

	adm := newAdmin(cfg.AdminPprof)
	adminSrv := &http.Server{Handler: adm, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = adminSrv.Serve(ls.admin) }()
	defer adminSrv.Close()

	a, err := buildApp(ctx, cfg, log, adm)
	if err != nil {
		return err
	}
	closeApp := sync.OnceFunc(a.close)
	defer closeApp()

	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ls.main) }()
	log.Info("authgate listening", "addr", ls.main.Addr().String(), "admin", ls.admin.Addr().String(),
		"issuer", cfg.Issuer, "upstream", fmt.Sprint(cfg.UpstreamURL), "store", storeKind(cfg))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Shutdown closes the listener at once (new connections are refused) and
	// waits for the requests in flight, at most drainTimeout.
	adm.setDraining()
	log.Info("shutting down", "drain_timeout", drainTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	// The store goes last: the requests that were still running needed it.
	closeApp()
	if err != nil {
		return fmt.Errorf("shutdown: requests still running after %s: %w", drainTimeout, err)
	}
	log.Info("stopped", "store", "closed")
	return nil
}

// drainTimeout bounds the wait for in-flight requests after SIGTERM; keep
// Kubernetes' terminationGracePeriodSeconds above it (deploy/ uses 30 s).
const drainTimeout = 20 * time.Second

func storeKind(cfg *config.Config) string {
	if cfg.RedisURL != "" {
		return "redis"
	}
	return "memory"
}
