package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/oidcflow"
	"github.com/authgate/authgate/proxy"
	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/tokens"
)

type app struct {
	handler http.Handler
	close   func()
}

// buildApp wires the packages together. Discovery is retried with backoff
// until it succeeds or ctx ends: in a Pod the provider may start after us, and
// /readyz stays false meanwhile.
func buildApp(ctx context.Context, cfg *config.Config, log *slog.Logger, adm *admin) (*app, error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	provider, err := discover(ctx, cfg, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	keys := tokens.NewKeySet(provider.JWKSURL, tokens.KeySetOptions{
		Client:             provider.Client,
		MinRefetchInterval: cfg.JWKSMinRefetchInterval,
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
		Leeway:       30 * time.Second,
	}, keys)

	secret := cfg.CookieSecret
	codec, err := cookies.NewCodec(secret, nil)
	if err != nil {
		st.Close()
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
		st.Close()
		return nil, err
	}
	engine := proxy.NewEngine(cfg, verifier, jar, nil)
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
		Mapper: identity.Mapper{Rules: cfg.RoleRules, DefaultRole: cfg.DefaultRole},
		Logger: log,
	})
	h := proxy.New(proxy.Options{Config: cfg, Engine: engine, Jar: jar, Auth: flow, Logger: log})
	adm.setReady(func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if !keys.Loaded() {
			if err := keys.Refresh(ctx); err != nil {
				return fmt.Errorf("keys: %w", err)
			}
		}
		return nil
	})
	return &app{handler: h, close: func() { st.Close() }}, nil
}

func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if cfg.RedisURL == "" {
		return store.NewMemory(store.MemoryOptions{}), nil
	}
	st, err := store.NewRedis(ctx, cfg.RedisURL, store.RedisOptions{})
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
