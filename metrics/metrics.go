// Package metrics defines authgate's Prometheus metrics, all named authgate_*,
// on a registry the caller provides (the admin listener's), never on the
// global default registry: two authgate instances in one test process must not
// share counters.
//
//	authgate_decisions_total{outcome,reason}            allow/deny of the decision engine
//	authgate_token_verification_seconds{cache}          access-token verification latency (cache hit/miss)
//	authgate_token_cache_hits_total, _misses_total      verified-token cache
//	authgate_jwks_fetches_total, _fetch_failures_total  key-set downloads
//	authgate_token_endpoint_requests_total{grant}       calls to the provider's token endpoint
//	authgate_token_endpoint_errors_total{grant,kind}    ... that failed, by OAuth error code or transport failure
//	authgate_refreshes_total{outcome}                   /auth/refresh outcomes
//	authgate_store_errors_total{op}                     store (memory/Redis) failures
//	authgate_http_requests_in_flight                    requests being served
//
// Every label value comes from a closed set, so a hostile client cannot grow
// the number of series: reasons outside DecisionReasons count as "other". The
// hot-path counters (decisions, cache, latency) are resolved once in New, so
// an increment is a map lookup and an atomic add.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/internal/promtext"
	"github.com/authgate/authgate/store"
)

// DecisionReasons is the closed set of reasons the decision engine gives
// (proxy.Decision.Reason, which includes every tokens.Reason). The test of
// this package checks that proxy.Reason and tokens.Reason stay inside it.
var DecisionReasons = []string{
	// Allow.
	"authenticated", "public_route",
	// Deny before or around verification.
	"invalid_path", "forbidden_role", "no_token", "cookie_invalid", "authorization_header_invalid",
	// tokens.Reason.
	"token_expired", "token_not_yet_valid", "token_too_large", "token_algorithm", "token_header",
	"token_unknown_key", "token_signature", "token_issuer", "token_audience", "token_revoked",
	"keyset_unavailable", "token_claims", "token_malformed",
}

// OAuthErrorKinds are the token-endpoint error kinds counted by name: the
// error codes of RFC 6749 §5.2, plus "transport" (no answer), "status" (an
// HTTP error without an OAuth error code) and "other".
var OAuthErrorKinds = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "transport", "status", "other",
}

// RefreshOutcomes are the outcomes of /auth/refresh: "success" or the error
// code the endpoint answers.
var RefreshOutcomes = []string{"success", "invalid_refresh_token", "refresh_in_progress", "refresh_failed"}

// Grants are the token-endpoint grants authgate uses.
var Grants = []string{"authorization_code", "refresh_token"}

// StoreOps are the store operations counted by store errors.
var StoreOps = []string{"put", "put_new", "get", "take", "delete", "ping"}

// Metrics holds authgate's collectors. A nil *Metrics is valid and records
// nothing, so callers need no nil checks.
type Metrics struct {
	allow, deny             map[string]*promtext.Counter
	allowOther, denyOther   *promtext.Counter
	verifyHit, verifyMiss   *promtext.Histogram
	cacheHits, cacheMisses  *promtext.Counter
	jwksFetches, jwksFailed *promtext.Counter
	tokenCalls              map[string]*promtext.Counter
	tokenErrors             *promtext.CounterVec
	refreshes               map[string]*promtext.Counter
	storeErrors             map[string]*promtext.Counter
	inFlight                *promtext.Gauge
}

// New creates the collectors and registers them on reg. It panics if they are
// already registered there (a wiring bug).
func New(reg *promtext.Registry) *Metrics {
	decisions := promtext.NewCounterVec(promtext.Opts{
		Name: "authgate_decisions_total",
		Help: "Decisions of the decision engine (proxy and forward-auth), by outcome and reason.",
	}, "outcome", "reason")
	latency := promtext.NewHistogramVec(promtext.Opts{
		Name: "authgate_token_verification_seconds",
		Help: "Time to verify an access token; cache=hit skips the signature check.",
	},
		// 10µs … 0.65s: a cache hit is microseconds, a signature tens of
		// microseconds, a JWKS refetch on an unknown kid milliseconds or more.
		promtext.ExponentialBuckets(0.00001, 4, 9), "cache")
	m := &Metrics{
		allow: map[string]*promtext.Counter{},
		deny:  map[string]*promtext.Counter{},
		cacheHits: promtext.NewCounter(promtext.Opts{
			Name: "authgate_token_cache_hits_total",
			Help: "Access-token verifications answered from the verified-token cache.",
		}),
		cacheMisses: promtext.NewCounter(promtext.Opts{
			Name: "authgate_token_cache_misses_total",
			Help: "Access-token verifications that needed a signature check.",
		}),
		jwksFetches: promtext.NewCounter(promtext.Opts{
			Name: "authgate_jwks_fetches_total",
			Help: "Downloads of the provider's JWKS (start-up, readiness and unknown key ids).",
		}),
		jwksFailed: promtext.NewCounter(promtext.Opts{
			Name: "authgate_jwks_fetch_failures_total",
			Help: "JWKS downloads that failed; the last good key set keeps serving.",
		}),
		tokenCalls: map[string]*promtext.Counter{},
		tokenErrors: promtext.NewCounterVec(promtext.Opts{
			Name: "authgate_token_endpoint_errors_total",
			Help: "Failed token-endpoint calls, by grant and kind (OAuth error code, transport or status).",
		}, "grant", "kind"),
		refreshes:   map[string]*promtext.Counter{},
		storeErrors: map[string]*promtext.Counter{},
		inFlight: promtext.NewGauge(promtext.Opts{
			Name: "authgate_http_requests_in_flight",
			Help: "Requests being served on the proxy listener.",
		}),
	}
	for _, r := range DecisionReasons {
		m.allow[r] = decisions.With("allow", r)
		m.deny[r] = decisions.With("deny", r)
	}
	m.allowOther = decisions.With("allow", "other")
	m.denyOther = decisions.With("deny", "other")
	m.verifyHit = latency.With("hit")
	m.verifyMiss = latency.With("miss")

	tokenCalls := promtext.NewCounterVec(promtext.Opts{
		Name: "authgate_token_endpoint_requests_total",
		Help: "Calls to the provider's token endpoint, by grant.",
	}, "grant")
	for _, g := range Grants {
		m.tokenCalls[g] = tokenCalls.With(g)
		for _, k := range OAuthErrorKinds {
			m.tokenErrors.With(g, k) // present at 0, so rate() works from the start
		}
	}
	refreshes := promtext.NewCounterVec(promtext.Opts{
		Name: "authgate_refreshes_total",
		Help: "Session refreshes (/auth/refresh), by outcome.",
	}, "outcome")
	for _, o := range RefreshOutcomes {
		m.refreshes[o] = refreshes.With(o)
	}
	storeErrors := promtext.NewCounterVec(promtext.Opts{
		Name: "authgate_store_errors_total",
		Help: "Store operations that failed (not counting absent keys), by operation.",
	}, "op")
	for _, op := range StoreOps {
		m.storeErrors[op] = storeErrors.With(op)
	}
	reg.MustRegister(decisions, latency, m.cacheHits, m.cacheMisses, m.jwksFetches, m.jwksFailed,
		tokenCalls, m.tokenErrors, refreshes, storeErrors, m.inFlight)
	return m
}

