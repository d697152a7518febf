// Package hashcache is a bounded, sharded map from a SHA-256 digest to a value,
// for caches whose keys are hashes of secrets (a token, a cookie) so the
// secret itself is never kept.
//
// Its size is bounded whatever the input, because the keys come from clients:
// a flood of distinct valid keys must cost a fixed amount of memory, not an
// unbounded one. At capacity, entries past their expiry go first, then
// arbitrary ones (Go's map iteration order is random), so an attacker cannot
// choose which entries survive.
//
// Values are stored by value beside their expiry in the shard maps, not behind
// a pointer per entry: at 100,000 entries a pointer per entry would cost an
// allocation header and a size-class round-up each, and give the garbage
// collector 100,000 more objects to trace. Sharding keeps readers on
// different cores from contending on one lock.
//
// Get does not look at expiry: a cache hit must never decide on its own that
// an entry is still good, so callers re-check their own rules on every hit.
package hashcache

import (
	"crypto/sha256"
	"math"
	"sync"
	"time"
	"unsafe"
)

// Key is a digest of a secret: its SHA-256 (KeyOf), or a shorter seeded hash
// padded with zeros for a cache that compares the secret itself on a hit.
type Key = [32]byte

// KeyOf is the key of a secret: its SHA-256, computed on the string's bytes
// in place. SHA-256 only reads its input and keeps no reference to it, so
// viewing the string as a byte slice is safe, and it saves copying the whole
// secret (a 1–3 KiB token or cookie) on every request.
func KeyOf(secret string) Key {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(secret), len(secret)))
}

// numShards is the most shards a cache has: enough that readers on many cores
// rarely share a lock.
const numShards = 64

// Cache is a bounded map from Key to V, safe for concurrent use.
type Cache[V any] struct {
	perShard int
	nShards  int // ≤ numShards; fewer for caches smaller than numShards
	onEvict  func(V)
	shards   [numShards]shard[V]
}

type item[V any] struct {
	v V
	// expires is in Unix nanoseconds, saturated: a token may expire in the
	// year 36,000, which time.Time.UnixNano cannot represent.
	expires int64
}

type shard[V any] struct {
	mu sync.RWMutex
	m  map[Key]item[V]
	// nextSweep (Unix nanoseconds) is when a full shard may next be scanned
	// for expired entries.
	nextSweep int64
	// Readers write the lock word of their shard; padding keeps two shards'
	// locks off one cache line, so cores reading different shards never
	// contend, not even through false sharing.
	_ [64]byte
}

// New returns a cache holding at most maxEntries values; maxEntries must be
// positive. onEvict, when non-nil, is called with every value that leaves the
// cache: evicted, swept as expired, replaced by a Put of the same key, or
// deleted. It runs under the shard's lock, so it must be cheap and must not
// call back into the cache.
func New[V any](maxEntries int, onEvict func(V)) *Cache[V] {
	if maxEntries <= 0 {
		panic("hashcache: maxEntries must be positive")
	}
	// Every shard holds at least one entry, so a cache smaller than numShards
	// uses fewer shards; otherwise it could hold up to numShards entries
	// whatever its configured size.
	n := min(numShards, maxEntries)
	c := &Cache[V]{perShard: maxEntries / n, nShards: n, onEvict: onEvict}
	for i := range c.shards[:n] {
		c.shards[i].m = make(map[Key]item[V])
	}
	return c
}

func (c *Cache[V]) shard(k *Key) *shard[V] {
	return &c.shards[int(k[0])%c.nShards]
}

// Get returns the value stored under k. It does not look at expiry: callers
// re-check their own rules on every hit.
func (c *Cache[V]) Get(k *Key) (V, bool) {
	s := c.shard(k)
	s.mu.RLock()
	it, ok := s.m[*k]
	s.mu.RUnlock()
	return it.v, ok
}

// Put stores v under k until expires (after which a full shard may sweep it);
// now is the current time. When the shard is full it first drops expired
// entries and, if still full, arbitrary ones, so memory stays bounded under a
// flood of distinct keys. Scanning a full shard for expired entries costs about
// as much as the signature check that typically precedes a put, so under such a
// flood it runs at most once a second per shard; in between, room is made by
// evicting arbitrary entries.
func (c *Cache[V]) Put(k *Key, v V, expires, now time.Time) {
	exp, t := unixNano(expires), unixNano(now)
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[*k]; ok {
		// Replacing needs no room: evicting another entry would be a loss.
		s.m[*k] = item[V]{v, exp}
		c.evicted(old.v)
		return
	}
	if len(s.m) >= c.perShard {
		if t >= s.nextSweep {
			s.nextSweep = t + int64(time.Second)
			if s.nextSweep < t { // overflow
				s.nextSweep = math.MaxInt64
			}
			for key, it := range s.m {
				if t >= it.expires {
					delete(s.m, key)
					c.evicted(it.v)
				}
			}
		}
		for key, it := range s.m {
			if len(s.m) < c.perShard {
				break
			}
			delete(s.m, key)
			c.evicted(it.v)
		}
	}
	s.m[*k] = item[V]{v, exp}
}

// Delete removes the value stored under k, if any.
func (c *Cache[V]) Delete(k *Key) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.m[*k]; ok {
		delete(s.m, *k)
		c.evicted(it.v)
	}
}

// Len returns the number of values cached (a snapshot: shards are counted one
// after another).
func (c *Cache[V]) Len() int {
	n := 0
	for i := range c.shards[:c.nShards] {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

func (c *Cache[V]) evicted(v V) {
	if c.onEvict != nil {
		c.onEvict(v)
	}
}

// unixNano is t.UnixNano, saturated at the ends of int64 instead of
// undefined beyond them.
func unixNano(t time.Time) int64 {
	const maxSec = math.MaxInt64 / int64(time.Second) // whole seconds that always fit
	switch s := t.Unix(); {
	case s >= maxSec:
		return math.MaxInt64
	case s < -maxSec:
		return math.MinInt64
	}
	return t.UnixNano()
}
