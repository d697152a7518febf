package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

var _ PubSub = (*Redis)(nil)

// scanBatch is the COUNT hint of one SCAN step, and the number of GETs
// pipelined per round trip.
const scanBatch = 500

// Publish sends msg on channel (namespaced with the key prefix, so two
// deployments sharing a Redis do not hear each other). PUBLISH reaches every
// node of a Cluster.
func (r *Redis) Publish(ctx context.Context, channel string, msg []byte) error {
	const op = "publish"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if err := r.client.Publish(ctx, r.key(channel), msg).Err(); err != nil {
		return r.fail(op, err)
	}
	return nil
}

// Subscribe implements [PubSub]. go-redis reconnects and resubscribes by
// itself (and pings the connection every few seconds to notice a silent
// drop); every confirmation of the subscription, the first and each after a
// reconnection, calls onReady, so the caller reloads what it missed.
func (r *Redis) Subscribe(ctx context.Context, channel string, onReady func(), onMessage func([]byte)) (func(), error) {
	const op = "subscribe"
	if err := checkCtx(ctx, op); err != nil {
		return nil, err
	}
	// The subscription outlives the caller's (start-up) context: only stop
	// ends it. ctx bounds the wait for the first confirmation.
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ps := r.client.Subscribe(life, r.key(channel))
	// Wait for the first confirmation, so a caller that publishes right after
	// Subscribe returns is heard, and a wrong address fails here.
	first, err := ps.Receive(ctx)
	if err != nil {
		cancel()
		_ = ps.Close()
		return nil, r.fail(op, err)
	}
	if _, ok := first.(*redis.Subscription); !ok {
		cancel()
		_ = ps.Close()
		return nil, fmt.Errorf("store: redis %s: %w: unexpected reply %T", op, ErrUnavailable, first)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			_ = ps.Close()
		})
	}
	ch := ps.ChannelWithSubscriptions()
	onReady()
	go func() {
		defer stop()
		for {
			select {
			case <-life.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				switch m := m.(type) {
				case *redis.Subscription:
					if m.Kind == "subscribe" {
						onReady()
					}
				case *redis.Message:
					onMessage([]byte(m.Payload))
				}
			}
		}
	}()
	return stop, nil
}

// Scan implements [PubSub] with SCAN MATCH (never KEYS, which blocks Redis)
// and pipelined GETs; on a Cluster it scans every master.
func (r *Redis) Scan(ctx context.Context, prefix string, fn func(key string, value []byte) error) error {
	const op = "scan"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	match := globEscape(r.key(prefix)) + "*"
	scanNode := func(ctx context.Context, c redis.Cmdable, emit func(string, []byte) error) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, match, scanBatch).Result()
			if err != nil {
				return r.fail(op, err)
			}
			if len(keys) > 0 {
				cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, k := range keys {
						p.Get(ctx, k)
					}
					return nil
				})
				if err != nil && !errors.Is(err, redis.Nil) {
					return r.fail(op, err)
				}
				for i, cmd := range cmds {
					v, err := cmd.(*redis.StringCmd).Bytes()
					if errors.Is(err, redis.Nil) {
						continue // expired or deleted since SCAN saw it
					} else if err != nil {
						return r.fail(op, err)
					}
					if err := emit(strings.TrimPrefix(keys[i], r.prefix), v); err != nil {
						return err
					}
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := r.client.(*redis.ClusterClient); ok {
		// ForEachMaster scans the masters in parallel; fn need not be safe
		// for concurrent use.
		var mu sync.Mutex
		locked := func(k string, v []byte) error {
			mu.Lock()
			defer mu.Unlock()
			return fn(k, v)
		}
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return scanNode(ctx, c, locked)
		})
	}
	return scanNode(ctx, r.client, fn)
}

// globEscape quotes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
