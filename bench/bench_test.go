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
// HS256 keeps minting and verifying fast; the cached entry does not depend on
// the algorithm.
func cacheHeap(tb testing.TB, n int) uint64 {
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
// costs (B/entry) and what 100,000 of them take (MiB/100k).
func BenchmarkTokenCacheMemory(b *testing.B) {
	const n = 100_000
	var heap uint64
	for b.Loop() {
		heap = cacheHeap(b, n)
	}
	b.ReportMetric(float64(heap)/n, "B/entry")
	b.ReportMetric(float64(heap)/(1<<20), "MiB/100k")
}

// TestTokenCacheMemoryBound guards the budget: 100,000 distinct live
// tokens cached within 64 MiB. It fills a quarter of that (to keep the suite
// fast; the cost is linear in the entries) and scales. This is the heap the
// cache itself holds; the whole process's RSS with 100,000 cached tokens is
// measured by run.sh (it adds the runtime and the garbage collector's
// headroom). BenchmarkTokenCacheMemory fills all 100,000.
func TestTokenCacheMemoryBound(t *testing.T) {
	const n = 25_000
	perEntry := float64(cacheHeap(t, n)) / n
	total := uint64(perEntry * 100_000)
	t.Logf("verified-token cache: %.0f B/entry, %s for 100,000 entries", perEntry, mib(total))
	if limit := uint64(64 << 20); total > limit {
		t.Fatalf("100,000 cache entries would hold %s of heap, budget %s", mib(total), mib(limit))
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