// Decision counts one decision of the engine.
func (m *Metrics) Decision(allow bool, reason string) {
	if m == nil {
		return
	}
	if allow {
		if c, ok := m.allow[reason]; ok {
			c.Inc()
			return
		}
		m.allowOther.Inc()
		return
	}
	if c, ok := m.deny[reason]; ok {
		c.Inc()
		return
	}
	m.denyOther.Inc()
}

// Verification records one access-token verification (tokens.Config.Observe).
func (m *Metrics) Verification(cacheHit bool, elapsed time.Duration, _ error) {
	if m == nil {
		return
	}
	if cacheHit {
		m.cacheHits.Inc()
		m.verifyHit.Observe(elapsed.Seconds())
		return
	}
	m.cacheMisses.Inc()
	m.verifyMiss.Observe(elapsed.Seconds())
}

// VerificationObserver returns Verification for tokens.Config.Observe, or nil
// for a nil *Metrics, so that an uninstrumented verifier does not even read
// the clock.
func (m *Metrics) VerificationObserver() func(cacheHit bool, elapsed time.Duration, err error) {
	if m == nil {
		return nil
	}
	return m.Verification
}

// JWKSFetch records one key-set download (tokens.KeySetOptions.OnFetch).
func (m *Metrics) JWKSFetch(err error) {
	if m == nil {
		return
	}
	m.jwksFetches.Inc()
	if err != nil {
		m.jwksFailed.Inc()
	}
}

// TokenCall records one call to the token endpoint with grant; err is what
// golang.org/x/oauth2 returned.
func (m *Metrics) TokenCall(grant string, err error) {
	if m == nil {
		return
	}
	c, ok := m.tokenCalls[grant]
	if !ok {
		return // not a grant authgate makes; nothing to count it under
	}
	c.Inc()
	if err != nil {
		m.tokenErrors.With(grant, TokenErrorKind(err)).Inc()
	}
}

// TokenErrorKind classifies a token-endpoint error into OAuthErrorKinds.
func TokenErrorKind(err error) string {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return "transport"
	}
	if re.ErrorCode == "" {
		return "status"
	}
	for _, k := range OAuthErrorKinds[:6] {
		if re.ErrorCode == k {
			return k
		}
	}
	return "other"
}

// Refresh records the outcome of one /auth/refresh ("success" or its error code).
func (m *Metrics) Refresh(outcome string) {
	if m == nil {
		return
	}
	if c, ok := m.refreshes[outcome]; ok {
		c.Inc()
	}
}

// InFlight wraps h to count the requests it is serving.
func (m *Metrics) InFlight(h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		h.ServeHTTP(w, r)
	})
}

// Store wraps s to count its failures. Absent keys (store.ErrNotFound) and
// callers that gave up (a done context) are not failures of the store.
func (m *Metrics) Store(s store.Store) store.Store {
	if m == nil {
		return s
	}
	return &countingStore{Store: s, m: m}
}

type countingStore struct {
	store.Store
	m *Metrics
}

func (c *countingStore) count(op string, err error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return err
	}
	gaveUp := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	if errors.Is(err, store.ErrUnavailable) || !gaveUp {
		c.m.storeErrors[op].Inc()
	}
	return err
}

func (c *countingStore) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return c.count("put", c.Store.Put(ctx, key, value, ttl))
}

func (c *countingStore) PutNew(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ok, err := c.Store.PutNew(ctx, key, value, ttl)
	return ok, c.count("put_new", err)
}

func (c *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := c.Store.Get(ctx, key)
	return v, c.count("get", err)
}

func (c *countingStore) Take(ctx context.Context, key string) ([]byte, error) {
	v, err := c.Store.Take(ctx, key)
	return v, c.count("take", err)
}

func (c *countingStore) Delete(ctx context.Context, key string) error {
	return c.count("delete", c.Store.Delete(ctx, key))
}

func (c *countingStore) Ping(ctx context.Context) error {
	return c.count("ping", c.Store.Ping(ctx))
}
