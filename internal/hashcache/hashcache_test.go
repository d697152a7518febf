package hashcache

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

// key returns a well-spread key, as a SHA-256 digest is.
func key(i int) Key {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

// ledger checks onEvict: every value put leaves the cache at most once, and at
// the end each value is either still cached or departed, never both.
type ledger struct {
	mu      sync.Mutex
	gone    map[int]int // value → times onEvict saw it
	t       testing.TB
	evicted atomic.Int64
}

func newLedger(t testing.TB) *ledger { return &ledger{gone: map[int]int{}, t: t} }

func (l *ledger) onEvict(v int) {
	l.mu.Lock()
	l.gone[v]++
	n := l.gone[v]
	l.mu.Unlock()
	l.evicted.Add(1)
	if n > 1 {
		l.t.Errorf("onEvict called %d times for value %d", n, v)
	}
}

// check: values put = values cached + values departed, with no overlap.
func (l *ledger) check(c *Cache[int], put []int) {
	l.t.Helper()
	cached := map[int]bool{}
	for i := range c.shards[:c.nShards] {
		for _, it := range c.shards[i].m {
			cached[it.v] = true
		}
	}
	for _, v := range put {
		switch {
		case cached[v] && l.gone[v] > 0:
			l.t.Errorf("value %d both cached and departed", v)
		case !cached[v] && l.gone[v] != 1:
			l.t.Errorf("value %d neither cached nor departed exactly once (onEvict %d times)", v, l.gone[v])
		}
	}
}

func TestBoundUnderFlood(t *testing.T) {
	for _, size := range []int{1, 2, 3, 10, 63, 64, 65, 100, 127, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			l := newLedger(t)
			c := New(size, l.onEvict)
			var put []int
			n := 5*size + 300
			for i := range n {
				k := key(i)
				c.Put(&k, i, t0.Add(time.Hour), t0)
				put = append(put, i)
				if got := c.Len(); got > size {
					t.Fatalf("after %d puts Len = %d, bound %d", i+1, got, size)
				}
				if _, ok := c.Get(&k); !ok {
					t.Fatalf("value %d missing right after its put", i)
				}
			}
			// The bound is not met by refusing to cache: the cache fills up
			// to its shards' capacity (a whole multiple of the shard count).
			if got, floor := c.Len(), c.nShards*c.perShard; got < floor/2 {
				t.Errorf("Len = %d after a flood, want near %d", got, floor)
			}
			if int64(c.Len())+l.evicted.Load() != int64(n) {
				t.Errorf("Len %d + evicted %d != put %d", c.Len(), l.evicted.Load(), n)
			}
			l.check(c, put)
		})
	}
}

func TestSmallCachesUseFewerShards(t *testing.T) {
	for _, tc := range []struct{ size, shards, perShard int }{
		{1, 1, 1}, {3, 3, 1}, {63, 63, 1}, {64, 64, 1}, {65, 64, 1}, {128, 64, 2}, {100_000, 64, 1562},
	} {
		c := New[int](tc.size, nil)
		if c.nShards != tc.shards || c.perShard != tc.perShard {
			t.Errorf("New(%d): %d shards of %d, want %d of %d", tc.size, c.nShards, c.perShard, tc.shards, tc.perShard)
		}
		if c.nShards*c.perShard > tc.size {
			t.Errorf("New(%d) can hold %d", tc.size, c.nShards*c.perShard)
		}
	}
}

func TestNewRefusesNonPositive(t *testing.T) {
	for _, n := range []int{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d) did not panic", n)
				}
			}()
			New[int](n, nil)
		}()
	}
}

// sameShard returns n distinct keys that fall in one shard of c.
func sameShard(c *Cache[int], n int) []Key {
	var ks []Key
	for i := 0; len(ks) < n; i++ {
		k := key(i)
		if int(k[0])%c.nShards == 0 {
			ks = append(ks, k)
		}
	}
	return ks
}

func TestExpiredSweptBeforeLiveEvicted(t *testing.T) {
	l := newLedger(t)
	c := New(64*4, l.onEvict) // four entries per shard
	ks := sameShard(c, 6)
	// Two short-lived and two long-lived entries fill the shard.
	for i, life := range []time.Duration{time.Second, time.Hour, time.Second, time.Hour} {
		c.Put(&ks[i], i, t0.Add(life), t0)
	}
	// Past the short ones' expiry, two more entries fit without evicting a
	// live one.
	now := t0.Add(2 * time.Second)
	c.Put(&ks[4], 4, now.Add(time.Hour), now)
	c.Put(&ks[5], 5, now.Add(time.Hour), now)
	for i, want := range []bool{false, true, false, true, true, true} {
		if _, ok := c.Get(&ks[i]); ok != want {
			t.Errorf("entry %d cached = %v, want %v", i, ok, want)
		}
	}
	l.check(c, []int{0, 1, 2, 3, 4, 5})
}

