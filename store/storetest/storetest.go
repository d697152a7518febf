// Package storetest is the contract suite every store.Store must pass, in the
// manner of oauth2-proxy's shared session-store tests: the memory and Redis
// stores run the same cases, so they cannot drift apart in the behaviour the
// login flow relies on (single use, expiry, no lost or duplicated values).
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/store"
)

const (
	// shortTTL is the TTL the expiry cases wait out. It is small because
	// the Redis run advances time with a real sleep.
	shortTTL = time.Second
	// expiryMargin is added when waiting out shortTTL, absorbing Redis'
	// expiry precision and scheduling delay on a loaded machine.
	expiryMargin = 250 * time.Millisecond
	// longTTL outlives every test.
	longTTL = time.Hour
)

// Run runs the suite. newStore returns a store for one subtest and owns its
// lifetime (close it with t.Cleanup); stores may share a backend, since the
// suite uses keys unique to each run. advance fast-forwards the store's
// clock by d: a fake clock for Memory, a real sleep for Redis. Subtests run
// sequentially because advance moves a clock that may be shared.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, advance func(t *testing.T, d time.Duration)) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store, advance func(t *testing.T, d time.Duration))
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Expiry", testExpiry},
		{"PutNewExisting", testPutNewExisting},
		{"TakeSingleUse", testTakeSingleUse},
		{"TakeMissing", testTakeMissing},
		{"ConcurrentTake", testConcurrentTake},
		{"ConcurrentPutNew", testConcurrentPutNew},
		{"Delete", testDelete},
		{"BinaryValues", testBinaryValues},
		{"DistinctKeys", testDistinctKeys},
		{"ValueCopied", testValueCopied},
		{"NonPositiveTTL", testNonPositiveTTL},
		{"CanceledContext", testCanceledContext},
		{"Ping", testPing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, newStore(t), advance)
		})
	}
}

func testPutGet(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	ctx := t.Context()
	k := newKey(t, "k")
	mustPut(t, s, k, []byte("value"), longTTL)
	wantValue(t, s, k, []byte("value"))
	// Get does not consume: a second read sees the same value.
	wantValue(t, s, k, []byte("value"))
	if _, err := s.Get(ctx, newKey(t, "never-written")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}
}

func testOverwrite(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	k := newKey(t, "k")
	mustPut(t, s, k, []byte("first"), longTTL)
	mustPut(t, s, k, []byte("second"), longTTL)
	wantValue(t, s, k, []byte("second"))
	// A shorter value must fully replace a longer one, not overlay it.
	mustPut(t, s, k, []byte("3"), longTTL)
	wantValue(t, s, k, []byte("3"))
}

// testExpiry waits out shortTTL once and checks every expiry rule against
// that single advance, keeping the real-sleep Redis run short.
func testExpiry(t *testing.T, s store.Store, advance func(*testing.T, time.Duration)) {
	ctx := t.Context()
	forGet, forTake, forPutNew := newKey(t, "get"), newKey(t, "take"), newKey(t, "putnew")
	survivor, extended := newKey(t, "survivor"), newKey(t, "extended")
	for _, k := range []string{forGet, forTake, forPutNew} {
		mustPut(t, s, k, []byte("old"), shortTTL)
	}
	mustPut(t, s, survivor, []byte("long"), longTTL)
	// Put replaces the TTL along with the value.
	mustPut(t, s, extended, []byte("short"), shortTTL)
	mustPut(t, s, extended, []byte("long"), longTTL)
	if ok, err := s.PutNew(ctx, forPutNew, []byte("new"), longTTL); err != nil || ok {
		t.Fatalf("PutNew(live key) = %v, %v; want false, nil", ok, err)
	}

	advance(t, shortTTL+expiryMargin)

	if _, err := s.Get(ctx, forGet); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(expired) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Take(ctx, forTake); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Take(expired) error = %v, want ErrNotFound", err)
	}
	// An expired key counts as absent for PutNew.
	if ok, err := s.PutNew(ctx, forPutNew, []byte("new"), longTTL); err != nil || !ok {
		t.Errorf("PutNew(expired key) = %v, %v; want true, nil", ok, err)
	}
	wantValue(t, s, forPutNew, []byte("new"))
	wantValue(t, s, survivor, []byte("long"))
	wantValue(t, s, extended, []byte("long"))
}

