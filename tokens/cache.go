package tokens

import (
	"encoding/binary"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/authgate/authgate/internal/hashcache"
)

// The verified-token cache remembers tokens whose signature has been verified,
// keyed by a SHA-256 of the whole token (the token itself is never kept). A hit
// skips only the signature work: every claim rule runs again on every hit,
// because a cache that skips a check is a vulnerability (Oathkeeper
// GHSA-qvp4-rpmr-xwrr).
//
// It must hold 100,000 live tokens in a small process, and nearly everything
// in a token repeats: each login and refresh mints a new token for the same
// user, differing only in its times, sid and jti. So an entry keeps just what
// differs per token (the times, packed, and the sid) plus a pointer to a
// profile, shared by every cached token of that user, holding the rest. A hit
// builds a fresh Claims from the two.

// entry is what the cache holds per token. The cache stores it by value in
// its maps, so its size is paid for every entry: 56 bytes (the times packed
// into 27 bytes rather than three NumericDates' 96).
type entry struct {
	p   *profile
	sid string
	// exp, nbf, iat in that order, each split by packDate.
	times [3]uint64
	low   [3]uint8
}

// Packed dates. A NumericDate is whole seconds (at most 2^40+1, the parser's
// bound; 41 bits), nanoseconds (30 bits) and whether it was set: 72 bits, a
// byte more than a word. The word holds the seconds and the nanoseconds' high
// 23 bits; the byte their low 7 bits and the set flag.
const (
	dateSecBits = 41
	dateLowBits = 7
	dateSet     = 0x80
)

// packDate splits d exactly, or reports that it cannot: then the token is not
// cached, since a cached token must yield exactly the claims the uncached one
// does.
func packDate(d NumericDate) (word uint64, low uint8, ok bool) {
	if !d.Set {
		return 0, 0, d.Time.IsZero()
	}
	sec, nsec := d.Unix(), d.Nanosecond()
	// The parser makes time.Unix(sec, nsec).UTC(); anything else (a location,
	// a monotonic reading) would not survive the round trip.
	if sec < 0 || sec >= 1<<dateSecBits || d.Time != time.Unix(sec, int64(nsec)).UTC() {
		return 0, 0, false
	}
	return uint64(sec)<<(64-dateSecBits) | uint64(nsec)>>dateLowBits, uint8(nsec)&(1<<dateLowBits-1) | dateSet, true
}

func unpackDate(word uint64, low uint8) NumericDate {
	if low&dateSet == 0 {
		return NumericDate{}
	}
	sec := int64(word >> (64 - dateSecBits))
	nsec := int64(word&(1<<(64-dateSecBits)-1))<<dateLowBits | int64(low&(1<<dateLowBits-1))
	return NumericDate{Time: time.Unix(sec, nsec).UTC(), Set: true}
}

// A profile is what a user's tokens have in common: every claim of Claims but
// the times, sid and events. It is immutable once made and shared by every
// cached entry with the same claims. Its strings are substrings of key, the
// profile's canonical encoding (see appendKey), so the data is stored once,
// and the profile is decoded from its key: equal keys cannot carry different
// claims.
type profile struct {
	key string
	// lists holds the audience (unless audConfigured) then the groups; never
	// nil, so a present but empty groups claim stays non-nil.
	lists []string
	// Scalar field i is key[at[i]:at[i+1]], unless configured says it is the
	// verifier's own value.
	at    [numScalars + 1]uint32
	nAud  uint32
	flags uint8
	// refs counts the cache entries pointing here; guarded by profiles.mu.
	refs int
}

// The scalar claims of a profile, in key order.
const (
	fIssuer = iota
	fSubject
	fAuthorizedParty
	fEmail
	fName
	fUsername
	fOrganizationID
	fNonce
	numScalars
)

// profile.flags
const (
	issConfigured = 1 << iota // Issuer is the configured issuer
	azpConfigured             // AuthorizedParty is the client ID
	audConfigured             // Audience is exactly [client ID]
	audNil
	groupsNil
)

