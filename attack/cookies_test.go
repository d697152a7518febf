package attack

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/internal/flowtest"
	"github.com/authgate/authgate/internal/redistest"
	"github.com/authgate/authgate/oidcflow"
	"github.com/authgate/authgate/store"
)

// TestProductionCookies: in production every cookie authgate sets, through
// a whole session (login, exchange, refresh, logout), is Secure, HttpOnly and
// SameSite=Lax and carries the prefix browsers enforce: __Host- when it is
// host-only on "/", __Secure- otherwise. The refresh cookie is scoped to
// /auth/refresh and sealed: neither the token nor any base64 of it is in the
// browser. A cookie tossed in without the prefix (from a sibling subdomain or
// plain http) is not read.
func TestProductionCookies(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{Production: true})
	b := env.NewBrowser()
	b.LoginAs("alice")
	sess := b.Session()
	if r := b.Fetch("/auth/refresh", ""); r.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d", r.StatusCode)
	}
	after := b.Session()
	if r := b.Fetch("/auth/logout", ""); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", r.StatusCode)
	}

	seen := map[string]bool{}
	for _, resp := range env.Responses() {
		for _, line := range resp.Header.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				t.Errorf("%s %s: unparsable Set-Cookie %q", resp.Method, resp.URL, line)
				continue
			}
			seen[c.Name] = true
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("%s %s: cookie %s: Secure=%v HttpOnly=%v SameSite=%v", resp.Method, resp.URL, c.Name, c.Secure, c.HttpOnly, c.SameSite)
			}
			switch {
			case c.Path == "/" && c.Domain == "":
				if !strings.HasPrefix(c.Name, "__Host-") {
					t.Errorf("cookie %s (host-only, Path=/) lacks the __Host- prefix", c.Name)
				}
			case !strings.HasPrefix(c.Name, "__Secure-"):
				t.Errorf("cookie %s (Path=%s Domain=%q) lacks the __Secure- prefix", c.Name, c.Path, c.Domain)
			}
		}
	}
	jar := env.Jar
	for _, name := range []string{jar.Auth.Name, jar.Refresh.Name, jar.ID.Name, jar.Login.Name} {
		if !seen[name] {
			t.Errorf("cookie %s never set", name)
		}
	}
	if jar.Refresh.Path != "/auth/refresh" {
		t.Errorf("refresh cookie path %q", jar.Refresh.Path)
	}
	for _, s := range []flowtest.Session{sess, after} {
		sealed := s.Sealed[jar.Refresh.Name]
		for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
			if s.Refresh == "" || strings.Contains(sealed, s.Refresh) || strings.Contains(sealed, enc.EncodeToString([]byte(s.Refresh))) {
				t.Errorf("refresh cookie does not hide the refresh token")
			}
		}
	}

	// Cookie tossing: the session, planted without the prefix, is ignored.
	tossed := env.NewBrowser()
	tossed.SetCookie(&http.Cookie{Name: strings.TrimPrefix(jar.Auth.Name, "__Host-"), Value: after.Sealed[jar.Auth.Name], Path: "/"})
	if r := tossed.Get("/app", "Accept", "application/json"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("unprefixed copy of the session cookie: %d, want 401", r.StatusCode)
	}
}

// TestExchangeCodeExpiry: an exchange code lives 60 s (DESIGN §2). The clock
// every part of authgate reads jumps; a code one second short of its expiry
// is still good, one second past it is refused, on the memory store and on a
// real Redis (whose own TTL on the code is at most 60 s as well, so a code
// also dies where authgate's clock is not consulted).
func TestExchangeCodeExpiry(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) store.Store
	}{
		{"memory", func(*testing.T) store.Store { return nil }},
		{"redis", func(t *testing.T) store.Store {
			st, err := store.NewRedis(context.Background(), srv.URL(), store.RedisOptions{KeyPrefix: "expiry-" + randomString(6) + ":"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := flowtest.New(t, flowtest.Options{Store: tc.store(t)})
			login := func() (*flowtest.Browser, string) {
				b := env.NewBrowser()
				return b, flowtest.ExchangeCode(t, b.Callback(b.Authorize(b.StartLogin("/"))))
			}
			early, earlyCode := login()
			late, lateCode := login()
			if tc.name == "redis" {
				ttl := redisTTL(t, srv.Addr())
				if ttl <= 0 || ttl > oidcflow.ExchangeTTL {
					t.Errorf("exchange code TTL in Redis %s, want (0, 60s]", ttl)
				}
			}
			env.Clock.Advance(oidcflow.ExchangeTTL - time.Second)
			if r := early.Exchange(earlyCode); r.StatusCode != http.StatusOK {
				t.Fatalf("code at 59 s: %d %s", r.StatusCode, r.Body)
			}
			env.Clock.Advance(2 * time.Second)
			r := late.Exchange(lateCode)
			if r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 || !strings.Contains(string(r.Body), "invalid_exchange_code") {
				t.Fatalf("code at 61 s: %d %s %v", r.StatusCode, r.Body, r.Header.Values("Set-Cookie"))
			}
		})
	}
}

// redisTTL returns the largest remaining TTL among the exchange codes in Redis.
func redisTTL(t *testing.T, addr string) time.Duration {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*exchange:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no exchange code in Redis (%v)", err)
	}
	var worst time.Duration
	for _, k := range keys {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, ttl)
	}
	return worst
}
