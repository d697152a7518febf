package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/devprovider"
	"github.com/authgate/authgate/tokens"
)

// BenchmarkRawRS256Verify: one RS256 signature check with crypto/rsa alone.
func BenchmarkRawRS256Verify(b *testing.B) { BenchmarkRS256(b) }

// cacheHeap fills a verifier's cache with n distinct, valid Authentik-shaped
// access tokens and returns the heap the cache holds (after GC), in bytes.
// The tokens are all of one user (each login and refresh mints a new token
// for the same user: own sid and jti) or, with distinctUsers, each of its own
// user (sub, email and name differ too), the worst case for the cache, which
// shares what tokens of one user have in common. HS256 keeps minting and
// verifying fast; the cached entry does not depend on the algorithm.
func cacheHeap(tb testing.TB, n int, distinctUsers bool) uint64 {
	tb.Helper()
	secret := "bench-client-secret-0123456789abcdef"
	p, err := devprovider.New(devprovider.Options{
		BaseURL: "http://provider.test", Alg: "HS256", ClientSecret: secret, AccessTokenTTL: time.Hour,
		Users: []devprovider.User{{Username: "alice", Email: "alice@example.com", Name: "Alice Example",
			OrganizationID: "org-1", Groups: []string{"ecosire-admins", "staff"}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	// One access token as the provider issues it, then n variants of its
	// claims (own jti and sid, as every login's token has) signed directly.
	first, err := p.AccessToken("alice", nil)
	if err != nil {
		tb.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(first, ".")[1])
	if err != nil {
		tb.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		tb.Fatal(err)
	}
	toks := make([]string, n)
	for i := range toks {
		claims["jti"] = fmt.Sprintf("jti-%016x", i)
		claims["sid"] = fmt.Sprintf("sid-%016x", i)
		if distinctUsers {
			// As long as the provider's own subject (a 64-hex-digit hash).
			claims["sub"] = fmt.Sprintf("%064x", i)
			claims["email"] = fmt.Sprintf("user-%08d@example.com", i)
			claims["name"] = fmt.Sprintf("User %08d", i)
		}
		if toks[i], err = p.Sign(nil, claims); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := tokens.Config{Issuer: p.Issuer(), ClientID: p.ClientID(), HS256Secret: []byte(secret), CacheEntries: n}
	p = nil // the provider remembers every token it issued; keep that out of the measurement
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := tokens.NewVerifier(cfg, nil)
	ctx := context.Background()
	for _, t := range toks {
		if _, err := v.Verify(ctx, t); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Still cached: every token verifies again from the cache.
	if _, err := v.Verify(ctx, toks[0]); err != nil {
		tb.Fatal(err)
	}
	runtime.KeepAlive(v)
	runtime.KeepAlive(toks)
	return after.HeapAlloc - before.HeapAlloc
}

// BenchmarkTokenCacheMemory reports the heap one verified-token cache entry
// costs (B/entry) and what 100,000 of them take (MiB/100k): same-user is the
// typical cache (many tokens of a few users), distinct-users the worst case.
func BenchmarkTokenCacheMemory(b *testing.B) {
	const n = 100_000
	for _, bc := range []struct {
		name          string
		distinctUsers bool
	}{{"same-user", false}, {"distinct-users", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var heap uint64
			for b.Loop() {
				heap = cacheHeap(b, n, bc.distinctUsers)
			}
			b.ReportMetric(float64(heap)/n, "B/entry")
			b.ReportMetric(float64(heap)/(1<<20), "MiB/100k")
		})
	}
}

// TestTokenCacheMemoryBound guards the budget: 100,000 distinct live
// tokens cached in a process of at most 64 MiB RSS. RSS is about twice the live
// heap (the garbage collector lets the heap grow by GOGC=100% between cycles)
// plus the runtime and the rest of authgate, so the cache may hold about 25
// MiB: 250 B per entry. Tokens of a few users (each login and refresh mints a
// new one for the same user) cost 160-170 B today; the bound leaves room
// for noise and small changes, and fails long before the old 600 B/entry
// design (a whole Claims per token) would fit again. Tokens each of its own
// user cost more, since what they share is less; they must at least never
// cost more than that old design did. It fills a quarter of 100,000 (to keep
// the suite fast; the cost is linear in the entries) and scales; the whole
// process's RSS is measured by run.sh. BenchmarkTokenCacheMemory fills all
// 100,000.
func TestTokenCacheMemoryBound(t *testing.T) {
	const n = 25_000
	for _, tc := range []struct {
		name          string
		distinctUsers bool
		limit         float64 // B/entry
	}{
		{"same-user", false, 250},
		{"distinct-users", true, 600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			perEntry := float64(cacheHeap(t, n, tc.distinctUsers)) / n
			t.Logf("verified-token cache: %.0f B/entry, %s for 100,000 entries", perEntry, mib(uint64(perEntry*100_000)))
			if perEntry > tc.limit {
				t.Fatalf("%.0f B/entry (%s per 100,000 entries), budget %.0f B/entry",
					perEntry, mib(uint64(perEntry*100_000)), tc.limit)
			}
		})
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
