package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/authgate/authgate/internal/hashcache"
)

// hitRecorder notes whether each Verify was answered by the cache.
type hitRecorder struct{ hits []bool }

func (h *hitRecorder) observe(hit bool, _ time.Duration, _ error) { h.hits = append(h.hits, hit) }
func (h *hitRecorder) last() bool                                 { return h.hits[len(h.hits)-1] }

// TestCachedClaimsEqualUncached: a cache hit yields exactly the Claims the
// uncached path parses, for every shape a claim can take.
func TestCachedClaimsEqualUncached(t *testing.T) {
	k := keysOnce()
	long := strings.Repeat("ñ", 300) // lengths past one uvarint byte
	many := make([]string, 200)
	for i := range many {
		many[i] = fmt.Sprintf("group-%d", i)
	}
	cases := []struct {
		name   string
		claims map[string]any
	}{
		{"minimal", claims()},
		{"fractional times", claims("exp", 1_700_003_600.75, "nbf", 1_699_999_000.123456789, "iat", 1_699_999_999.5)},
		{"iat just under a second", claims("iat", 0.9999999999999999)},
		{"epoch nbf and iat", claims("nbf", 0, "iat", 0)},
		{"exp at the 2^40 s bound", claims("exp", int64(1)<<40)},
		{"exp just under the bound", claims("exp", float64(int64(1)<<40)-0.5)},
		{"nbf absent, iat absent", claims("iat", del)},
		{"null dates", claims("nbf", nil, "iat", nil)},
		{"aud string", claims("aud", testClient)},
		{"aud array of the client", claims("aud", []string{testClient})},
		{"aud array of several", claims("aud", []string{"other", testClient, ""})},
		{"azp client", claims("azp", testClient)},
		{"azp other", claims("azp", "another-client")},
		{"groups absent", claims()},
		{"groups null", claims("groups", nil)},
		{"groups empty", claims("groups", []string{})},
		{"groups one string", claims("groups", "admins")},
		{"groups one", claims("groups", []string{"admins"})},
		{"groups many", claims("groups", many)},
		{"groups with empty and unicode", claims("groups", []string{"", "ünïcødé", "Ωmega 😀"})},
		{"identity", claims("email", "a@example.com", "name", "Ann Example", "preferred_username", "ann",
			"organizationId", "org-9", "sid", "s-1", "nonce", "n-1", "azp", testClient)},
		{"unicode and control characters", claims("name", "Zoë 日本語 😀", "email", "zoë@例え.jp",
			"preferred_username", "nul\x00byte\x01", "sub", "sub/with\"quotes\\")},
		{"long strings", claims("name", long, "email", long+"@example.com", "groups", []string{long})},
		{"empty strings present", claims("email", "", "name", "", "sid", "", "nonce", "")},
		{"unknown claims", claims("scope", "openid email", "act", "j-1", "x", map[string]any{"y": 1})},
	}
	var rec hitRecorder
	cached := newFixture(t, Config{Observe: rec.observe}, publicJWK("ed-1", k.ed, nil))
	uncached := newFixture(t, Config{CacheEntries: -1}, publicJWK("ed-1", k.ed, nil))
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.claims["jti"] = tc.name // every case its own token
			tok := signJWS(t, hdr("EdDSA", "ed-1"), tc.claims, k.ed)
			want, err := uncached.v.Verify(ctx, tok)
			if err != nil {
				t.Fatalf("uncached: %v", err)
			}
			miss, err := cached.v.Verify(ctx, tok)
			if err != nil || rec.last() {
				t.Fatalf("first cached Verify: hit %v, err %v", rec.last(), err)
			}
			hit, err := cached.v.Verify(ctx, tok)
			if err != nil || !rec.last() {
				t.Fatalf("second cached Verify: hit %v, err %v", rec.last(), err)
			}
			for name, got := range map[string]*Claims{"miss": miss, "hit": hit} {
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\n got %#v\nwant %#v", name, got, want)
				}
			}
		})
	}
}

