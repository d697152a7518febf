package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultKeyPrefix namespaces authgate's keys when RedisOptions.KeyPrefix is
// empty, so a Redis shared with other applications cannot collide with them.
const DefaultKeyPrefix = "authgate:"

// Short timeouts make a dead or hung Redis cost a login about a second, not
// the go-redis default of 5 s per attempt times several retries: login and
// exchange answer 503 quickly while token-bearing traffic, which never
// touches the store, keeps flowing (DESIGN.md §7).
const (
	redisDialTimeout  = time.Second
	redisIOTimeout    = time.Second
	redisDialAttempts = 1
	// One retry covers a connection that dropped since its last use; more
	// would only stretch the time to a clear 503.
	redisMaxRetries = 1
)

// RedisOptions configures NewRedis.
type RedisOptions struct {
	// KeyPrefix is prepended to every key; "" means DefaultKeyPrefix.
	KeyPrefix string
	// WaitReplicas, when positive, makes every write wait (Redis WAIT, on the
	// same connection) until that many replicas have it, and fail with
	// ErrUnavailable otherwise. Redis replicates asynchronously: without it,
	// a state or exchange code acknowledged to a browser just before the
	// master dies can be missing on the replica Sentinel promotes. Standalone
	// and Sentinel only; Cluster has no connection-scoped WAIT to rely on.
	WaitReplicas int
}

// waitTimeout bounds a WAIT; it stays below the read timeout so a missing
// replica is a clear "not replicated" rather than an I/O error.
const waitTimeout = 500 * time.Millisecond

// Redis is a Store on Redis ≥ 6.2 (GETDEL), standalone, Sentinel or Cluster.
// Expiry is Redis' own, so all replicas agree on it.
type Redis struct {
	client       redis.UniversalClient
	prefix       string
	waitReplicas int
}

var _ Store = (*Redis)(nil)

// NewRedis parses rawURL (forms in the package comment), connects and pings
// once under ctx, so a wrong address or password fails at startup rather
// than on the first login. A ping failure wraps ErrUnavailable.
func NewRedis(ctx context.Context, rawURL string, opts RedisOptions) (*Redis, error) {
	uo, err := parseRedisURL(rawURL)
	if err != nil {
		return nil, err
	}
	uo.DialTimeout = redisDialTimeout
	uo.ReadTimeout = redisIOTimeout
	uo.WriteTimeout = redisIOTimeout
	uo.DialerRetries = redisDialAttempts
	uo.MaxRetries = redisMaxRetries
	// Honour caller deadlines too, e.g. a request context that ends first.
	uo.ContextTimeoutEnabled = true
	// Maintenance notifications are a Redis Enterprise/Cloud handshake; plain
	// Redis rejects it, which costs a round trip per connection for nothing.
	uo.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	if opts.WaitReplicas < 0 || (opts.WaitReplicas > 0 && uo.IsClusterMode) {
		return nil, errors.New("redis: wait for replicas needs a standalone or Sentinel URL and a count ≥ 0")
	}
	r := &Redis{client: redis.NewUniversalClient(uo), prefix: opts.KeyPrefix, waitReplicas: opts.WaitReplicas}
	if r.prefix == "" {
		r.prefix = DefaultKeyPrefix
	}
	if err := r.Ping(ctx); err != nil {
		_ = r.client.Close()
		return nil, err
	}
	return r, nil
}

// Put stores value under key for ttl, replacing any previous value.
func (r *Redis) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	const op = "put"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if err := checkTTL(op, ttl); err != nil {
		return err
	}
	if r.waitReplicas == 0 {
		if err := r.client.Set(ctx, r.key(key), value, roundUpMs(ttl)).Err(); err != nil {
			return r.fail(op, err)
		}
		return nil
	}
	var set *redis.StatusCmd
	err := r.replicated(ctx, func(p redis.Pipeliner) { set = p.Set(ctx, r.key(key), value, roundUpMs(ttl)) })
	if err == nil {
		err = set.Err()
	}
	if err != nil {
		return r.fail(op, err)
	}
	return nil
}

