package tokens

import (
	"crypto/sha256"
	"sync"
	"time"
)

const cacheShards = 64

// cache remembers tokens whose signature has been verified, keyed by a SHA-256
// of the whole token (the token itself is never kept). A hit skips only the
// signature work: the caller re-checks issuer, audience and time on every hit,
// because a cache that skips a check is a vulnerability (Oathkeeper
// GHSA-qvp4-rpmr-xwrr). Sharding keeps readers on different cores from
// contending on one lock.
type cache struct {
	perShard int
	nShards  int // ≤ cacheShards; fewer for caches smaller than cacheShards
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]*Claims
}

func newCache(maxEntries int) *cache {
	// Every shard holds at least one entry, so a cache smaller than
	// cacheShards uses fewer shards; otherwise it could hold up to
	// cacheShards entries whatever its configured size.
	n := min(cacheShards, max(maxEntries, 1))
	c := &cache{perShard: max(maxEntries/n, 1), nShards: n}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]*Claims)
	}
	return c
}

func (c *cache) shard(k *[sha256.Size]byte) *cacheShard {
	return &c.shards[int(k[0])%c.nShards]
}

func (c *cache) get(k [sha256.Size]byte) (*Claims, bool) {
	s := c.shard(&k)
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	return v, ok
}

// put stores claims; when the shard is full it first drops expired entries and,
// if still full, an arbitrary one, so memory stays bounded under a flood of
// distinct valid tokens.
func (c *cache) put(k [sha256.Size]byte, v *Claims, now time.Time) {
	s := c.shard(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		for key, e := range s.m {
			if !now.Before(e.Expiry.Time) {
				delete(s.m, key)
			}
		}
		for key := range s.m {
			if len(s.m) < c.perShard {
				break
			}
			delete(s.m, key)
		}
	}
	s.m[k] = v
}

func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
