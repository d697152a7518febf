package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1_700_000_000, 0)} }
func allowN(l *Limiter, key string, n int) int {
	ok := 0
	for i := 0; i < n; i++ {
		if a, _ := l.Allow(key); a {
			ok++
		}
	}
	return ok
}

func TestBurstThenRate(t *testing.T) {
	c := newClock()
	l := New(Options{PerMinute: 60, Burst: 5, Now: c.now})
	if got := allowN(l, "a", 10); got != 5 {
		t.Fatalf("burst: %d allowed, want 5", got)
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("after burst: ok=%v wait=%v", ok, wait)
	}
	c.add(3 * time.Second) // 1/s refill
	if got := allowN(l, "a", 10); got != 3 {
		t.Fatalf("after 3s: %d allowed, want 3", got)
	}
	if got := allowN(l, "b", 10); got != 5 {
		t.Fatalf("other key: %d allowed, want its own burst of 5", got)
	}
}

func TestNilAllowsAll(t *testing.T) {
	l := New(Options{PerMinute: 0})
	if got := allowN(l, "a", 1000); got != 1000 {
		t.Fatalf("disabled limiter refused %d", 1000-got)
	}
}

func TestBoundedUnderKeyFlood(t *testing.T) {
	c := newClock()
	l := New(Options{PerMinute: 10, Burst: 2, MaxKeys: 320, Now: c.now})
	for i := 0; i < 50_000; i++ {
		l.Allow(fmt.Sprintf("ip-%d", i))
	}
	if n := l.Len(); n > 320 {
		t.Fatalf("limiter holds %d keys, bound 320", n)
	}
}

func TestConcurrentExact(t *testing.T) {
	c := newClock()
	l := New(Options{PerMinute: 1, Burst: 7, Now: c.now})
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := l.Allow("same"); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 7 {
		t.Fatalf("%d concurrent requests allowed, want exactly the burst of 7", allowed)
	}
}
