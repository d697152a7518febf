package attack

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/flowtest"
)

// Rate limit of the tests: 6 a minute sustained, bursts of 3.
const (
	testPerMinute = 6
	testBurst     = 3
)

func limitedEnv(t *testing.T, extra map[string]string) *flowtest.Env {
	env := map[string]string{
		"AUTHGATE_RATE_LIMIT_PER_MINUTE": strconv.Itoa(testPerMinute),
		"AUTHGATE_RATE_LIMIT_BURST":      strconv.Itoa(testBurst),
	}
	for k, v := range extra {
		env[k] = v
	}
	return flowtest.New(t, flowtest.Options{Env: env})
}

// storeWriter is one endpoint that writes to the store, called with values
// that need no prior login.
type storeWriter struct {
	name string
	call func(b *flowtest.Browser, header ...string) *flowtest.Response
}

var storeWriters = []storeWriter{
	{"/auth/login", func(b *flowtest.Browser, h ...string) *flowtest.Response {
		// A fresh browser each time: one browser starting login after login
		// meets the redirect-loop breaker (also a 429), not the rate limit.
		return b.Env.NewBrowser().Get("/auth/login?rd=/", append([]string{"Accept", "text/html"}, h...)...)
	}},
	{"/auth/callback", func(b *flowtest.Browser, h ...string) *flowtest.Response {
		return b.Get("/auth/callback?state="+strings.Repeat("s", 43)+"&code=c", h...)
	}},
	{"/auth/exchange", func(b *flowtest.Browser, h ...string) *flowtest.Response {
		return b.Post("/auth/exchange", "application/json", `{"code":"`+strings.Repeat("A", 43)+`"}`, append([]string{"Origin", b.Env.URL}, h...)...)
	}},
}

// limited reports whether r is the rate limit's answer.
func limited(r *flowtest.Response) bool {
	return r.StatusCode == http.StatusTooManyRequests && strings.Contains(string(r.Body), `"rate_limited"`)
}

