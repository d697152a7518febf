package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/internal/promtext"
	"github.com/authgate/authgate/oidcflow"
	"github.com/authgate/authgate/provision"
	"github.com/authgate/authgate/revocation"
	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/tokens"
)

// lifecycle is what ends sessions early and records users as they log in:
// the revocation set (consulted by the engine, fed by logout and back-channel
// logout), the back-channel logout endpoint, and the provisioning sinks.
type lifecycle struct {
	revocations *revocation.Set
	backchannel http.Handler
	provisioner oidcflow.Provisioner // nil when no sink is configured
	collectors  []promtext.Collector
	close       func()
}

// ps is the store's pub/sub (nil for the memory store).
func newLifecycle(ctx context.Context, cfg *config.Config, st store.Store, ps store.PubSub, verifier *tokens.Verifier, log *slog.Logger, now func() time.Time) (*lifecycle, error) {
	lc := &lifecycle{}
	var closers []func()
	lc.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}

	// With a shared store (Redis) every replica hears every revocation; with
	// the memory store there is only this one. A shared store without pub/sub
	// would let a logout on one replica go unnoticed on the others: refuse.
	if cfg.RedisURL != "" && ps == nil {
		return nil, fmt.Errorf("redis_url: the store does not support pub/sub, which revocation needs across replicas")
	}
	set := revocation.New(revocation.Options{Store: st, PubSub: ps, TTL: cfg.RevocationTTL, Logger: log, Now: now})
	if err := set.Start(ctx); err != nil {
		return nil, err
	}
	closers = append(closers, set.Close)
	lc.revocations = set
	bc := revocation.NewBackchannel(&revocation.LogoutVerifier{
		Signature: verifier,
		Issuer:    cfg.Issuer,
		ClientID:  cfg.ClientID,
		Leeway:    cfg.TokenLeeway,
		Now:       now,
	}, st, set, log)
	lc.backchannel = bc
	lc.collectors = append(lc.collectors, bc.Collector())

	p := cfg.Provision
	if !p.Enabled() {
		return lc, nil
	}
	var sinks []provision.Sink
	if p.PostgresURL != "" {
		pg, err := provision.NewPostgres(provision.PostgresOptions{URL: p.PostgresURL, Table: p.PostgresTable, Columns: p.PostgresColumns})
		if err != nil {
			lc.close()
			return nil, fmt.Errorf("provision_postgres_url: %w", err)
		}
		closers = append(closers, pg.Close)
		sinks = append(sinks, pg)
		// A wrong table or column shows at start-up rather than at the first
		// login; the database being down is not fatal (the pool reconnects).
		go func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			if err := pg.Check(cctx); err != nil {
				log.Error("provisioning table check failed", "error", err.Error())
			}
		}()
	}
	if p.WebhookURL != "" {
		wh, err := provision.NewWebhook(provision.WebhookOptions{
			URL: p.WebhookURL, Secret: p.WebhookSecret, Timeout: p.WebhookTimeout, Retries: p.WebhookRetries, Now: now,
		})
		if err != nil {
			lc.close()
			return nil, fmt.Errorf("provision_webhook_url: %w", err)
		}
		sinks = append(sinks, wh)
	}
	prov := provision.New(provision.Options{Sinks: sinks, Required: p.Required, Logger: log, Now: now})
	// Background provisionings finish (within their timeout) before the
	// sinks close.
	closers = append(closers, prov.Wait)
	lc.provisioner = prov
	lc.collectors = append(lc.collectors, prov.Collector())
	return lc, nil
}