// TestCacheChecksEveryClaimOnHit tampers with the cached entry of a valid token
// so that exactly one claim rule fails: if a hit skipped that rule, Verify
// would accept. (The configuration cannot change under a verifier, so without
// tampering only time can make a cached token invalid; the other rules must
// still run, lest a cache bug become an authentication bypass.)
func TestCacheChecksEveryClaimOnHit(t *testing.T) {
	k := keysOnce()
	base := func() Claims {
		return Claims{
			Issuer: testIssuer, Subject: "user-1", Audience: Audience{testClient},
			Expiry:   NumericDate{Time: testT0.Add(time.Hour), Set: true},
			IssuedAt: NumericDate{Time: testT0, Set: true},
		}
	}
	future := NumericDate{Time: testT0.Add(time.Hour), Set: true}
	tests := []struct {
		name   string
		mutate func(*Claims)
		want   error
	}{
		{"issuer", func(c *Claims) { c.Issuer = "https://evil.example/" }, ErrIssuer},
		{"audience", func(c *Claims) { c.Audience = Audience{"other"} }, ErrAudience},
		{"no audience", func(c *Claims) { c.Audience = nil }, ErrAudience},
		{"subject", func(c *Claims) { c.Subject = "" }, ErrClaims},
		{"no exp", func(c *Claims) { c.Expiry = NumericDate{} }, ErrClaims},
		{"expired", func(c *Claims) { c.Expiry = NumericDate{Time: testT0.Add(-time.Minute), Set: true} }, ErrExpired},
		{"nbf", func(c *Claims) { c.NotBefore = future }, ErrNotYetValid},
		{"iat", func(c *Claims) { c.IssuedAt = future }, ErrNotYetValid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec hitRecorder
			f := newFixture(t, Config{Observe: rec.observe}, publicJWK("ed-1", k.ed, nil))
			tok := signJWS(t, hdr("EdDSA", "ed-1"), claims(), k.ed)
			if _, err := f.v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
			c := base()
			tc.mutate(&c)
			e, ok := f.v.profiles.newEntry(&c)
			if !ok {
				t.Fatal("entry not made")
			}
			key := hashcache.KeyOf(tok)
			f.v.cache.Put(&key, e, testT0.Add(time.Hour), testT0)
			got, err := f.v.Verify(context.Background(), tok)
			if !rec.last() {
				t.Fatal("not answered by the cache")
			}
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("tampered entry: claims %v, err %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestEventTokensNeverCached(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{}, publicJWK("ed-1", k.ed, nil))
	tok := signJWS(t, hdr("EdDSA", "ed-1"), claims("events", map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}), k.ed)
	for range 2 {
		if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrClaims) {
			t.Fatalf("err = %v, want ErrClaims", err)
		}
	}
	if n := f.v.cache.Len(); n != 0 {
		t.Fatalf("cache holds %d entries", n)
	}
	c := Claims{Issuer: testIssuer, Subject: "s", Audience: Audience{testClient},
		Expiry: NumericDate{Time: testT0, Set: true}, Events: json.RawMessage(`{}`)}
	if _, ok := f.v.profiles.newEntry(&c); ok || f.v.profiles.len() != 0 {
		t.Fatal("an entry was made for an event token")
	}
}

// TestCacheSharesProfiles: tokens of one user share one profile, whose
// strings are stored once, inside its key.
func TestCacheSharesProfiles(t *testing.T) {
	k := keysOnce()
	f := newFixture(t, Config{}, publicJWK("ed-1", k.ed, nil))
	ctx := context.Background()
	user := func(sub string, i int) string {
		return signJWS(t, hdr("EdDSA", "ed-1"), claims("sub", sub, "sid", fmt.Sprint("sid-", i), "jti", fmt.Sprint(i),
			"exp", testT0.Add(time.Hour+time.Duration(i)*time.Second).Unix(), "email", sub+"@example.com",
			"groups", []string{"staff", "admins"}, "azp", testClient), k.ed)
	}
	a1, a2, b1 := user("alice", 1), user("alice", 2), user("bob", 3)
	for _, tok := range []string{a1, a2, b1} {
		if _, err := f.v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	get := func(tok string) entry {
		key := hashcache.KeyOf(tok)
		e, ok := f.v.cache.Get(&key)
		if !ok {
			t.Fatal("token not cached")
		}
		return e
	}
	ea1, ea2, eb1 := get(a1), get(a2), get(b1)
	if ea1.p != ea2.p {
		t.Error("two tokens of one user have two profiles")
	}
	if ea1.p == eb1.p {
		t.Error("two users share a profile")
	}
	if n := f.v.profiles.len(); n != 2 {
		t.Errorf("%d profiles, want 2", n)
	}
	if ea1.p.refs != 2 || eb1.p.refs != 1 {
		t.Errorf("refs = %d, %d; want 2, 1", ea1.p.refs, eb1.p.refs)
	}
	// Stored once: the strings of the hit's Claims point into the profile's
	// key, and issuer, audience and azp are the verifier's own.
	c := f.v.profiles.claims(&ea2)
	if c.SessionID != "sid-2" || c.Subject != "alice" {
		t.Fatalf("claims = %+v", c)
	}
	key := ea1.p.key
	for _, s := range []string{c.Subject, c.Email, c.Groups[0], c.Groups[1]} {
		if !within(s, key) {
			t.Errorf("%q is not stored in the profile's key", s)
		}
	}
	if unsafe.StringData(c.Issuer) != unsafe.StringData(f.v.cfg.Issuer) ||
		unsafe.StringData(c.AuthorizedParty) != unsafe.StringData(f.v.cfg.ClientID) ||
		&c.Audience[0] != &f.v.profiles.aud[0] {
		t.Error("issuer, azp or audience not shared with the verifier")
	}
	if strings.Contains(key, testIssuer) || strings.Contains(key, testClient) {
		t.Errorf("key %q spells out the configured issuer or client", key)
	}
}

// TestEntryKeepsNoPayload: claims may be substrings of the decoded payload;
// a cache entry must not keep the payload alive through them.
func TestEntryKeepsNoPayload(t *testing.T) {
	payload := `{"sid":"session-1","sub":"user-1","email":"a@example.com","groups":["g"]}` + strings.Repeat(" ", 1000)
	at := func(s string) string { i := strings.Index(payload, s); return payload[i : i+len(s)] }
	c := &Claims{Issuer: testIssuer, Subject: at("user-1"), Audience: Audience{testClient}, SessionID: at("session-1"),
		Email: at("a@example.com"), Groups: []string{at("g")}, Expiry: NumericDate{Time: testT0, Set: true}}
	tab := newProfiles(testIssuer, testClient)
	e, ok := tab.newEntry(c)
	if !ok {
		t.Fatal("no entry")
	}
	got := tab.claims(&e)
	for _, s := range []string{e.p.key, got.SessionID, got.Subject, got.Email, got.Groups[0]} {
		if within(s, payload) {
			t.Errorf("%q points into the payload", s)
		}
	}
}

// within reports whether s's bytes lie inside outer's.
func within(s, outer string) bool {
	p, o := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(outer)))
	return len(s) > 0 && p >= o && p+uintptr(len(s)) <= o+uintptr(len(outer))
}