// replicated runs write and a WAIT for r.waitReplicas in one pipeline, so
// both use the same connection (WAIT counts that connection's writes).
func (r *Redis) replicated(ctx context.Context, write func(redis.Pipeliner)) error {
	var wait *redis.Cmd
	if _, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		write(p)
		wait = p.Do(ctx, "WAIT", r.waitReplicas, waitTimeout.Milliseconds())
		return nil
	}); err != nil {
		return err
	}
	n, err := wait.Int()
	if err != nil {
		return err
	}
	if n < r.waitReplicas {
		return fmt.Errorf("write reached %d of %d replicas within %v", n, r.waitReplicas, waitTimeout)
	}
	return nil
}

// PutNew stores value only if key is absent (SET NX PX).
func (r *Redis) PutNew(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	const op = "put new"
	if err := checkCtx(ctx, op); err != nil {
		return false, err
	}
	if err := checkTTL(op, ttl); err != nil {
		return false, err
	}
	if r.waitReplicas == 0 {
		stored, err := r.client.SetNX(ctx, r.key(key), value, roundUpMs(ttl)).Result()
		if err != nil {
			return false, r.fail(op, err)
		}
		return stored, nil
	}
	var set *redis.BoolCmd
	err := r.replicated(ctx, func(p redis.Pipeliner) { set = p.SetNX(ctx, r.key(key), value, roundUpMs(ttl)) })
	if err != nil {
		return false, r.fail(op, err)
	}
	stored, err := set.Result()
	if err != nil {
		return false, r.fail(op, err)
	}
	return stored, nil
}

// Get returns the live value under key or ErrNotFound.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	const op = "get"
	if err := checkCtx(ctx, op); err != nil {
		return nil, err
	}
	v, err := r.client.Get(ctx, r.key(key)).Bytes()
	if err != nil {
		return nil, r.fail(op, err)
	}
	return v, nil
}

// Take checks the remaining TTL, then GETDELs the key. PTTL first rejects
// absent and expired keys, and keys without a TTL (never written by this
// store, and honouring them would break "single-use values expire"), without
// issuing a write. GETDEL alone picks the winner: Redis runs it atomically,
// so of concurrent Takes exactly one receives the value. A key that expires
// between the two calls makes GETDEL return nil, which is still ErrNotFound.
func (r *Redis) Take(ctx context.Context, key string) ([]byte, error) {
	const op = "take"
	if err := checkCtx(ctx, op); err != nil {
		return nil, err
	}
	k := r.key(key)
	ttl, err := r.client.PTTL(ctx, k).Result()
	if err != nil {
		return nil, r.fail(op, err)
	}
	// PTTL is -2 (absent), -1 (no TTL) or the remaining milliseconds; 0
	// means less than a millisecond is left, i.e. expiring now.
	if ttl <= 0 {
		return nil, ErrNotFound
	}
	v, err := r.client.GetDel(ctx, k).Bytes()
	if err != nil {
		return nil, r.fail(op, err)
	}
	return v, nil
}

// Delete removes key; deleting an absent key is not an error.
func (r *Redis) Delete(ctx context.Context, key string) error {
	const op = "delete"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if err := r.client.Del(ctx, r.key(key)).Err(); err != nil {
		return r.fail(op, err)
	}
	return nil
}

// Ping checks that Redis answers; for /readyz.
func (r *Redis) Ping(ctx context.Context) error {
	const op = "ping"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if err := r.client.Ping(ctx).Err(); err != nil {
		return r.fail(op, err)
	}
	return nil
}

// Close releases the connection pool; later operations fail with
// ErrUnavailable.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("store: redis close: %w", err)
	}
	return nil
}

func (r *Redis) key(k string) string { return r.prefix + k }

// fail maps a go-redis error: redis.Nil (no such key) is ErrNotFound,
// anything else is a backend failure wrapping both ErrUnavailable and the
// cause, so callers can still tell e.g. context.DeadlineExceeded apart.
func (r *Redis) fail(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	return fmt.Errorf("store: redis %s: %w: %w", op, ErrUnavailable, err)
}

// roundUpMs rounds ttl up to whole milliseconds, Redis' finest expiry unit;
// go-redis would truncate instead (logging for sub-millisecond values), so a
// value could expire before the TTL its caller asked for.
func roundUpMs(ttl time.Duration) time.Duration {
	return (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
}
