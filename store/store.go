// Package store keeps short-lived, single-use values: OAuth state, exchange
// codes and revocation markers (DESIGN.md §7). Two implementations satisfy the
// same [Store] contract and pass the same suite (package storetest):
//
//   - [Memory], the default for a single instance: a bounded map in the process.
//   - [Redis], for several replicas sharing state through go-redis' universal
//     client (standalone, Sentinel or Cluster).
//
// # Redis URLs
//
// [NewRedis] accepts these forms (user names and passwords percent-encoded):
//
//	redis://[user:pass@]host[:port][/db]                      standalone, plain TCP
//	rediss://[user:pass@]host[:port][/db]                     standalone, TLS (≥ 1.2)
//	redis-sentinel://[user:pass@]h1:p1,h2:p2/<master>[?db=N]  Sentinel
//	redis-cluster://[user:pass@]h1:p1,h2:p2                   Cluster (seed nodes)
//
// For Sentinel the credentials authenticate to the master and replicas, not
// to the sentinels themselves.
// Ports default to 6379 (26379 for sentinels). Cluster has no database
// number. Unknown query parameters are rejected rather than ignored, so a typo
// cannot silently change behaviour. Errors never echo the password.
//
// # Errors
//
// A missing or expired key is [ErrNotFound]. Any backend failure (connection
// refused, timeout, closed store, memory store full) wraps [ErrUnavailable], so
// callers answer 503 store_unavailable with one errors.Is check. A context
// that is already done when an operation starts yields its own error
// (errors.Is(err, context.Canceled)), not ErrUnavailable: the caller gave up,
// the backend did not fail.
//
// Keys never appear in error messages: they are state values and exchange
// codes, and errors end up in logs.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrNotFound means the key is absent or its TTL has run out.
	ErrNotFound = errors.New("store: not found")
	// ErrUnavailable means the backend failed; it is always wrapped with
	// context, so test with errors.Is.
	ErrUnavailable = errors.New("store: unavailable")
)

// Store holds short-lived values. Implementations are safe for concurrent use.
type Store interface {
	// Put stores value under key for ttl, replacing any previous value.
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// PutNew stores value only if key is absent (SET NX); reports whether it stored.
	PutNew(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Get returns a live value or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Take checks the key's remaining TTL first (expired/absent → ErrNotFound), then
	// atomically gets and deletes it: of any number of concurrent Takes of one key,
	// exactly one gets the value.
	Take(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	Ping(ctx context.Context) error
	Close() error
}

// checkTTL rejects ttl <= 0. Both backends would otherwise store the value
// forever (Redis SET without PX, a zero deadline in memory), and a state or
// exchange code that never expires breaks the "expiring" invariant of §9.
func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("store: %s: ttl must be positive, got %v", op, ttl)
	}
	return nil
}

// checkCtx returns the context's error, wrapped, when the caller has already
// given up, so no work is done on its behalf.
func checkCtx(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return nil
}
