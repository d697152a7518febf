package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/metrics"
	"github.com/authgate/authgate/server"
)

type app struct {
	handler http.Handler
	close   func()
}

// buildApp wires the packages together (package server) and reports the
// result's readiness on the admin listener.
func buildApp(ctx context.Context, cfg *config.Config, log *slog.Logger, adm *admin) (*app, error) {
	a, err := server.New(ctx, cfg, log, server.Options{Metrics: metrics.New(adm.Registry)})
	if err != nil {
		return nil, err
	}
	adm.setReady(a.Ready)
	for _, c := range a.Collectors {
		adm.Registry.MustRegister(c)
	}
	return &app{handler: a.Handler, close: a.Close}, nil
}
