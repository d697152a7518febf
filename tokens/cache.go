package tokens

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
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
	// nextSweep is when a full shard may next be scanned for expired entries.
	nextSweep time.Time
	// Readers write the lock word of their shard; padding keeps two shards'
	// locks off one cache line, so cores reading different shards never
	// contend, not even through false sharing.
	_ [64]byte
}

// tokenKey is the cache key of a token: its SHA-256, computed on the token's
// bytes in place. SHA-256 only reads its input and keeps no reference to it,
// so viewing the string as a byte slice is safe, and it saves copying the
// whole token (1-2 KiB) on every request.
func tokenKey(raw string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
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
// distinct valid tokens. Scanning a full shard for expired entries costs about
// as much as the signature check that preceded the put, so under such a flood
// it runs at most once a second per shard; in between, room is made by
// evicting arbitrary entries (map iteration order is random).
func (c *cache) put(k [sha256.Size]byte, v *Claims, now time.Time) {
	s := c.shard(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		if !now.Before(s.nextSweep) {
			s.nextSweep = now.Add(time.Second)
			for key, e := range s.m {
				if !now.Before(e.Expiry.Time) {
					delete(s.m, key)
				}
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

// share makes a freshly verified entry point at the verifier's own copies of
// what every entry has in common. Issuer, audience and azp were just checked
// against (or are equal to) the configuration, so equal values are replaced
// by shared ones: about 100 of an entry's ~700 bytes, 10 MiB per 100,000
// cached tokens. c must not be shared yet.
func (v *Verifier) share(c *Claims) *Claims {
	if c.Issuer == v.cfg.Issuer {
		c.Issuer = v.cfg.Issuer
	}
	if len(c.Audience) == 1 && c.Audience[0] == v.cfg.ClientID {
		c.Audience = v.aud
	}
	if c.AuthorizedParty == v.cfg.ClientID {
		c.AuthorizedParty = v.cfg.ClientID
	}
	return c
}
