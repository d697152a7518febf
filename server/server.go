// Package server wires authgate's packages into the one http.Handler the
// authgate command serves: store, provider discovery, key set and verifier,
// cookie jar, decision engine, login flow and reverse proxy. Tests build the
// very same handler in-process (internal/flowtest), so what they prove is
// what runs.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/internal/promtext"
	"github.com/authgate/authgate/metrics"
	"github.com/authgate/authgate/oidcflow"
	"github.com/authgate/authgate/proxy"
	"github.com/authgate/authgate/ratelimit"
	"github.com/authgate/authgate/requestid"
	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/tokens"
)

// Options are what the configuration does not say. The zero value is what
// the authgate command uses.
type Options struct {
	// Store replaces the store chosen by Config.RedisURL; the caller keeps
	// ownership (App.Close does not close it).
	Store store.Store
	// Now is the clock of the verifier, the key set, the cookie codec and the
	// login flow; nil means time.Now. Tests move it to expire tokens and codes.
	Now func() time.Time
	// Metrics receives decisions, verifications, key-set fetches,
	// token-endpoint calls, refreshes, store errors and in-flight requests;
	// nil records nothing.
	Metrics *metrics.Metrics
}

// App is the wired handler.
type App struct {
	Handler http.Handler
	// Ready reports whether the store is reachable and the keys are loaded
	// (the admin listener's /readyz).
	Ready func(context.Context) error
	// Collectors are metrics of the session lifecycle (back-channel logout,
	// provisioning) for the admin listener's registry.
	Collectors []promtext.Collector
	close      func()
}

// Close releases what New opened.
func (a *App) Close() { a.close() }

// New wires the packages together. Discovery is retried with backoff until it
// succeeds or ctx ends: in a Pod the provider may start after us, and /readyz
// stays false meanwhile.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, o Options) (*App, error) {
	// Every line logged while serving a request carries its request id.
	log = requestid.Logger(log)
	st, closeStore := o.Store, func() {}
	if st == nil {
		var err error
		if st, err = openStore(ctx, cfg); err != nil {
			return nil, err
		}
		closeStore = func() { st.Close() }
	}
	// Pub/sub (revocations reach every replica) is the store's own
	// capability; the metrics wrapper below does not forward it.
	ps, _ := st.(store.PubSub)
	st = o.Metrics.Store(st)
	provider, err := discover(ctx, cfg, log)
	if err != nil {
		closeStore()
		return nil, err
	}
	keys := tokens.NewKeySet(provider.JWKSURL, tokens.KeySetOptions{
		Client:             provider.Client,
		MinRefetchInterval: cfg.JWKSMinRefetchInterval,
		Now:                o.Now,
		OnFetch:            o.Metrics.JWKSFetch,
	})
	if err := keys.Refresh(ctx); err != nil {
		// Not fatal: verification fetches lazily and /readyz reports it.
		log.Warn("initial JWKS fetch failed", "error", err.Error())
	}
	var hs []byte
	if cfg.AllowHS256 {
		hs = []byte(cfg.ClientSecret)
	}
	verifier := tokens.NewVerifier(tokens.Config{
		Issuer:       cfg.Issuer,
		ClientID:     cfg.ClientID,
		HS256Secret:  hs,
		CacheEntries: cfg.TokenCacheEntries,
		Leeway:       cfg.TokenLeeway,
		Now:          o.Now,
		Observe:      o.Metrics.VerificationObserver(),
	}, keys)

	codec, err := cookies.NewCodec(cfg.CookieSecret, o.Now)
	if err != nil {
		closeStore()
		return nil, fmt.Errorf("cookie_secret: %w", err)
	}
	jar, err := cookies.NewJar(codec, cookies.JarConfig{
		AuthName:    cfg.CookieName,
		RefreshName: cfg.RefreshCookieName,
		AuthPrefix:  cfg.AuthPrefix,
		Domain:      cfg.CookieDomain,
		Secure:      cfg.Production || cfg.APIURL.Scheme == "https",
		MaxAge:      cfg.CookieMaxAge,
	})
	if err != nil {
		closeStore()
		return nil, err
	}
	lc, err := newLifecycle(ctx, cfg, st, ps, verifier, log, o.Now)
	if err != nil {
		closeStore()
		return nil, err
	}
	engine := proxy.NewEngine(cfg, verifier, jar, lc.revocations)
	if m := o.Metrics; m != nil {
		engine.OnDecision = func(d proxy.Decision) { m.Decision(d.Allow, d.Reason) }
	}
	flow := oidcflow.New(oidcflow.Options{
		Config:   cfg,
		Provider: provider,
		Store:    st,
		Jar:      jar,
		Access:   verifier,
		Authenticate: func(r *http.Request) (*identity.Identity, string) {
			id, err := engine.Authenticate(r)
			if err != nil {
				return nil, proxy.Reason(err)
			}
			return id, ""
		},
		Mapper:      identity.Mapper{Rules: cfg.RoleRules, DefaultRole: cfg.DefaultRole},
		Sessions:    lc.revocations,
		Backchannel: lc.backchannel,
		Provisioner: lc.provisioner,
		Logger:      log,
		Now:         o.Now,
		OnTokenCall: o.Metrics.TokenCall,
		OnRefresh:   o.Metrics.Refresh,
	})
	limiter := ratelimit.New(ratelimit.Options{PerMinute: cfg.RateLimitPerMinute, Burst: cfg.RateLimitBurst, Now: o.Now})
	h := proxy.New(proxy.Options{Config: cfg, Engine: engine, Jar: jar, Auth: flow, Logger: log, Limiter: limiter})
	ready := func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if !keys.Loaded() {
			if err := keys.Refresh(ctx); err != nil {
				return fmt.Errorf("keys: %w", err)
			}
		}
		return nil
	}
	handler := o.Metrics.InFlight(h) // h picks each request's id
	return &App{Handler: handler, Ready: ready, Collectors: lc.collectors, close: func() { lc.close(); closeStore() }}, nil
}

func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if cfg.RedisURL == "" {
		return store.NewMemory(store.MemoryOptions{}), nil
	}
	st, err := store.NewRedis(ctx, cfg.RedisURL, store.RedisOptions{WaitReplicas: cfg.RedisWaitReplicas})
	if err != nil {
		return nil, fmt.Errorf("redis_url: %w", err)
	}
	return st, nil
}

func discover(ctx context.Context, cfg *config.Config, log *slog.Logger) (*oidcflow.Provider, error) {
	backoff := 500 * time.Millisecond
	for {
		p, err := oidcflow.Discover(ctx, oidcflow.Discovery{
			Issuer:       cfg.Issuer,
			PublicBase:   cfg.PublicBase,
			InternalBase: cfg.InternalBase,
		})
		if err == nil {
			return p, nil
		}
		// The provider answered and named another issuer: waiting will not
		// change the configuration, so start-up stops with the reason.
		if errors.Is(err, oidcflow.ErrIssuerMismatch) {
			return nil, fmt.Errorf("issuer: %w", err)
		}
		log.Warn("provider discovery failed; retrying", "error", err.Error(), "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("discovery: %w", err)
		case <-time.After(backoff):
		}
		if backoff < 15*time.Second {
			backoff *= 2
		}
	}
}
