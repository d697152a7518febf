package revocation_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/internal/redistest"
	"github.com/authgate/authgate/revocation"
	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/tokens"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func claims(sub, sid string, iat time.Time) *tokens.Claims {
	c := &tokens.Claims{Subject: sub, SessionID: sid}
	if !iat.IsZero() {
		c.IssuedAt = tokens.NumericDate{Time: iat, Set: true}
	}
	return c
}

func newMemorySet(t *testing.T, clk *clock, ttl time.Duration) (*revocation.Set, store.Store) {
	t.Helper()
	st := store.NewMemory(store.MemoryOptions{Now: clk.Now})
	t.Cleanup(func() { st.Close() })
	s := revocation.New(revocation.Options{Store: st, TTL: ttl, Now: clk.Now})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, st
}

func TestRevokedSemantics(t *testing.T) {
	ctx := t.Context()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	s, st := newMemorySet(t, clk, time.Hour)
	T := clk.Now()

	before := T.Add(-time.Minute)
	after := T.Add(time.Second)
	bound := cookies.Binding{Session: "local-1", ProviderSession: "sid-1", Subject: "alice", LoginAt: before.Unix()}

	// Nothing revoked: nothing is.
	if s.Revoked(ctx, claims("alice", "sid-1", before), bound) || s.SessionRevoked(bound) {
		t.Fatal("revoked before any revocation")
	}

	// sid, as the token carries it or as the cookie's binding says (Hydra's
	// access tokens have no sid).
	if err := s.Revoke(ctx, revocation.Revocation{Kind: revocation.ProviderSession, ID: "sid-1"}); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]bool{
		"token sid":            s.Revoked(ctx, claims("alice", "sid-1", after), cookies.Binding{}),
		"binding sid":          s.Revoked(ctx, claims("alice", "", after), bound),
		"refresh with the sid": s.SessionRevoked(bound),
	} {
		if !got {
			t.Errorf("%s: not revoked", name)
		}
	}
	if s.Revoked(ctx, claims("alice", "sid-2", before), cookies.Binding{ProviderSession: "sid-2"}) {
		t.Error("another sid of the same user was revoked")
	}

	// Local session: only that login.
	if err := s.EndSession(ctx, cookies.Binding{Session: "local-2"}); err != nil {
		t.Fatal(err)
	}
	if !s.Revoked(ctx, claims("bob", "", after), cookies.Binding{Session: "local-2"}) || !s.SessionRevoked(cookies.Binding{Session: "local-2"}) {
		t.Error("local session not revoked")
	}
	if s.Revoked(ctx, claims("bob", "", after), cookies.Binding{Session: "local-3"}) {
		t.Error("another local session revoked")
	}
	if err := s.EndSession(ctx, cookies.Binding{}); err != nil {
		t.Errorf("EndSession without a session id: %v", err)
	}

	// Subject at T: tokens issued before T, and logins that began before T
	// even when their refreshed token is younger.
	if err := s.Revoke(ctx, revocation.Revocation{Kind: revocation.Subject, ID: "carol", At: T.Unix()}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		c    *tokens.Claims
		b    cookies.Binding
		want bool
	}{
		{"token before T", claims("carol", "", before), cookies.Binding{}, true},
		{"token after T, new login", claims("carol", "", after), cookies.Binding{Subject: "carol", LoginAt: after.Unix()}, false},
		{"refreshed token of an old login", claims("carol", "", after), cookies.Binding{Subject: "carol", LoginAt: before.Unix()}, true},
		{"bearer token after T", claims("carol", "", after), cookies.Binding{}, false},
		{"token without iat", claims("carol", "", time.Time{}), cookies.Binding{}, true},
		{"other user", claims("dave", "", before), cookies.Binding{}, false},
	}
	for _, tc := range cases {
		if got := s.Revoked(ctx, tc.c, tc.b); got != tc.want {
			t.Errorf("%s: Revoked = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !s.SessionRevoked(cookies.Binding{Subject: "carol", LoginAt: before.Unix()}) || s.SessionRevoked(cookies.Binding{Subject: "carol", LoginAt: after.Unix()}) {
		t.Error("SessionRevoked by subject")
	}
	// A later subject-wide logout moves the line forward, an older one never back.
	_ = s.Revoke(ctx, revocation.Revocation{Kind: revocation.Subject, ID: "carol", At: T.Unix() - 3600})
	if !s.Revoked(ctx, claims("carol", "", T.Add(-time.Second)), cookies.Binding{}) {
		t.Error("an older revocation moved the line back")
	}

	// Invalid revocations are refused.
	for _, r := range []revocation.Revocation{{Kind: "x", ID: "a"}, {Kind: revocation.Subject}, {Kind: revocation.ProviderSession, ID: string(make([]byte, 513))}} {
		if err := s.Revoke(ctx, r); err == nil {
			t.Errorf("Revoke(%+v) accepted", r.Kind)
		}
	}

	// Everything is written to the store with the TTL...
	if _, err := st.Get(ctx, "revoked:sid:x"); err == nil {
		t.Error("unexpected key")
	}
	// ...and forgotten after it.
	clk.Advance(time.Hour + 2*time.Second)
	if s.Revoked(ctx, claims("alice", "sid-1", before), bound) || s.SessionRevoked(cookies.Binding{Session: "local-2"}) {
		t.Error("revocation outlived its TTL")
	}
}

func TestRevokeStoreDown(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, st := newMemorySet(t, clk, time.Hour)
	st.Close()
	if err := s.Revoke(t.Context(), revocation.Revocation{Kind: revocation.ProviderSession, ID: "sid"}); err == nil {
		t.Fatal("Revoke succeeded with the store down")
	}
}

// TestReplicasShareRevocations: two Sets on one real Redis, as two authgate
// replicas. A revocation on one is seen by the other within a second, and a
// replica that was not listening catches up when it (re)subscribes.
func TestReplicasShareRevocations(t *testing.T) {
	srv := redistest.Start(t)
	open := func() *store.Redis {
		r, err := store.NewRedis(t.Context(), srv.URL(), store.RedisOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	replica := func() (*revocation.Set, *store.Redis) {
		st := open()
		s := revocation.New(revocation.Options{Store: st, PubSub: st, TTL: time.Hour})
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s, st
	}
	a, _ := replica()
	b, bStore := replica()
	ctx := context.Background()
	c := claims("alice", "", time.Now())
	bnd := cookies.Binding{ProviderSession: "sid-A"}

	if b.Revoked(ctx, c, bnd) {
		t.Fatal("revoked before anything happened")
	}
	began := time.Now()
	if err := a.Revoke(ctx, revocation.Revocation{Kind: revocation.ProviderSession, ID: "sid-A"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Second, "replica B sees replica A's revocation", func() bool { return b.Revoked(ctx, c, bnd) })
	t.Logf("replica B denied the session %v after replica A revoked it", time.Since(began).Round(time.Millisecond))

	// A replica that starts later loads what was revoked before.
	late, _ := replica()
	if !late.Revoked(ctx, c, bnd) {
		t.Error("a replica started after the revocation does not know it")
	}

	// A replica whose subscription drops reloads from the store when it is
	// back: a revocation only stored (its message lost) becomes visible.
	reloads := b.Reloads()
	if err := bStore.Put(ctx, "revoked:sid:lost", []byte(`{"k":"sid","id":"sid-lost","at":1,"exp":`+itoa(time.Now().Add(time.Hour).Unix())+`}`), time.Hour); err != nil {
		t.Fatal(err)
	}
	lost := cookies.Binding{ProviderSession: "sid-lost"}
	if b.Revoked(ctx, c, lost) {
		t.Fatal("unpublished revocation visible before a reload")
	}
	if err := killPubSub(ctx, srv.Addr()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "reload after resubscription", func() bool { return b.Reloads() > reloads })
	if !b.Revoked(ctx, c, lost) {
		t.Error("reload after resubscription missed a stored revocation")
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