func testPutNewExisting(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	ctx := t.Context()
	k := newKey(t, "k")
	if ok, err := s.PutNew(ctx, k, []byte("first"), longTTL); err != nil || !ok {
		t.Fatalf("PutNew(absent) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := s.PutNew(ctx, k, []byte("second"), longTTL); err != nil || ok {
		t.Fatalf("PutNew(existing) = %v, %v; want false, nil", ok, err)
	}
	wantValue(t, s, k, []byte("first"))
	// After a Take the key is free again.
	if _, err := s.Take(ctx, k); err != nil {
		t.Fatalf("Take: %v", err)
	}
	if ok, err := s.PutNew(ctx, k, []byte("third"), longTTL); err != nil || !ok {
		t.Fatalf("PutNew(after Take) = %v, %v; want true, nil", ok, err)
	}
}

func testTakeSingleUse(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	ctx := t.Context()
	k := newKey(t, "k")
	mustPut(t, s, k, []byte("once"), longTTL)
	got, err := s.Take(ctx, k)
	if err != nil || !bytes.Equal(got, []byte("once")) {
		t.Fatalf("Take = %q, %v; want %q, nil", got, err, "once")
	}
	if got, err := s.Take(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Take = %q, %v; want ErrNotFound (a replayed state or code must fail)", got, err)
	}
	if _, err := s.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Take error = %v, want ErrNotFound", err)
	}
}

func testTakeMissing(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	got, err := s.Take(t.Context(), newKey(t, "never-written"))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take(missing) = %q, %v; want ErrNotFound", got, err)
	}
	if got != nil {
		t.Fatalf("Take(missing) returned value %q with the error", got)
	}
}

