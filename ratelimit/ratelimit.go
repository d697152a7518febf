// Package ratelimit bounds how fast one client may call the endpoints that
// write to the store (login, callback, exchange), so nobody can flood it with
// states or exchange codes. It is a token bucket per key, kept in memory with
// a bounded number of keys: under a flood of distinct keys the oldest buckets
// are dropped, which only ever makes the limit more lenient for them, never
// lets memory grow without bound.
package ratelimit

import (
	"sync"
	"time"
)

const shards = 32

// Limiter allows Burst requests at once per key and Rate requests per second
// sustained.
type Limiter struct {
	rate    float64
	burst   float64
	perShrd int
	now     func() time.Time
	shards  [shards]shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// Options configure a Limiter.
type Options struct {
	// PerMinute is the sustained rate; Burst how many may come at once.
	PerMinute, Burst int
	// MaxKeys bounds memory (default 100000).
	MaxKeys int
	Now     func() time.Time
}

// New returns a limiter. PerMinute <= 0 returns nil, which allows everything.
func New(o Options) *Limiter {
	if o.PerMinute <= 0 {
		return nil
	}
	if o.Burst <= 0 {
		o.Burst = o.PerMinute
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 100_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Limiter{rate: float64(o.PerMinute) / 60, burst: float64(o.Burst), perShrd: max(1, o.MaxKeys/shards), now: o.Now}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
	}
	return l
}

// Allow takes one token for key and reports whether the request may proceed,
// and if not, how long until it would.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	s := &l.shards[fnv(key)%shards]
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[key]
	if !ok {
		if len(s.buckets) >= l.perShrd {
			l.evict(s, now)
		}
		b = &bucket{tokens: l.burst, last: now}
		s.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// evict drops full buckets first (they carry no state worth keeping), then
// arbitrary ones until there is room.
func (l *Limiter) evict(s *shard, now time.Time) {
	for k, b := range s.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(s.buckets, k)
		}
	}
	for k := range s.buckets {
		if len(s.buckets) < l.perShrd {
			return
		}
		delete(s.buckets, k)
	}
}

// Len returns the number of tracked keys.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

func fnv(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