// A sweep drops every expired entry of the shard, an eviction only as many
// entries as needed; so Len tells whether a put swept.
func TestSweepAtMostOncePerSecond(t *testing.T) {
	c := New[int](64*4, nil) // four entries per shard
	ks := sameShard(c, 9)
	put := func(i int, life time.Duration, now time.Time) { c.Put(&ks[i], i, now.Add(life), now) }
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	put(0, 100*time.Millisecond, at(0))
	put(1, 100*time.Millisecond, at(0))
	put(2, 100*time.Millisecond, at(0))
	put(3, time.Hour, at(0))
	put(4, time.Hour, at(500)) // full: sweeps 0, 1 and 2
	if got := c.Len(); got != 2 {
		t.Fatalf("after the first sweep Len = %d, want 2", got)
	}
	put(5, 100*time.Millisecond, at(500))
	put(6, 100*time.Millisecond, at(500))
	// 5 and 6 have expired, but the shard swept less than a second ago: one
	// entry is evicted to make room, nothing more.
	put(7, time.Hour, at(1000))
	if got := c.Len(); got != 4 {
		t.Fatalf("a second sweep within the second: Len = %d, want 4", got)
	}
	// A second after the first sweep, the next one may run.
	put(8, time.Hour, at(1600))
	for _, i := range []int{5, 6} {
		if _, ok := c.Get(&ks[i]); ok {
			t.Errorf("expired entry %d survived the sweep", i)
		}
	}
	if _, ok := c.Get(&ks[8]); !ok {
		t.Error("newest entry missing")
	}
}

// A shard that never fills is still swept of expired entries, at most once
// every TidyInterval, on a put.
func TestTidySweepsShardsThatAreNotFull(t *testing.T) {
	l := newLedger(t)
	c := New(64*100, l.onEvict) // a hundred entries per shard
	ks := sameShard(c, 52)
	var put []int
	for i := range 50 {
		c.Put(&ks[i], i, t0.Add(time.Second), t0)
		put = append(put, i)
	}
	c.Put(&ks[50], 50, t0.Add(time.Hour), t0.Add(TidyInterval/2))
	put = append(put, 50)
	if got := c.Len(); got != 51 {
		t.Fatalf("within TidyInterval of the first put: Len = %d, want 51 (no sweep yet)", got)
	}
	c.Put(&ks[51], 51, t0.Add(time.Hour), t0.Add(TidyInterval+time.Second))
	put = append(put, 51)
	if got := c.Len(); got != 2 {
		t.Fatalf("after TidyInterval: Len = %d, want the 2 live entries", got)
	}
	for _, i := range []int{50, 51} {
		if _, ok := c.Get(&ks[i]); !ok {
			t.Errorf("live entry %d swept", i)
		}
	}
	l.check(c, put)
}

// A burst's memory comes back after it expires: Go maps never shrink on
// delete, so a tidied shard far below its peak is copied into a smaller map.
func TestMemoryReturnsAfterBurst(t *testing.T) {
	const n = 100_000
	c := New[[48]byte](n, nil)
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	var v [48]byte
	for i := range n {
		k := key(i)
		c.Put(&k, v, t0.Add(time.Second), t0)
	}
	full := heap() - before
	// Later, one new token per shard, long after the burst expired.
	later := t0.Add(2 * TidyInterval)
	for i, done := n, map[int]bool{}; len(done) < c.nShards; i++ {
		k := key(i)
		if sh := int(k[0]) % c.nShards; !done[sh] {
			done[sh] = true
			c.Put(&k, v, later.Add(time.Hour), later)
		}
	}
	if got := c.Len(); got != c.nShards {
		t.Fatalf("Len = %d after the burst expired, want %d", got, c.nShards)
	}
	if left := int64(heap()) - int64(before); left > int64(full/10) {
		t.Errorf("%d KiB still held of the burst's %d KiB", left>>10, full>>10)
	}
	runtime.KeepAlive(c)
}

func TestOnEvictReplacementAndDelete(t *testing.T) {
	l := newLedger(t)
	c := New(10, l.onEvict)
	k, other := key(1), key(2)
	c.Put(&k, 1, t0.Add(time.Hour), t0)
	c.Put(&k, 2, t0.Add(time.Hour), t0) // replaces 1
	if l.gone[1] != 1 || l.gone[2] != 0 {
		t.Fatalf("after replacement: departed %v", l.gone)
	}
	if v, ok := c.Get(&k); !ok || v != 2 {
		t.Fatalf("Get = %d, %v; want 2, true", v, ok)
	}
	if c.Len() != 1 {
		t.Fatalf("Len = %d after replacing, want 1", c.Len())
	}
	c.Delete(&other) // absent: nothing departs
	c.Delete(&k)
	c.Delete(&k)
	if l.gone[2] != 1 {
		t.Fatalf("after delete: departed %v", l.gone)
	}
	if _, ok := c.Get(&k); ok || c.Len() != 0 {
		t.Fatalf("deleted value still cached")
	}
	l.check(c, []int{1, 2})
}

