// Package revocation ends sessions before their tokens expire: OpenID Connect
// Back-Channel Logout (the provider says "this session is over"), and a local
// logout that must stop every copy of the cookies at once.
//
// A revocation names a provider session ("sid"), every session of a user
// ("sub") that began before a time, or one authgate login (the session id
// sealed into the cookies, see cookies.Binding). It is written to the store
// with a TTL covering the longest time a token of the session can still be
// presented, and fanned out to every replica: with Redis, published on a
// channel that each replica's Set subscribes to. Each replica keeps the live
// revocations in memory, so the check on every request is a map lookup; on
// every (re)subscription it reloads them from the store with SCAN, so a
// replica that was disconnected or restarted catches up.
//
//	set := revocation.New(revocation.Options{Store: st, PubSub: st, TTL: 168 * time.Hour})
//	if err := set.Start(ctx); err != nil { ... }
//	engine := proxy.NewEngine(cfg, verifier, jar, set)
package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/tokens"
)

// Kind says what a revocation names.
type Kind string

const (
	// Session is one authgate login (cookies.Binding.Session): local logout.
	Session Kind = "session"
	// ProviderSession is the provider's session ("sid"): back-channel logout.
	ProviderSession Kind = "sid"
	// Subject is every session of a user that began before At: back-channel
	// logout with "sub" and no "sid".
	Subject Kind = "sub"
)

func (k Kind) valid() bool { return k == Session || k == ProviderSession || k == Subject }

// Revocation is one ended session (or set of sessions).
type Revocation struct {
	Kind Kind   `json:"k"`
	ID   string `json:"id"`
	// At is when the revocation was issued, in Unix seconds. For Subject it
	// decides which tokens it ends: those issued before At (by the provider's
	// clock, which is also the clock of the tokens' iat).
	At int64 `json:"at"`
	// Expires is when the revocation is forgotten, in Unix seconds.
	Expires int64 `json:"exp"`
}

// keyPrefix namespaces revocations in the store; channel is the pub/sub channel.
const (
	keyPrefix = "revoked:"
	channel   = "revocations"
)

// maxIDLen bounds the ids kept: a sid or sub longer than this is not one a
// provider issues, and the memory set must not grow by attacker-chosen sizes.
const maxIDLen = 512

// Options configure a Set.
type Options struct {
	Store store.Store
	// PubSub fans revocations out to the other replicas; nil means this
	// process is the only one (the memory store).
	PubSub store.PubSub
	// TTL is how long a revocation is kept: at least the longest time a token
	// of a revoked session can still be presented (the session cookie's
	// lifetime covers a refresh token kept in it).
	TTL    time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// Set is the live revocations of this replica. It implements proxy.Revoker.
type Set struct {
	st     store.Store
	ps     store.PubSub
	ttl    time.Duration
	log    *slog.Logger
	now    func() time.Time
	stop   func()
	done   chan struct{}
	closed sync.Once

	mu sync.RWMutex
	m  map[entryKey]entry
	// size mirrors len(m), so the common case (nothing revoked) costs one
	// atomic load and no lock.
	size atomic.Int64
	// reloads counts completed reloads from the store (tests wait on it).
	reloads atomic.Int64
}

type entryKey struct {
	kind Kind
	id   string
}

type entry struct{ at, expires int64 }

// New returns a Set. Call Start to load and subscribe, Close to stop.
func New(o Options) *Set {
	s := &Set{st: o.Store, ps: o.PubSub, ttl: o.TTL, log: o.Logger, now: o.Now, m: map[entryKey]entry{}, done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl <= 0 {
		s.ttl = 24 * time.Hour
	}
	return s
}

// Start subscribes to the other replicas' revocations (when there is a
// PubSub) and loads the stored ones, then keeps expiring entries until Close.
// A subscription failure is returned: without it this replica would miss
// logouts, so it must not report ready.
func (s *Set) Start(ctx context.Context) error {
	if s.ps != nil {
		stop, err := s.ps.Subscribe(ctx, channel, s.reload, s.receive)
		if err != nil {
			return fmt.Errorf("revocation: subscribe: %w", err)
		}
		s.stop = stop
	}
	go s.janitor()
	return nil
}

// Close stops the subscription and the janitor.
func (s *Set) Close() {
	s.closed.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		close(s.done)
	})
}

// Reloads reports how many times the Set reloaded the store's revocations
// (once per subscription, and again after every reconnection).
func (s *Set) Reloads() int64 { return s.reloads.Load() }