// profiles interns profiles. Each profile is counted once per cache entry
// pointing to it (acquire when an entry is made, release when it leaves the
// cache) and dropped from the table when the count reaches zero, so the table
// never outlives the entries.
//
// The key spells the configured issuer and client ID with a marker rather than
// their bytes, and the profile shares the verifier's copies: a cached token's
// issuer always is the configured one (it was checked before caching), and its
// audience and azp nearly always are the client ID. Issuer, audience and azp
// are about 100 bytes of every profile; with as many users as tokens, they
// would be 10 MiB per 100,000 cached tokens.
type profiles struct {
	issuer, clientID string
	aud              Audience // {clientID}, shared by most profiles

	mu sync.Mutex
	m  map[string]*profile
	// peak is the most profiles m has held since it was made; see release.
	peak int
}

func newProfiles(issuer, clientID string) *profiles {
	return &profiles{issuer: issuer, clientID: clientID, aud: Audience{clientID}, m: make(map[string]*profile)}
}

// newEntry makes the cache entry for c, counting a reference to its profile,
// or reports that c cannot be cached exactly (then nothing is counted).
func (t *profiles) newEntry(c *Claims) (entry, bool) {
	// A copy: a parsed claim may share the memory of the whole payload, which
	// the entry must not keep alive. (The profile's key is built afresh.)
	e := entry{sid: strings.Clone(c.SessionID)}
	for i, d := range [3]NumericDate{c.Expiry, c.NotBefore, c.IssuedAt} {
		var ok bool
		if e.times[i], e.low[i], ok = packDate(d); !ok {
			return entry{}, false
		}
	}
	if c.Events != nil {
		// Never cached: an event token is refused, and Claims has nowhere
		// but the token to keep its events.
		return entry{}, false
	}
	var buf [512]byte
	key := t.appendKey(buf[:0], c)
	if uint64(len(key)) > math.MaxUint32 {
		return entry{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.m[string(key)] // no allocation for the lookup
	if p == nil {
		p = t.decode(string(key))
		t.m[p.key] = p
		t.peak = max(t.peak, len(t.m))
	}
	p.refs++
	e.p = p
	return e, true
}

// release drops the reference a departing cache entry held. It runs under a
// cache shard's lock (as the cache's onEvict), so it only takes t.mu.
func (t *profiles) release(e entry) {
	t.mu.Lock()
	if e.p.refs--; e.p.refs == 0 {
		delete(t.m, e.p.key)
		// After a burst of users has left the cache, the table gives the
		// room they needed back.
		t.m, t.peak = hashcache.Shrink(t.m, t.peak)
	}
	t.mu.Unlock()
}

func (t *profiles) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// claims builds the Claims of e. Audience and Groups are shared with the
// profile: callers must not modify them.
func (t *profiles) claims(e *entry) *Claims {
	p := e.p
	k, at := p.key, &p.at
	iss, azp := t.issuer, t.clientID
	if p.flags&issConfigured == 0 {
		iss = k[at[fIssuer]:at[fIssuer+1]]
	}
	if p.flags&azpConfigured == 0 {
		azp = k[at[fAuthorizedParty]:at[fAuthorizedParty+1]]
	}
	c := &Claims{
		Issuer:          iss,
		Subject:         k[at[fSubject]:at[fSubject+1]],
		Expiry:          unpackDate(e.times[0], e.low[0]),
		NotBefore:       unpackDate(e.times[1], e.low[1]),
		IssuedAt:        unpackDate(e.times[2], e.low[2]),
		SessionID:       e.sid,
		Nonce:           k[at[fNonce]:at[fNonce+1]],
		AuthorizedParty: azp,
		Email:           k[at[fEmail]:at[fEmail+1]],
		Name:            k[at[fName]:at[fName+1]],
		Username:        k[at[fUsername]:at[fUsername+1]],
		OrganizationID:  k[at[fOrganizationID]:at[fOrganizationID+1]],
	}
	// Full slice expressions: an append by a careless caller copies rather
	// than writing into the shared profile.
	n := p.nAud // 0 unless the audience is in lists
	switch {
	case p.flags&audConfigured != 0:
		c.Audience = t.aud
	case p.flags&audNil == 0:
		c.Audience = p.lists[:n:n]
	}
	if p.flags&groupsNil == 0 {
		c.Groups = p.lists[n:len(p.lists):len(p.lists)]
	}
	return c
}

// appendKey appends the canonical encoding of c's profile: a header of
// uvarints, then the bytes of every string in header order, back to back
// (so each string is one substring of the key). In the header:
//
//   - each scalar claim in key order: 0 if it is the configured value (issuer
//     for iss, client ID for azp; no other claim has one), else its length+1;
//   - aud: 0 if absent, 1 if exactly [client ID], else 2+count, then each
//     item's length;
//   - groups: 0 if absent, else 1+count, then each item's length.
//
// The header says where every string starts and ends, so two different
// profiles never share a key; decode is the proof.
func (t *profiles) appendKey(b []byte, c *Claims) []byte {
	scalars := [numScalars]string{
		fIssuer: c.Issuer, fSubject: c.Subject, fAuthorizedParty: c.AuthorizedParty, fEmail: c.Email,
		fName: c.Name, fUsername: c.Username, fOrganizationID: c.OrganizationID, fNonce: c.Nonce,
	}
	issConf := c.Issuer == t.issuer
	azpConf := c.AuthorizedParty == t.clientID
	audConf := len(c.Audience) == 1 && c.Audience[0] == t.clientID
	for i, s := range scalars {
		if (i == fIssuer && issConf) || (i == fAuthorizedParty && azpConf) {
			b = append(b, 0)
		} else {
			b = binary.AppendUvarint(b, uint64(len(s))+1)
		}
	}
	switch {
	case c.Audience == nil:
		b = append(b, 0)
	case audConf:
		b = append(b, 1)
	default:
		b = binary.AppendUvarint(b, uint64(len(c.Audience))+2)
		for _, s := range c.Audience {
			b = binary.AppendUvarint(b, uint64(len(s)))
		}
	}
	if c.Groups == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(c.Groups))+1)
		for _, s := range c.Groups {
			b = binary.AppendUvarint(b, uint64(len(s)))
		}
	}
	for i, s := range scalars {
		if !(i == fIssuer && issConf) && !(i == fAuthorizedParty && azpConf) {
			b = append(b, s...)
		}
	}
	if !audConf {
		for _, s := range c.Audience {
			b = append(b, s...)
		}
	}
	for _, s := range c.Groups {
		b = append(b, s...)
	}
	return b
}