// A full shard replacing one of its own keys makes no room: nothing else goes.
func TestReplacementAtCapacityEvictsNothingElse(t *testing.T) {
	l := newLedger(t)
	c := New(1, l.onEvict)
	k := key(1)
	c.Put(&k, 1, t0.Add(time.Hour), t0)
	c.Put(&k, 2, t0.Add(time.Hour), t0)
	if v, ok := c.Get(&k); !ok || v != 2 || l.evicted.Load() != 1 {
		t.Fatalf("Get = %d, %v; evicted %d", v, ok, l.evicted.Load())
	}
}

func TestGetIgnoresExpiry(t *testing.T) {
	c := New[int](10, nil)
	k := key(1)
	c.Put(&k, 7, t0.Add(-time.Hour), t0)
	if v, ok := c.Get(&k); !ok || v != 7 {
		t.Fatalf("Get = %d, %v; the caller, not the cache, decides what expired means", v, ok)
	}
}

func TestFarExpiries(t *testing.T) {
	const maxSec = math.MaxInt64 / int64(time.Second)
	// Beyond int64 nanoseconds (a 2^40 s exp, year 36,812) and the zero time.
	c := New[int](64, nil)
	ks := sameShard(c, 3)
	far := time.Unix(1<<40, 999_999_999)
	c.Put(&ks[0], 0, far, t0)
	c.Put(&ks[1], 1, time.Time{}, t0)
	// Full shard: the zero-time entry counts as expired, the far one not.
	c.Put(&ks[2], 2, far, t0)
	if _, ok := c.Get(&ks[1]); ok {
		t.Error("entry expiring at the zero time survived a sweep")
	}
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{far, math.MaxInt64},
		{time.Time{}, math.MinInt64},
		{time.Unix(0, 0), 0},
		{t0.Add(time.Nanosecond), t0.UnixNano() + 1},
		{time.Unix(maxSec-1, 999_999_999), (maxSec-1)*1e9 + 999_999_999},
		{time.Unix(maxSec, 0), math.MaxInt64}, // saturated a little early: harmless for an expiry in 2262
		{time.Unix(-maxSec, 0), -maxSec * 1e9},
		{time.Unix(-maxSec-1, 0), math.MinInt64},
	} {
		if got := unixNano(tc.t); got != tc.want {
			t.Errorf("unixNano(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestConcurrent(t *testing.T) {
	l := newLedger(t)
	const size, workers, keys = 200, 8, 1000
	c := New(size, l.onEvict)
	var puts atomic.Int64
	var next atomic.Int64 // unique values, so the ledger can tell them apart
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				k := key((i*7 + w*131) % keys)
				switch i % 5 {
				case 0, 1:
					c.Put(&k, int(next.Add(1)), t0.Add(time.Duration(i%3)*time.Second), t0.Add(time.Duration(i)*time.Millisecond))
					puts.Add(1)
				case 2:
					c.Delete(&k)
				default:
					c.Get(&k)
				}
				if i%100 == 0 && c.Len() > size {
					t.Errorf("Len %d > %d", c.Len(), size)
				}
			}
		}()
	}
	wg.Wait()
	if got := int64(c.Len()) + l.evicted.Load(); got != puts.Load() {
		t.Errorf("Len %d + departed %d = %d, want puts %d", c.Len(), l.evicted.Load(), got, puts.Load())
	}
	var all []int
	for v := 1; v <= int(next.Load()); v++ {
		all = append(all, v)
	}
	l.check(c, all)
}

func BenchmarkGet(b *testing.B) {
	c := New[[56]byte](100_000, nil)
	k := key(1)
	c.Put(&k, [56]byte{}, t0.Add(time.Hour), t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(&k); !ok {
			b.Fatal("miss")
		}
	}
}

// KeyOf hashes the string in place; it must be the plain SHA-256 of its bytes.
func TestKeyOf(t *testing.T) {
	for _, s := range []string{"", "a", "eyJhbGciOiJSUzI1NiJ9.e30.sig", string(make([]byte, 3000))} {
		if got, want := KeyOf(s), sha256.Sum256([]byte(s)); got != want {
			t.Fatalf("KeyOf(%.20q) = %x, want %x", s, got, want)
		}
	}
}
