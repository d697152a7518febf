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
	// nextTidy (Unix nanoseconds; 0 before the first put) is when a shard
	// that is not full may next be scanned for expired entries.
	nextTidy int64
	// peak is the most entries m has held since it was made: a Go map keeps
	// the room it once needed, so a shard whose entries fell far below its
	// peak is copied into a smaller map.
	peak int
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
//
// A shard that is not full is also swept, at most once every TidyInterval, so
// that entries of a burst that has passed (a flood of tokens, the morning's
// logins) leave once they expire instead of waiting for the shard to fill,
// and the shard's map shrinks with them. That happens on a put: a cache no
// one puts into keeps what it holds, which is at most its bound.
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
	switch {
	case len(s.m) >= c.perShard:
		if t >= s.nextSweep {
			s.nextSweep = after(t, time.Second)
			s.nextTidy = after(t, TidyInterval)
			c.sweep(s, t)
		}
		for key, it := range s.m {
			if len(s.m) < c.perShard {
				break
			}
			delete(s.m, key)
			c.evicted(it.v)
		}
	case s.nextTidy == 0:
		s.nextTidy = after(t, TidyInterval)
	case t >= s.nextTidy:
		s.nextTidy = after(t, TidyInterval)
		c.sweep(s, t)
	}
	s.m[*k] = item[V]{v, exp}
	s.peak = max(s.peak, len(s.m))
}

// TidyInterval is how often a shard that is not full may be swept of expired
// entries: rarely enough that the scan costs nothing next to the puts between
// two sweeps, often enough that a burst's memory comes back within minutes of
// its expiry.
const TidyInterval = time.Minute

// sweep drops s's expired entries, then shrinks s's map (see Shrink).
func (c *Cache[V]) sweep(s *shard[V], t int64) {
	for key, it := range s.m {
		if t >= it.expires {
			delete(s.m, key)
			c.evicted(it.v)
		}
	}
	s.m, s.peak = Shrink(s.m, s.peak)
}

// Shrink returns m and peak, the most entries m has held since it was made;
// or, when m holds a quarter of peak or less, a copy of m in a map of its size
// and that size as the new peak. Deleting from a Go map never gives its memory
// back (and maps.Clone copies the room too). Called after deletes, it costs
// O(1) a delete: each copy of n entries follows at least 3n of them.
func Shrink[K comparable, V any](m map[K]V, peak int) (map[K]V, int) {
	n := len(m)
	if peak < minShrinkPeak || n > peak/4 {
		return m, peak
	}
	small := make(map[K]V, n)
	for k, v := range m {
		small[k] = v
	}
	return small, n
}

// minShrinkPeak: below this many entries, a map's spare room is not worth a
// copy.
const minShrinkPeak = 64

// after is t plus d, saturated instead of overflowing.
func after(t int64, d time.Duration) int64 {
	if u := t + int64(d); u >= t {
		return u
	}
	return math.MaxInt64
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