// TestProfilesReleased: the intern table never outlives the entries. Profiles
// go when their last entry is evicted, swept, replaced or deleted.
func TestProfilesReleased(t *testing.T) {
	k := keysOnce()
	const size = 64
	f := newFixture(t, Config{CacheEntries: size}, publicJWK("ed-1", k.ed, nil))
	ctx := context.Background()
	var toks []string
	for i := range 4 * size {
		// 40 users, a few tokens each; all expire within the hour.
		tok := signJWS(t, hdr("EdDSA", "ed-1"), claims("sub", fmt.Sprint("user-", i%40), "jti", fmt.Sprint(i)), k.ed)
		toks = append(toks, tok)
		if _, err := f.v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		checkRefs(t, f.v, toks)
	}
	// The same token verified twice concurrently is put twice: the second put
	// replaces the first, and the replaced entry's reference goes.
	last := toks[len(toks)-1]
	key := hashcache.KeyOf(last)
	e, _ := f.v.cache.Get(&key)
	e2, _ := f.v.profiles.newEntry(f.v.profiles.claims(&e))
	f.v.cache.Put(&key, e2, testT0.Add(time.Hour), testT0)
	checkRefs(t, f.v, toks)

	// Past every token's exp, a flood of one new user's tokens sweeps and
	// evicts the lot: one profile is left.
	f.clock.Advance(2 * time.Hour)
	later := claimsAt(f.clock.Now(), "sub", "newcomer")
	var fresh []string
	oldCached := func() bool {
		for _, tok := range toks {
			key := hashcache.KeyOf(tok)
			if _, ok := f.v.cache.Get(&key); ok {
				return true
			}
		}
		return false
	}
	// Until every shard has had a put (a shard never put to keeps its entry).
	for i := 0; oldCached(); i++ {
		if i == 100*size {
			t.Fatal("old entries survive a flood")
		}
		later["jti"] = fmt.Sprint(i)
		tok := signJWS(t, hdr("EdDSA", "ed-1"), later, k.ed)
		fresh = append(fresh, tok)
		if _, err := f.v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	checkRefs(t, f.v, append(toks, fresh...))
	if n := f.v.profiles.len(); n != 1 {
		t.Errorf("%d profiles after the flood, want 1", n)
	}
	// Deleting every entry empties the table.
	for _, tok := range append(toks, fresh...) {
		key := hashcache.KeyOf(tok)
		f.v.cache.Delete(&key)
	}
	if n, m := f.v.cache.Len(), f.v.profiles.len(); n != 0 || m != 0 {
		t.Fatalf("after deleting everything: %d entries, %d profiles", n, m)
	}
}

// After a burst of users has left the cache, the profile table gives its
// room back: a Go map never shrinks on delete, so release copies what is left
// into a smaller map.
func TestProfileTableShrinks(t *testing.T) {
	const n = 50_000
	tab := newProfiles("https://issuer.example", "client")
	heap := func() int64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	exp := NumericDate{Time: testT0.Add(time.Hour), Set: true}
	before := heap()
	entries := make([]entry, n)
	for i := range entries {
		c := &Claims{Issuer: "https://issuer.example", Audience: Audience{"client"}, Expiry: exp,
			Subject: fmt.Sprintf("%064x", i), Email: fmt.Sprintf("user-%08d@example.com", i)}
		e, ok := tab.newEntry(c)
		if !ok {
			t.Fatal("claims not cacheable")
		}
		entries[i] = e
	}
	filled := heap() - before
	for _, e := range entries[1:] {
		tab.release(e)
	}
	kept := entries[0]
	entries = nil // what the cache does with the entries it drops
	if got := tab.len(); got != 1 {
		t.Fatalf("%d profiles left, want 1", got)
	}
	// Without the copy, the table alone would keep about 40 bytes a slot.
	if left := heap() - before; left > n*8 {
		t.Errorf("%d KiB still held after releasing %d profiles (%d KiB when full)", left>>10, n-1, filled>>10)
	}
	runtime.KeepAlive(kept)
	runtime.KeepAlive(tab)
}

// checkRefs: every profile in the table is referenced by exactly refs cached
// entries, and every cached entry's profile is in the table.
func checkRefs(t *testing.T, v *Verifier, toks []string) {
	t.Helper()
	counted := map[*profile]int{}
	for _, tok := range toks {
		key := hashcache.KeyOf(tok)
		if e, ok := v.cache.Get(&key); ok {
			counted[e.p]++
		}
	}
	v.profiles.mu.Lock()
	defer v.profiles.mu.Unlock()
	for key, p := range v.profiles.m {
		if p.key != key || p.refs != counted[p] || p.refs <= 0 {
			t.Fatalf("profile %q: refs %d, %d entries point to it", key, p.refs, counted[p])
		}
	}
	for p := range counted {
		if v.profiles.m[p.key] != p {
			t.Fatalf("cached entry's profile %q is not in the table", p.key)
		}
	}
}

func TestPackDate(t *testing.T) {
	const bound = int64(1) << 40
	for _, d := range []NumericDate{
		{},
		{Time: time.Unix(0, 0).UTC(), Set: true},
		{Time: time.Unix(0, 1).UTC(), Set: true},
		{Time: time.Unix(1_700_000_000, 999_999_999).UTC(), Set: true},
		{Time: time.Unix(1_700_000_000, 127).UTC(), Set: true},
		{Time: time.Unix(1_700_000_000, 128).UTC(), Set: true},
		{Time: time.Unix(bound, 0).UTC(), Set: true},
		{Time: time.Unix(bound+1, 0).UTC(), Set: true}, // the parser's frac*1e9 can round up to 1e9
		{Time: time.Unix(1<<dateSecBits-1, 999_999_999).UTC(), Set: true},
	} {
		w, l, ok := packDate(d)
		if !ok {
			t.Errorf("packDate(%v) refused", d)
			continue
		}
		if got := unpackDate(w, l); got != d {
			t.Errorf("round trip of %#v gave %#v", d, got)
		}
	}
	for _, d := range []NumericDate{
		{Time: time.Unix(1<<dateSecBits, 0).UTC(), Set: true},
		{Time: time.Unix(-1, 0).UTC(), Set: true},
		{Time: time.Unix(1_700_000_000, 0), Set: true}, // Local
		{Time: time.Now(), Set: true},                  // monotonic reading
		{Time: testT0},                                 // not set, yet a time
	} {
		if _, _, ok := packDate(d); ok {
			t.Errorf("packDate(%#v) accepted", d)
		}
	}
}

// TestProfileKeysUnambiguous: random profiles over a tiny alphabet (so that
// different profiles often concatenate to the same bytes, and strings look
// like lengths): equal keys only for equal profiles, and the decoded profile
// gives back the claims.
func TestProfileKeysUnambiguous(t *testing.T) {
	tab := newProfiles("i", "c")
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		const alphabet = "ic\x00\x01\x02"
		b := make([]byte, r.IntN(4))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	list := func() []string {
		n := r.IntN(5) - 1
		if n < 0 {
			return nil
		}
		l := make([]string, n)
		for i := range l {
			l[i] = str()
		}
		return l
	}
	seen := map[string]*Claims{}
	for range 50_000 {
		c := &Claims{Issuer: str(), Subject: str(), AuthorizedParty: str(), Email: str(), Name: str(),
			Username: str(), OrganizationID: str(), Nonce: str(), Audience: list(), Groups: list()}
		key := string(tab.appendKey(nil, c))
		got := tab.claims(&entry{p: tab.decode(key)})
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("decoded\n %#v\nwant %#v", got, c)
		}
		if prev, ok := seen[key]; ok && !reflect.DeepEqual(prev, c) {
			t.Fatalf("key %q shared by\n %#v\nand %#v", key, prev, c)
		}
		seen[key] = c
	}
}

// FuzzCachedClaims: for any payload the parser accepts, the cache entry made
// from it yields exactly the parsed claims (or none is made).
func FuzzCachedClaims(f *testing.F) {
	for _, seed := range []string{
		`{"iss":"i","aud":"c","sub":"s","exp":1700000000.5,"nbf":0,"iat":0.9999999999999999}`,
		`{"iss":"i","aud":["c"],"azp":"c","groups":[],"exp":1099511627776}`,
		`{"aud":["x","c"],"groups":"g","name":"Zoë","sid":"s-1","nonce":"n"}`,
		`{"aud":[],"groups":null,"exp":null}`, `{"events":{}}`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	tab := newProfiles("i", "c")
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := parseClaims(payload)
		if err != nil {
			return
		}
		e, ok := tab.newEntry(c)
		if !ok {
			if c.Events == nil {
				t.Fatalf("parsed claims %#v not cacheable", c)
			}
			return
		}
		defer tab.release(e)
		if got := tab.claims(&e); !reflect.DeepEqual(got, c) {
			t.Fatalf("cached\n %#v\nwant %#v", got, c)
		}
	})
}