// decode makes the profile whose key is key, as appendKey wrote it.
func (t *profiles) decode(key string) *profile {
	p := &profile{key: key}
	pos := 0
	next := func() uint64 {
		v, n := binary.Uvarint([]byte(key[pos:min(len(key), pos+binary.MaxVarintLen64)]))
		if n <= 0 {
			panic("tokens: corrupt profile key")
		}
		pos += n
		return v
	}
	var lens [numScalars]uint64
	for i := range lens {
		switch v := next(); {
		case v > 0:
			lens[i] = v - 1
		case i == fIssuer:
			p.flags |= issConfigured
		case i == fAuthorizedParty:
			p.flags |= azpConfigured
		default:
			panic("tokens: corrupt profile key")
		}
	}
	var items []uint64 // lengths of the list items stored in the key
	switch v := next(); v {
	case 0:
		p.flags |= audNil
	case 1:
		p.flags |= audConfigured
	default:
		p.nAud = uint32(v - 2)
		for range p.nAud {
			items = append(items, next())
		}
	}
	if v := next(); v == 0 {
		p.flags |= groupsNil
	} else {
		for range v - 1 {
			items = append(items, next())
		}
	}
	for i, n := range lens {
		p.at[i] = uint32(pos)
		pos += int(n)
	}
	p.at[numScalars] = uint32(pos)
	p.lists = make([]string, len(items))
	for i, n := range items {
		p.lists[i] = key[pos : pos+int(n)]
		pos += int(n)
	}
	if pos != len(key) {
		panic("tokens: corrupt profile key")
	}
	return p
}