// Revoke records r: in the store with the TTL, in this replica's memory, and
// on the channel to the others. At and Expires are filled in when zero. The
// error is the store's: a revocation that is not stored would be lost by
// replicas that reload, so the caller reports failure.
func (s *Set) Revoke(ctx context.Context, r Revocation) error {
	if !r.Kind.valid() || r.ID == "" || len(r.ID) > maxIDLen {
		return fmt.Errorf("%w: kind %q, id of %d bytes", ErrInvalid, r.Kind, len(r.ID))
	}
	now := s.now()
	if r.At == 0 {
		r.At = now.Unix()
	}
	if r.Expires == 0 {
		r.Expires = now.Add(s.ttl).Unix()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// Stored first, published second: a replica that misses the message
	// finds the record when it reloads.
	if err := s.st.Put(ctx, storeKey(r.Kind, r.ID), b, time.Unix(r.Expires, 0).Sub(now)+time.Second); err != nil {
		return fmt.Errorf("revocation: store: %w", err)
	}
	s.add(r)
	if s.ps != nil {
		if err := s.ps.Publish(ctx, channel, b); err != nil {
			// Stored, so the others catch up on their next reload; still
			// worth a warning, since until then they let the session pass.
			s.log.WarnContext(ctx, "revocation not broadcast", "kind", string(r.Kind), "error", err.Error())
		}
	}
	return nil
}

// EndSession revokes the authgate login b belongs to (local logout). A
// binding without a session id has nothing to revoke.
func (s *Set) EndSession(ctx context.Context, b cookies.Binding) error {
	if b.Session == "" {
		return nil
	}
	return s.Revoke(ctx, Revocation{Kind: Session, ID: b.Session})
}

// Revoked implements proxy.Revoker: whether the verified token c, presented
// with binding b (zero for a bearer token), belongs to a revoked session.
func (s *Set) Revoked(_ context.Context, c *tokens.Claims, b cookies.Binding) bool {
	if s.size.Load() == 0 {
		return false
	}
	now := s.now().Unix()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sessionRevokedLocked(b, now) {
		return true
	}
	if c == nil {
		return false
	}
	if c.SessionID != "" && s.liveLocked(ProviderSession, c.SessionID, now) {
		return true
	}
	if e, ok := s.getLocked(Subject, c.Subject, now); ok {
		// RFC 7519 iat (else nbf) says when the token was issued; a token
		// that says neither cannot show that it is younger than the logout.
		issued := c.IssuedAt
		if !issued.Set {
			issued = c.NotBefore
		}
		if !issued.Set || issued.Unix() < e.at {
			return true
		}
	}
	return false
}

// SessionRevoked reports whether the login b describes was revoked: the
// check a refresh makes before asking the provider for new tokens.
func (s *Set) SessionRevoked(b cookies.Binding) bool {
	if s.size.Load() == 0 || b.IsZero() {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sessionRevokedLocked(b, s.now().Unix())
}

func (s *Set) sessionRevokedLocked(b cookies.Binding, now int64) bool {
	if b.Session != "" && s.liveLocked(Session, b.Session, now) {
		return true
	}
	if b.ProviderSession != "" && s.liveLocked(ProviderSession, b.ProviderSession, now) {
		return true
	}
	if b.Subject != "" && b.LoginAt != 0 {
		// A subject-wide logout at T ends a login that began before T, even
		// though its refreshed tokens are younger than T.
		if e, ok := s.getLocked(Subject, b.Subject, now); ok && b.LoginAt < e.at {
			return true
		}
	}
	return false
}

func (s *Set) liveLocked(k Kind, id string, now int64) bool {
	_, ok := s.getLocked(k, id, now)
	return ok
}

func (s *Set) getLocked(k Kind, id string, now int64) (entry, bool) {
	e, ok := s.m[entryKey{k, id}]
	if !ok || e.expires <= now {
		return entry{}, false
	}
	return e, true
}

// add merges r into memory: the later At and Expires win, so a second
// subject-wide logout moves the line forward and never back.
func (s *Set) add(r Revocation) {
	if !r.Kind.valid() || r.ID == "" || len(r.ID) > maxIDLen || r.Expires <= s.now().Unix() {
		return
	}
	k := entryKey{r.Kind, r.ID}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok {
		s.size.Add(1)
	}
	e.at = max(e.at, r.At)
	e.expires = max(e.expires, r.Expires)
	s.m[k] = e
}

// receive handles a revocation published by any replica (this one too).
func (s *Set) receive(msg []byte) {
	var r Revocation
	if err := json.Unmarshal(msg, &r); err != nil {
		s.log.Warn("unreadable revocation message", "error", err.Error())
		return
	}
	s.add(r)
}

// reload reads every stored revocation: on each (re)subscription, so what
// was published while this replica was not listening is not lost. It retries
// until it succeeds, because until then revoked sessions may pass here.
func (s *Set) reload() {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		n := 0
		err := s.ps.Scan(ctx, keyPrefix, func(_ string, v []byte) error {
			s.receive(v)
			n++
			return nil
		})
		cancel()
		if err == nil {
			s.reloads.Add(1)
			s.log.Debug("revocations reloaded", "count", n)
			return
		}
		s.log.Warn("reloading revocations failed; retrying", "error", err.Error())
		select {
		case <-s.done:
			return
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 5*time.Second)):
		}
	}
}

// janitor drops expired entries once a minute.
func (s *Set) janitor() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

func (s *Set) sweep() {
	now := s.now().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.m {
		if e.expires <= now {
			delete(s.m, k)
			s.size.Add(-1)
		}
	}
}

// storeKey hashes the id: ids are provider-chosen strings of any shape, keys
// should be short and plain. The record itself carries the id.
func storeKey(k Kind, id string) string {
	sum := sha256.Sum256([]byte(id))
	return keyPrefix + string(k) + ":" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// ErrInvalid is returned for a revocation that names nothing.
var ErrInvalid = errors.New("revocation: invalid")
