package store_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/redistest"
	"github.com/authgate/authgate/store"
)

// recorder collects what a subscription delivers.
type recorder struct {
	mu     sync.Mutex
	ready  int
	msgs   []string
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 100)} }

func (r *recorder) onReady() {
	r.mu.Lock()
	r.ready++
	r.mu.Unlock()
	r.signal <- struct{}{}
}

func (r *recorder) onMessage(b []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(b))
	r.mu.Unlock()
	r.signal <- struct{}{}
}

func (r *recorder) waitFor(t *testing.T, what string, ok func(ready int, msgs []string) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		done := ok(r.ready, append([]string(nil), r.msgs...))
		r.mu.Unlock()
		if done {
			return
		}
		select {
		case <-r.signal:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("timed out waiting for %s: ready=%d msgs=%q", what, r.ready, r.msgs)
		}
	}
}

func TestRedisPubSub(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	a := newRedis(t, srv.URL(), store.RedisOptions{})
	b := newRedis(t, srv.URL(), store.RedisOptions{})
	other := newRedis(t, srv.URL(), store.RedisOptions{KeyPrefix: "other:"})

	rec := newRecorder()
	// The context bounds only the start: the subscription outlives it.
	subCtx, cancelSub := context.WithCancel(ctx)
	stop, err := b.Subscribe(subCtx, "news", rec.onReady, rec.onMessage)
	cancelSub()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// onReady ran before Subscribe returned.
	rec.waitFor(t, "first ready", func(ready int, _ []string) bool { return ready == 1 })

	// Another prefix is another deployment: it is not heard.
	if err := other.Publish(ctx, "news", []byte("foreign")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := a.Publish(ctx, "news", []byte(fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
	}
	rec.waitFor(t, "three messages in order", func(_ int, m []string) bool {
		return len(m) >= 3
	})
	rec.mu.Lock()
	if fmt.Sprint(rec.msgs) != "[m0 m1 m2]" {
		t.Errorf("messages = %q", rec.msgs)
	}
	rec.mu.Unlock()

	// A dropped connection is re-established and announced again, so the
	// subscriber can reload what it missed.
	raw := rawClient(t, srv.Addr(), 0)
	if err := raw.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "ready after reconnection", func(ready int, _ []string) bool { return ready >= 2 })
	if err := a.Publish(ctx, "news", []byte("after")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "message after reconnection", func(_ int, m []string) bool { return len(m) > 0 && m[len(m)-1] == "after" })

	// A restarted Redis too.
	srv.Restart()
	rec.waitFor(t, "ready after restart", func(ready int, _ []string) bool { return ready >= 3 })

	// After stop, nothing more is delivered.
	stop()
	_ = a.Publish(ctx, "news", []byte("late"))
	time.Sleep(200 * time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, m := range rec.msgs {
		if m == "late" || m == "foreign" {
			t.Errorf("received %q", m)
		}
	}
}

func TestRedisSubscribeUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	s := newRedis(t, srv.URL(), store.RedisOptions{})
	srv.Stop()
	if _, err := s.Subscribe(t.Context(), "c", func() {}, func([]byte) {}); err == nil {
		t.Fatal("Subscribe to a stopped Redis succeeded")
	}
}

func scanAll(t *testing.T, ps store.PubSub, prefix string) []string {
	t.Helper()
	var got []string
	if err := ps.Scan(t.Context(), prefix, func(k string, v []byte) error {
		got = append(got, k+"="+string(v))
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	sort.Strings(got)
	return got
}

func testScan(t *testing.T, s interface {
	store.Store
	store.PubSub
}) {
	ctx := t.Context()
	// More than one SCAN batch, and keys that look like glob patterns.
	want := []string{}
	for i := range 1200 {
		k := fmt.Sprintf("rev:%04d", i)
		if err := s.Put(ctx, k, []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		want = append(want, k+"=v")
	}
	for _, k := range []string{"re*x", "rev", "other:1", "[rev]:1"} {
		if err := s.Put(ctx, k, []byte("no"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "rev*:glob", []byte("g"), time.Minute); err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, s, "rev:")
	if len(got) != len(want) || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
		t.Fatalf("Scan rev: found %d keys (%v … ), want %d", len(got), got[:min(3, len(got))], len(want))
	}
	// The prefix is literal, not a pattern.
	if got := scanAll(t, s, "rev*:"); len(got) != 1 || got[0] != "rev*:glob=g" {
		t.Fatalf("Scan rev*: = %q", got)
	}
	// Expired keys are not returned.
	if err := s.Put(ctx, "short:1", []byte("x"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := scanAll(t, s, "short:"); len(got) != 0 {
		t.Fatalf("expired key scanned: %q", got)
	}
	// fn's error stops the scan and is returned.
	stopErr := fmt.Errorf("stop")
	if err := s.Scan(ctx, "rev:", func(string, []byte) error { return stopErr }); err != stopErr {
		t.Fatalf("Scan error = %v", err)
	}
}

func TestRedisScan(t *testing.T) {
	srv := redistest.Start(t)
	testScan(t, newRedis(t, srv.URL(), store.RedisOptions{}))
}

func TestRedisClusterScanAndPubSub(t *testing.T) {
	c := redistest.StartCluster(t)
	s := newRedis(t, c.URL(), store.RedisOptions{})
	testScan(t, s)

	rec := newRecorder()
	stop, err := s.Subscribe(t.Context(), "news", rec.onReady, rec.onMessage)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	other := newRedis(t, c.URL(), store.RedisOptions{})
	if err := other.Publish(t.Context(), "news", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "cluster message", func(_ int, m []string) bool { return len(m) == 1 && m[0] == "hello" })
}
