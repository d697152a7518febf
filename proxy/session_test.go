package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/devprovider"
	"github.com/authgate/authgate/tokens"
)

// sessionRig is an Engine with a verifier that counts its verifications, on a
// clock the test moves.
type sessionRig struct {
	t        *testing.T
	engine   *Engine
	jar      *cookies.Jar
	provider *devprovider.Provider
	mu       sync.Mutex
	now      time.Time
	hits     int // token verifications answered from a cache
	misses   int
	revoked  map[string]bool // binding sessions revoked
}

func (s *sessionRig) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *sessionRig) advance(d time.Duration) {
	s.mu.Lock()
	s.now = s.now.Add(d)
	s.mu.Unlock()
}

func (s *sessionRig) Revoked(_ context.Context, _ *tokens.Claims, b cookies.Binding) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked[b.Session]
}

// handlerTransport serves HTTP requests with a handler in-process (the
// provider's JWKS, fetched once at set-up).
type handlerTransport struct{ H http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.H.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func newSessionRig(t *testing.T, cacheEntries string) *sessionRig {
	t.Helper()
	s := &sessionRig{t: t, now: time.Now(), revoked: map[string]bool{}}
	p, err := devprovider.New(devprovider.Options{
		BaseURL: "http://provider.test", Alg: "ES256", AccessTokenTTL: 10 * time.Minute, Now: s.clock,
		Users: []devprovider.User{
			{Username: "alice", Email: "alice@example.com", Name: "Alice", OrganizationID: "org-1", Groups: []string{"ecosire-admins"}},
			{Username: "bob", Email: "bob@example.com", Name: "Bob", OrganizationID: "org-2"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"AUTHENTIK_URL": "http://provider.test", "AUTHENTIK_APP_SLUG": devprovider.DefaultSlug,
		"AUTHENTIK_CLIENT_ID": p.ClientID(), "AUTHENTIK_CLIENT_SECRET": p.ClientSecret(),
		"API_URL": "http://app.test", "UPSTREAM_URL": "http://upstream.test",
		"COOKIE_SECRET": "session-test-cookie-secret-0123456789", "AUTHGATE_TOKEN_CACHE_ENTRIES": cacheEntries,
	}
	cfg, err := config.Load(config.Source{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	keys := tokens.NewKeySet(p.JWKSURL(), tokens.KeySetOptions{Client: &http.Client{Transport: handlerTransport{H: p}}})
	v := tokens.NewVerifier(tokens.Config{
		Issuer: cfg.Issuer, ClientID: cfg.ClientID, CacheEntries: cfg.TokenCacheEntries, Now: s.clock,
		Observe: func(hit bool, _ time.Duration, _ error) {
			s.mu.Lock()
			if hit {
				s.hits++
			} else {
				s.misses++
			}
			s.mu.Unlock()
		},
	}, keys)
	codec, err := cookies.NewCodec(cfg.CookieSecret, s.clock)
	if err != nil {
		t.Fatal(err)
	}
	s.jar, err = cookies.NewJar(codec, cookies.JarConfig{AuthName: cfg.CookieName, RefreshName: cfg.RefreshCookieName, AuthPrefix: cfg.AuthPrefix, MaxAge: cfg.CookieMaxAge})
	if err != nil {
		t.Fatal(err)
	}
	s.engine = NewEngine(cfg, v, s.jar, s)
	s.provider = p
	return s
}

// cookie seals a fresh token of user into a session cookie valid for ttl.
func (s *sessionRig) cookie(user, session string, ttl time.Duration) string {
	s.t.Helper()
	tok, err := s.provider.AccessToken(user, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	v, err := s.jar.SealBound(s.jar.Auth, tok, cookies.Binding{Session: session, Subject: user}, s.clock().Add(ttl))
	if err != nil {
		s.t.Fatal(err)
	}
	return s.jar.Auth.Name + "=" + v
}

func (s *sessionRig) authenticate(cookieHeader ...string) (string, error) {
	r := httptest.NewRequest(http.MethodGet, "http://app.test/", nil)
	for _, c := range cookieHeader {
		r.Header.Add("Cookie", c)
	}
	id, err := s.engine.Authenticate(r)
	if err != nil {
		return "", err
	}
	return id.Subject, nil
}

func (s *sessionRig) counts() (hits, misses int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits, s.misses
}

// A session cookie is opened and verified once; later requests find it by
// its hash, and every rule that applies to it still decides each time.
func TestSessionCache(t *testing.T) {
	s := newSessionRig(t, "")
	c := s.cookie("alice", "login-1", time.Hour)
	for range 3 {
		if sub, err := s.authenticate(c); err != nil || sub == "" {
			t.Fatalf("authenticate: %q, %v", sub, err)
		}
	}
	if hits, misses := s.counts(); misses != 1 || hits != 2 || s.engine.sessions.Len() != 1 {
		t.Fatalf("3 requests: %d verifications, %d cache hits, %d sessions cached; want 1, 2, 1", misses, hits, s.engine.sessions.Len())
	}

	t.Run("revoked after caching", func(t *testing.T) {
		c := s.cookie("alice", "login-2", time.Hour)
		if _, err := s.authenticate(c); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		s.revoked["login-2"] = true
		s.mu.Unlock()
		if _, err := s.authenticate(c); !errors.Is(err, tokens.ErrRevoked) {
			t.Fatalf("revoked session: %v, want ErrRevoked", err)
		}
	})

	t.Run("tampered value is not a hit", func(t *testing.T) {
		b := []byte(c)
		i := len(b) - 5
		b[i] ^= 1
		if _, err := s.authenticate(string(b)); !errors.Is(err, ErrBadCookie) {
			t.Fatalf("tampered cookie: %v, want ErrBadCookie", err)
		}
	})

	t.Run("first cookie unreadable by net/http", func(t *testing.T) {
		// Read skips a same-named cookie with a forbidden byte and takes the
		// next: the cached one must still be found the way Read finds it.
		bad := s.jar.Auth.Name + `=x\y`
		if sub, err := s.authenticate(bad + "; " + c); err != nil || sub == "" {
			t.Fatalf("bad then good cookie: %q, %v", sub, err)
		}
	})
}

// The token inside a cached session expires before the cookie: the hit must
// answer as the slow path does (expired, so a navigation goes to refresh).
func TestSessionCacheTokenExpiry(t *testing.T) {
	s := newSessionRig(t, "")
	c := s.cookie("alice", "login-1", 24*time.Hour)
	if _, err := s.authenticate(c); err != nil {
		t.Fatal(err)
	}
	s.advance(11 * time.Minute) // the token lives 10
	if _, err := s.authenticate(c); !errors.Is(err, tokens.ErrExpired) {
		t.Fatalf("expired token in a cached session: %v, want ErrExpired", err)
	}
}

// The cookie's own sealed expiry ends a cached session even while its token
// is valid, exactly as opening the cookie would.
func TestSessionCacheCookieExpiry(t *testing.T) {
	s := newSessionRig(t, "")
	c := s.cookie("alice", "login-1", time.Minute)
	if _, err := s.authenticate(c); err != nil {
		t.Fatal(err)
	}
	s.advance(2 * time.Minute)
	if _, err := s.authenticate(c); !errors.Is(err, ErrBadCookie) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired cookie in the cache: %v, want ErrBadCookie (expired)", err)
	}
}

// With the token cache off, no session is cached either: the uncached path
// stays measurable end to end.
func TestSessionCacheOff(t *testing.T) {
	s := newSessionRig(t, "-1")
	c := s.cookie("alice", "login-1", time.Hour)
	for range 2 {
		if _, err := s.authenticate(c); err != nil {
			t.Fatal(err)
		}
	}
	if hits, misses := s.counts(); hits != 0 || misses != 2 || s.engine.sessions != nil {
		t.Fatalf("cache off: %d hits, %d verifications, sessions %v", hits, misses, s.engine.sessions)
	}
}

func (s *sessionRig) bearer(user string) string {
	s.t.Helper()
	tok, err := s.provider.AccessToken(user, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// authenticateHeader judges a request with the given header lines.
func (s *sessionRig) authenticateHeader(h http.Header) (string, error) {
	r := httptest.NewRequest(http.MethodGet, "http://app.test/", nil)
	r.Header = h
	id, err := s.engine.Authenticate(r)
	if err != nil {
		return "", err
	}
	return id.Subject, nil
}

// Recent credentials are found whole, not by hash: only the exact string
// verified before is a hit, the cookie still outranks a bearer token, and
// every rule still runs on a hit.
func TestHotCredentials(t *testing.T) {
	s := newSessionRig(t, "")
	alice, bob := s.bearer("alice"), s.bearer("bob")
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	var subAlice string
	for range 3 {
		sub, err := s.authenticateHeader(bearer(alice))
		if err != nil {
			t.Fatal(err)
		}
		subAlice = sub
	}
	if hits, misses := s.counts(); misses != 1 || hits != 2 || s.engine.hot.Len() != 1 {
		t.Fatalf("3 requests: %d verifications, %d hits, %d hot; want 1, 2, 1", misses, hits, s.engine.hot.Len())
	}

	// One character off is another credential: verified from scratch, refused.
	forged := alice[:len(alice)-2] + string(alice[len(alice)-2]^1) + alice[len(alice)-1:]
	if _, err := s.authenticateHeader(bearer(forged)); !errors.Is(err, tokens.ErrSignature) && !errors.Is(err, tokens.ErrMalformed) {
		t.Fatalf("altered token: %v, want a signature error", err)
	}
	// Even where a forged credential lands on a hot entry (a maphash
	// collision, forced here), the whole credential must match.
	hk := s.engine.hotKey(forged)
	aliceKey := s.engine.hotKey(alice)
	entry, ok := s.engine.hot.Get(&aliceKey)
	if !ok {
		t.Fatal("alice's token is not hot")
	}
	s.engine.hot.Put(&hk, entry, time.Now().Add(time.Hour), time.Now())
	if _, err := s.authenticateHeader(bearer(forged)); err == nil {
		t.Fatal("a forged token colliding with a hot entry was accepted")
	}
	// A hot token sent twice is still an ambiguous request.
	if _, err := s.authenticateHeader(http.Header{"Authorization": {"Bearer " + alice, "Bearer " + alice}}); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("two Authorization headers: %v, want ErrBadHeader", err)
	}

	// Bob's bearer token is hot; a request that also carries Alice's session
	// cookie is Alice's, as on the slow path, hot or not.
	subBob, err := s.authenticateHeader(bearer(bob))
	if err != nil {
		t.Fatal(err)
	}
	c := s.cookie("alice", "login-1", time.Hour)
	for range 2 {
		h := bearer(bob)
		h.Set("Cookie", c)
		if sub, err := s.authenticateHeader(h); err != nil || sub != subAlice || sub == subBob {
			t.Fatalf("cookie of alice with bearer of bob: %q, %v; want alice %q", sub, err, subAlice)
		}
	}

	// The token expires while hot: refused as expired.
	s.advance(11 * time.Minute)
	if _, err := s.authenticateHeader(bearer(alice)); !errors.Is(err, tokens.ErrExpired) {
		t.Fatalf("expired hot token: %v, want ErrExpired", err)
	}
}
