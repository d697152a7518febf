package store_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/store/storetest"
)

// fakeClock is a settable clock; the suite advances it instead of sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newMemory(t *testing.T, clock *fakeClock, maxEntries int) *store.Memory {
	t.Helper()
	m := store.NewMemory(store.MemoryOptions{Now: clock.Now, MaxEntries: maxEntries})
	t.Cleanup(func() {
		if err := store.CheckMemoryInvariants(m); err != nil {
			t.Errorf("memory invariants: %v", err)
		}
		_ = m.Close()
	})
	return m
}

func TestMemory(t *testing.T) {
	clock := newFakeClock()
	storetest.Run(t,
		func(t *testing.T) store.Store { return newMemory(t, clock, 0) },
		func(_ *testing.T, d time.Duration) { clock.Advance(d) },
	)
}

func TestMemoryMaxEntries(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	m := newMemory(t, clock, 3)
	for _, k := range []string{"a", "b", "c"} {
		if err := m.Put(ctx, k, []byte(k), time.Minute); err != nil {
			t.Fatalf("Put(%s): %v", k, err)
		}
	}

	// Full: new keys are refused with ErrUnavailable, not stored.
	if err := m.Put(ctx, "d", []byte("d"), time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Put(new key, full) error = %v, want ErrUnavailable", err)
	}
	if ok, err := m.PutNew(ctx, "d", []byte("d"), time.Minute); ok || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("PutNew(new key, full) = %v, %v; want false, ErrUnavailable", ok, err)
	}
	if n := store.MemoryLen(m); n != 3 {
		t.Fatalf("store holds %d entries, want 3", n)
	}

	// Existing keys still work: overwriting does not grow the store, and
	// PutNew on a live key is an ordinary "not stored".
	if err := m.Put(ctx, "a", []byte("a2"), time.Minute); err != nil {
		t.Fatalf("Put(existing key, full): %v", err)
	}
	if ok, err := m.PutNew(ctx, "b", []byte("b2"), time.Minute); ok || err != nil {
		t.Fatalf("PutNew(existing key, full) = %v, %v; want false, nil", ok, err)
	}

	// A Take frees a slot.
	if _, err := m.Take(ctx, "c"); err != nil {
		t.Fatalf("Take: %v", err)
	}
	if ok, err := m.PutNew(ctx, "d", []byte("d"), time.Second); !ok || err != nil {
		t.Fatalf("PutNew after Take = %v, %v; want true, nil", ok, err)
	}

	// Expired entries do not count against the bound: "d" expires, and the
	// write sweep makes room without any read touching it.
	clock.Advance(time.Second)
	if err := m.Put(ctx, "e", []byte("e"), time.Minute); err != nil {
		t.Fatalf("Put after expiry freed a slot: %v", err)
	}
}

// TestMemoryWriteSweep checks that expired entries are released by writes,
// so a flood of never-redeemed states does not stay in memory.
func TestMemoryWriteSweep(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	m := newMemory(t, clock, 0)
	for i := range 1000 {
		if err := m.Put(ctx, fmt.Sprint("flood", i), []byte("x"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Second)
	// Each write evicts a bounded batch; enough writes release everything.
	for i := range 20 {
		if err := m.Put(ctx, fmt.Sprint("new", i), []byte("y"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.MemoryLen(m); n != 20 {
		t.Fatalf("store holds %d entries after expiry and 20 writes, want 20", n)
	}
}

func TestMemoryClose(t *testing.T) {
	ctx := t.Context()
	m := store.NewMemory(store.MemoryOptions{})
	if err := m.Put(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-store.JanitorDone(m):
	case <-time.After(5 * time.Second):
		t.Fatal("janitor goroutine still running after Close")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get after Close error = %v, want ErrUnavailable", err)
	}
	if err := m.Put(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Put after Close error = %v, want ErrUnavailable", err)
	}
	if err := m.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping after Close error = %v, want ErrUnavailable", err)
	}
}

// TestMemoryMixedOps hammers a few keys with every operation while the clock
// moves, then lets the cleanup check that map and expiry heap still agree.
func TestMemoryMixedOps(t *testing.T) {
	clock := newFakeClock()
	m := newMemory(t, clock, 16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 2000 {
				k := fmt.Sprint("k", r.IntN(24))
				ttl := time.Duration(1+r.IntN(50)) * time.Millisecond
				var err error
				switch r.IntN(6) {
				case 0:
					err = m.Put(t.Context(), k, []byte(k), ttl)
				case 1:
					_, err = m.PutNew(t.Context(), k, []byte(k), ttl)
				case 2:
					_, err = m.Get(t.Context(), k)
				case 3:
					_, err = m.Take(t.Context(), k)
				case 4:
					err = m.Delete(t.Context(), k)
				case 5:
					clock.Advance(time.Millisecond)
				}
				if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("unexpected error: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := store.MemoryLen(m); n > 16 {
		t.Fatalf("store holds %d entries, bound is 16", n)
	}
}