// testConcurrentTake races Takes of one key: the exchange-code replay attack.
// Several rounds with fresh keys give a lost atomicity more chances to show.
func testConcurrentTake(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	const rounds, takers = 5, 20
	for round := range rounds {
		k := newKey(t, fmt.Sprintf("round%d", round))
		want := []byte(fmt.Sprintf("code-%d", round))
		mustPut(t, s, k, want, longTTL)

		values := make([][]byte, takers)
		errs := make([]error, takers)
		runTogether(takers, func(i int) {
			values[i], errs[i] = s.Take(t.Context(), k)
		})

		winners := 0
		for i := range takers {
			switch {
			case errs[i] == nil:
				winners++
				if !bytes.Equal(values[i], want) {
					t.Errorf("round %d: winner got %q, want %q", round, values[i], want)
				}
			case !errors.Is(errs[i], store.ErrNotFound):
				t.Errorf("round %d: loser error = %v, want ErrNotFound", round, errs[i])
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d of %d concurrent Takes got the value, want exactly 1", round, winners, takers)
		}
	}
}

// testConcurrentPutNew races PutNew on one key: exactly one writer may win
// and its value must be the one stored.
func testConcurrentPutNew(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	const writers = 50
	k := newKey(t, "k")
	stored := make([]bool, writers)
	errs := make([]error, writers)
	runTogether(writers, func(i int) {
		stored[i], errs[i] = s.PutNew(t.Context(), k, []byte(fmt.Sprintf("writer-%d", i)), longTTL)
	})
	winner := -1
	for i := range writers {
		if errs[i] != nil {
			t.Fatalf("PutNew %d: %v", i, errs[i])
		}
		if stored[i] {
			if winner >= 0 {
				t.Fatalf("PutNew reported true for writers %d and %d, want exactly one", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no PutNew reported true, want exactly one")
	}
	wantValue(t, s, k, []byte(fmt.Sprintf("writer-%d", winner)))
}

func testDelete(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	ctx := t.Context()
	k, other := newKey(t, "k"), newKey(t, "other")
	mustPut(t, s, k, []byte("v"), longTTL)
	mustPut(t, s, other, []byte("w"), longTTL)
	if err := s.Delete(ctx, k); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete error = %v, want ErrNotFound", err)
	}
	if _, err := s.Take(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take after Delete error = %v, want ErrNotFound", err)
	}
	wantValue(t, s, other, []byte("w"))
	// Deleting an absent key is not an error: logout may race expiry.
	if err := s.Delete(ctx, k); err != nil {
		t.Fatalf("Delete(absent): %v", err)
	}
}

func testBinaryValues(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	ctx := t.Context()
	values := map[string][]byte{
		"nul":       {0},
		"nuls":      {'a', 0, 'b', 0, 0},
		"high":      {0xff, 0xfe, 0x80, 0x00, 0x7f},
		"crlf":      []byte("a\r\nb\r\n"),
		"empty":     {},
		"all-bytes": allBytes(),
	}
	for name, v := range values {
		k := newKey(t, name)
		mustPut(t, s, k, v, longTTL)
		wantValue(t, s, k, v)
		got, err := s.Take(ctx, k)
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("Take(%s) = %q, %v; want %q", name, got, err, v)
		}
	}
}

func testDistinctKeys(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	ctx := t.Context()
	base := newKey(t, "k")
	// Prefixes of one another, separators and non-ASCII must not alias.
	keys := []string{base, base + "1", base + ":", base + ":x", base + " x", base + "é", base + "\x00"}
	for i, k := range keys {
		mustPut(t, s, k, []byte(fmt.Sprintf("v%d", i)), longTTL)
	}
	for i, k := range keys {
		wantValue(t, s, k, []byte(fmt.Sprintf("v%d", i)))
	}
	if _, err := s.Take(ctx, keys[0]); err != nil {
		t.Fatalf("Take: %v", err)
	}
	for i, k := range keys[1:] {
		wantValue(t, s, k, []byte(fmt.Sprintf("v%d", i+1)))
	}
}

func testValueCopied(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	ctx := t.Context()
	k := newKey(t, "k")
	v := []byte("original")
	mustPut(t, s, k, v, longTTL)
	copy(v, "MUTATED!")
	wantValue(t, s, k, []byte("original"))

	got, err := s.Get(ctx, k)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	copy(got, "MUTATED!")
	wantValue(t, s, k, []byte("original"))

	n := newKey(t, "putnew")
	v = []byte("original")
	if ok, err := s.PutNew(ctx, n, v, longTTL); err != nil || !ok {
		t.Fatalf("PutNew = %v, %v", ok, err)
	}
	copy(v, "MUTATED!")
	wantValue(t, s, n, []byte("original"))
}

// testNonPositiveTTL: a zero TTL must not mean "forever", which would break
// the expiring-state invariant.
func testNonPositiveTTL(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	ctx := t.Context()
	for _, ttl := range []time.Duration{0, -time.Second} {
		k := newKey(t, "k")
		if err := s.Put(ctx, k, []byte("v"), ttl); err == nil {
			t.Errorf("Put(ttl=%v) succeeded, want an error", ttl)
		}
		if ok, err := s.PutNew(ctx, k, []byte("v"), ttl); err == nil || ok {
			t.Errorf("PutNew(ttl=%v) = %v, %v; want false and an error", ttl, ok, err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get after rejected Put(ttl=%v) error = %v, want ErrNotFound", ttl, err)
		}
	}
}

func testCanceledContext(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	k := newKey(t, "k")
	mustPut(t, s, k, []byte("v"), longTTL)
	fresh := newKey(t, "fresh")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	checks := map[string]error{}
	checks["Put"] = s.Put(ctx, fresh, []byte("v"), longTTL)
	_, checks["PutNew"] = s.PutNew(ctx, fresh, []byte("v"), longTTL)
	_, checks["Get"] = s.Get(ctx, k)
	_, checks["Take"] = s.Take(ctx, k)
	checks["Delete"] = s.Delete(ctx, k)
	checks["Ping"] = s.Ping(ctx)
	for op, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s(canceled ctx) error = %v, want one wrapping context.Canceled", op, err)
		}
	}
	// Nothing happened on the caller's behalf.
	wantValue(t, s, k, []byte("v"))
	if _, err := s.Get(t.Context(), fresh); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(key written with canceled ctx) error = %v, want ErrNotFound", err)
	}
}

func testPing(t *testing.T, s store.Store, _ func(*testing.T, time.Duration)) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// newKey returns a key unique to this test run, so stores sharing one
// backend (one Redis for the whole suite, repeated -count runs) never see
// each other's keys.
func newKey(t *testing.T, name string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return fmt.Sprintf("storetest:%s:%s:%s", t.Name(), name, hex.EncodeToString(b[:]))
}

func mustPut(t *testing.T, s store.Store, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Put(t.Context(), key, value, ttl); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func wantValue(t *testing.T, s store.Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get: %v, want %q", err, want)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get = %q, want %q", got, want)
	}
}

// runTogether runs fn(0..n-1) on n goroutines released at the same moment,
// to maximise contention, and waits for all of them.
func runTogether(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}