// wantLimited checks a 429 rate_limited with a usable Retry-After.
func wantLimited(t *testing.T, what string, r *flowtest.Response) {
	t.Helper()
	if !limited(r) {
		t.Fatalf("%s: %d %s, want 429 rate_limited", what, r.StatusCode, r.Body)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60/testPerMinute+1 {
		t.Fatalf("%s: Retry-After %q, want 1..%d seconds", what, r.Header.Get("Retry-After"), 60/testPerMinute+1)
	}
}

// TestRateLimits: each store-writing endpoint answers 429 rate_limited with
// Retry-After once a client used up its burst; other paths and other
// clients are not affected, and the client is let in again after
// Retry-After. The client is the peer, or behind a trusted proxy the nearest
// untrusted X-Forwarded-For hop.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	for _, ep := range storeWriters {
		t.Run(ep.name, func(t *testing.T) {
			t.Parallel()
			env := limitedEnv(t, nil)
			b := env.NewBrowser()
			alice := []string{"X-Forwarded-For", "203.0.113.1"} // through the (trusted, loopback) proxy
			for i := 0; i < testBurst; i++ {
				if r := ep.call(b, alice...); limited(r) {
					t.Fatalf("request %d of the burst was limited", i+1)
				}
			}
			r := ep.call(b, alice...)
			wantLimited(t, ep.name, r)
			// The three endpoints share the client's budget.
			for _, other := range storeWriters {
				wantLimited(t, other.name+" after "+ep.name, other.call(b, alice...))
			}
			// A spoofed leftmost hop does not make another client: the
			// proxy appends the real one.
			wantLimited(t, "spoofed leftmost X-Forwarded-For", ep.call(b, "X-Forwarded-For", "198.51.100.9, 203.0.113.1"))
			// Other paths are not limited.
			for _, path := range []string{"/auth/session", "/auth/complete?exchange=x", "/app", "/auth/verify"} {
				if r := b.Get(path, append([]string{"Accept", "application/json"}, alice...)...); limited(r) {
					t.Errorf("%s limited after the store-writing burst", path)
				}
			}
			if r := b.Fetch("/auth/refresh", ""); limited(r) {
				t.Error("/auth/refresh limited")
			}
			// Another client behind the same proxy is not.
			if r := ep.call(b, "X-Forwarded-For", "203.0.113.2"); limited(r) {
				t.Error("another client was limited")
			}
			// After Retry-After the client may come back.
			wait, _ := strconv.Atoi(r.Header.Get("Retry-After"))
			env.Clock.Advance(time.Duration(wait) * time.Second)
			if r := ep.call(b, alice...); limited(r) {
				t.Errorf("still limited after Retry-After %ds", wait)
			}
		})
	}

	t.Run("X-Forwarded-For from an untrusted peer", func(t *testing.T) {
		t.Parallel()
		// Loopback is not a trusted proxy here: the peer is the client, and
		// whatever X-Forwarded-For it writes does not make it another one.
		env := limitedEnv(t, map[string]string{"AUTHGATE_TRUSTED_PROXIES": "10.0.0.0/8"})
		b := env.NewBrowser()
		n := 0
		for i := 0; i < testBurst+5; i++ {
			r := storeWriters[0].call(b, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i), "X-Real-IP", fmt.Sprintf("192.0.2.%d", i),
				"Forwarded", fmt.Sprintf("for=192.0.2.%d", i))
			if limited(r) {
				n++
			}
		}
		if n != 5 {
			t.Errorf("%d of %d requests with rotating X-Forwarded-For limited, want 5", n, testBurst+5)
		}
	})

	t.Run("path spellings do not dodge the limit", func(t *testing.T) {
		t.Parallel()
		env := limitedEnv(t, nil)
		addr := env.Server.Listener.Addr().String()
		b := env.NewBrowser()
		for range testBurst {
			storeWriters[0].call(b)
		}
		wantLimited(t, "login", storeWriters[0].call(b))
		for _, target := range []string{
			"/auth//login?rd=/", "/auth/./login?rd=/", "/auth/x/../login?rd=/", "/auth/%6Cogin?rd=/", "/auth/login/?rd=/",
			"/auth/login;x?rd=/", "//auth/login?rd=/", "/AUTH/login?rd=/", "http://evil/auth/login?rd=/",
			"/auth/callback/?state=" + strings.Repeat("s", 43), "/auth//exchange",
		} {
			resp, body := raw(t, addr, "GET "+target+" HTTP/1.1", "Accept", "text/html")
			if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, env.ProviderURL) {
				t.Errorf("%s started a login past the limit: %d %s", target, resp.StatusCode, loc)
			}
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "state") {
				t.Errorf("%s: %d %s", target, resp.StatusCode, body)
			}
		}
	})

	t.Run("IPv6 clients are limited per /64", func(t *testing.T) {
		t.Parallel()
		env := limitedEnv(t, nil)
		b := env.NewBrowser()
		// One subscriber rotating through the addresses of its /64.
		n := 0
		for i := 1; i <= testBurst+5; i++ {
			if r := storeWriters[0].call(b, "X-Forwarded-For", fmt.Sprintf("2001:db8:1:2::%x", i*7919)); limited(r) {
				n++
			}
		}
		if n != 5 {
			t.Errorf("%d of %d logins from one /64 limited, want 5", n, testBurst+5)
		}
		if r := storeWriters[0].call(b, "X-Forwarded-For", "2001:db8:1:3::1"); limited(r) {
			t.Error("a client in another /64 was limited")
		}
		if r := storeWriters[0].call(b, "X-Forwarded-For", "::ffff:203.0.113.50"); limited(r) {
			t.Error("an IPv4-mapped client was limited with the IPv6 /64")
		}
	})

	t.Run("a flood is bounded", func(t *testing.T) {
		t.Parallel()
		env := limitedEnv(t, nil)
		b := env.NewBrowser()
		var ok atomic.Int32
		for i := 0; i < 50; i++ {
			if r := storeWriters[0].call(b, "X-Forwarded-For", "203.0.113.7"); r.StatusCode == http.StatusFound {
				ok.Add(1)
			}
		}
		if n := ok.Load(); n != testBurst {
			t.Errorf("%d of 50 logins passed, want the burst of %d", n, testBurst)
		}
	})
}

// TestAuthBodyLimits: the auth endpoints that read a body read a bounded
// amount of it — /auth/exchange 4 KiB of JSON, /auth/logout 8 KiB of form,
// /auth/backchannel-logout 64 KiB of form — so a client streaming far more
// is refused at once without authgate reading it all.
func TestAuthBodyLimits(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	for _, tc := range []struct {
		path, ctype, prefix string
	}{
		{"/auth/exchange", "application/json", `{"code":"`},
		{"/auth/logout", "application/x-www-form-urlencoded", "state="},
		{"/auth/backchannel-logout", "application/x-www-form-urlencoded", "logout_token="},
	} {
		t.Run(tc.path, func(t *testing.T) {
			b := env.NewBrowser()
			var sent atomic.Int64
			body := &countingReader{n: 64 << 20, sent: &sent, prefix: tc.prefix}
			req := b.NewRequest(http.MethodPost, tc.path, body, "Origin", env.URL, "Content-Type", tc.ctype)
			start := time.Now()
			r := b.Do(req)
			if r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("64 MiB body: %d %s", r.StatusCode, r.Body)
			}
			if n := sent.Load(); n > 8<<20 {
				t.Errorf("client got to send %d bytes", n)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("refusal took %s", time.Since(start))
			}
		})
	}
}

// countingReader yields prefix then n filler bytes, counting what was read.
type countingReader struct {
	n      int64
	prefix string
	sent   *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.prefix != "" {
		k := copy(p, c.prefix)
		c.prefix = c.prefix[k:]
		c.sent.Add(int64(k))
		return k, nil
	}
	if c.sent.Load() >= c.n {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = 'A'
	}
	c.sent.Add(int64(len(p)))
	return len(p), nil
}
