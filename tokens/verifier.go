package tokens

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/authgate/authgate/internal/hashcache"
)

// DefaultAlgorithms are the asymmetric algorithms accepted when none are configured.
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Config is what a token must satisfy.
type Config struct {
	// Issuer must equal "iss" exactly (Authentik keeps a trailing slash; so must this).
	Issuer string
	// ClientID must be contained in "aud".
	ClientID string
	// Algorithms allowed in the JOSE header; default DefaultAlgorithms.
	Algorithms []string
	// HS256Secret, when set, additionally allows HS256 keyed with this secret
	// (Authentik signs with the client secret when a provider has no signing key).
	// It is never used for any other algorithm and never comes from the JWKS.
	HS256Secret []byte
	// Leeway for exp/nbf/iat; capped at 60 s.
	Leeway time.Duration
	// MaxTokenBytes rejects larger tokens before any decoding (default 16 KiB).
	MaxTokenBytes int
	// CacheEntries bounds the verified-token cache (default 100000); negative
	// disables it so the uncached path can be measured.
	CacheEntries int
	Now          func() time.Time
	// Observe, when set, is told about every Verify: whether the cache
	// answered, how long it took (wall clock) and the error (metrics).
	Observe func(cacheHit bool, elapsed time.Duration, err error)
}

// Verifier checks JWT access tokens (and ID tokens) against a KeySet.
type Verifier struct {
	cfg     Config
	keys    *KeySet
	allowed map[string]bool
	cache   *hashcache.Cache[entry] // nil when disabled
	// profiles holds what the cached entries have in common (see cache.go).
	profiles *profiles
	// systemClock: cfg.Now is time.Now, so a reading taken to time a check
	// can be the check's "now" too (one clock read instead of two).
	systemClock bool
}

// NewVerifier returns a verifier. keys may be nil only when HS256 is the sole algorithm.
func NewVerifier(cfg Config, keys *KeySet) *Verifier {
	if cfg.Leeway > 60*time.Second {
		cfg.Leeway = 60 * time.Second
	}
	if cfg.MaxTokenBytes <= 0 {
		cfg.MaxTokenBytes = 16 << 10
	}
	systemClock := cfg.Now == nil
	if systemClock {
		cfg.Now = time.Now
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	allowed := make(map[string]bool, len(algs)+1)
	for _, a := range algs {
		// HMAC and "none" are never allowed through the list; HS256 only via HS256Secret.
		if strings.HasPrefix(a, "HS") || strings.EqualFold(a, "none") {
			continue
		}
		allowed[a] = true
	}
	if len(cfg.HS256Secret) > 0 {
		allowed["HS256"] = true
	}
	v := &Verifier{cfg: cfg, keys: keys, allowed: allowed, systemClock: systemClock}
	if cfg.CacheEntries >= 0 {
		entries := cfg.CacheEntries
		if entries == 0 {
			entries = 100_000
		}
		v.profiles = newProfiles(cfg.Issuer, cfg.ClientID)
		v.cache = hashcache.New(entries, v.profiles.release)
	}
	return v
}

// Issuer returns the issuer tokens must carry.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// b64url decodes JWS segments strictly: RFC 7515 §2 base64url without padding,
// and a final partial group must have its unused bits zero. The lenient decoder
// maps several spellings onto the same bytes, so one signed token would verify
// under many different strings — each a distinct cache key and token hash.
var b64url = base64.RawURLEncoding.Strict()

// Verify checks raw and returns its claims. The caller must not modify them:
// their Audience and Groups may be shared with the cache. It reads in the
// order of RFC 7519 §7.2 and RFC 8725: bound the size, parse, refuse dangerous
// headers, pick the algorithm from an allow-list, verify exactly one signature
// with a key of the matching type, then check iss, aud, exp, nbf and iat.
// Claims are checked only after the signature, so nothing unauthenticated
// decides anything.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if v.cfg.Observe == nil {
		c, _, err := v.verifyCached(ctx, raw)
		return c, err
	}
	start := time.Now()
	c, hit, err := v.verifyCached(ctx, raw)
	v.cfg.Observe(hit, time.Since(start), err)
	return c, err
}

// verifyCached is Verify; it also reports whether the cache answered.
func (v *Verifier) verifyCached(ctx context.Context, raw string) (*Claims, bool, error) {
	if len(raw) > v.cfg.MaxTokenBytes {
		return nil, false, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(raw))
	}
	if v.cache == nil {
		c, err := v.verify(ctx, raw)
		return c, false, err
	}
	key := hashcache.KeyOf(raw)
	if e, ok := v.cache.Get(&key); ok {
		// The signature was verified when the entry was made; every claim rule
		// still runs, on the same Claims the uncached path checks, so an entry
		// outliving its exp is refused, not trusted.
		c := v.profiles.claims(&e)
		if err := v.checkClaims(c); err != nil {
			return nil, true, err
		}
		return c, true, nil
	}
	c, err := v.verify(ctx, raw)
	if err != nil {
		return nil, false, err
	}
	if e, ok := v.profiles.newEntry(c); ok {
		v.cache.Put(&key, e, c.Expiry.Time, v.cfg.Now())
		// The cached form, not c: c's strings point into the whole
		// payload, which a caller that keeps the claims (the session
		// cache) would keep alive with them.
		return v.profiles.claims(&e), false, nil
	}
	return c, false, nil
}

// Recheck applies every claim rule again to claims this verifier returned
// earlier, for a caller that keeps verified claims (the session cache): the
// signature was checked then, and time, issuer and audience are checked now,
// as on a hit in the verifier's own cache (it counts as one for Observe).
func (v *Verifier) Recheck(c *Claims) error {
	if v.cfg.Observe == nil {
		return v.checkClaims(c)
	}
	start := time.Now()
	now := start
	if !v.systemClock {
		now = v.cfg.Now()
	}
	err := v.checkClaimsAt(c, now)
	v.cfg.Observe(true, time.Since(start), err)
	return err
}

// verify does the full check without the cache.
func (v *Verifier) verify(ctx context.Context, raw string) (*Claims, error) {
	payload, err := v.VerifySignature(ctx, raw)
	if err != nil {
		return nil, err
	}
	claims, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// VerifySignature checks only the JOSE layer (size, headers, algorithm, key,
// signature) and returns the payload. It makes the Verifier a go-oidc KeySet, so
// ID tokens are verified by go-oidc against the same rate-limited keys.
func (v *Verifier) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	if len(raw) > v.cfg.MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(raw))
	}
	// Compact serialization only: exactly two dots, so JSON serialization (with
	// several signatures or unprotected headers) never reaches the parser.
	first := strings.IndexByte(raw, '.')
	last := strings.LastIndexByte(raw, '.')
	if first <= 0 || last == first || last == len(raw)-1 || strings.IndexByte(raw[first+1:last], '.') >= 0 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	hdrB64, payB64, sigB64 := raw[:first], raw[first+1:last], raw[last+1:]

	hdrJSON, err := b64url.DecodeString(hdrB64)
	if err != nil {
		return nil, fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	h, err := readHeader(string(hdrJSON))
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	// RFC 7515 §4.1.11: a "crit" we do not understand must be rejected; we
	// understand none. "b64" (RFC 7797) changes what is signed; refuse it.
	if h.Crit || h.B64 {
		return nil, fmt.Errorf("%w: crit/b64", ErrHeader)
	}
	// RFC 8725 §3.10: keys named or embedded by the token itself (jku, x5u, jwk,
	// x5c) would let the attacker choose the key. They are never fetched or used;
	// a token that carries them is refused outright rather than silently trusted.
	if h.KeyRef {
		return nil, fmt.Errorf("%w: embedded or remote key reference", ErrHeader)
	}
	if !v.allowed[h.Alg] {
		// Covers "none" in every spelling: it is never in the allow-list.
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, truncate(h.Alg, 16))
	}
	sig, err := b64url.DecodeString(sigB64)
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	payload, err := b64url.DecodeString(payB64)
	if err != nil {
		return nil, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	if err := v.verifySignature(ctx, h, raw[:last], sig); err != nil {
		return nil, err
	}
	return payload, nil
}

// verifySignature checks sig over signingInput, the token up to its last dot.
// It stays a string on the RS path, which hashes it in place: copying a 1–3 KiB
// token to bytes was most of what a signature check allocated.
func (v *Verifier) verifySignature(ctx context.Context, h joseHeader, signingInput string, sig []byte) error {
	if h.Alg == "HS256" {
		mac := hmac.New(sha256.New, v.cfg.HS256Secret)
		mac.Write([]byte(signingInput))
		if !hmac.Equal(mac.Sum(nil), sig) {
			return fmt.Errorf("%w: hs256", ErrSignature)
		}
		return nil
	}
	if v.keys == nil {
		return fmt.Errorf("%w: no key set configured", ErrKeySet)
	}
	var buf [2]publicKey
	cands, err := v.keys.candidates(ctx, buf[:0], h.Kid, h.Alg)
	if err != nil {
		return err
	}
	// Several candidates only when the set repeats a kid: a kid-less token
	// is refused when the set holds several keys (OIDC Core §10.1).
	hash := rsaHash(h.Alg)
	// The jwx verifier and the bytes it needs are made once, for the first
	// candidate that is not an RS key.
	var verifier jws.Verifier
	var input []byte
	for _, c := range cands {
		if hash != 0 && c.rsa != nil {
			// RS256/384/512 with the key's precomputed modulus (rsa.go).
			if c.rsa.verify(hash, signingInput, sig) {
				return nil
			}
			continue
		}
		if verifier == nil {
			if verifier, err = jws.NewVerifier(jwa.SignatureAlgorithm(h.Alg)); err != nil {
				return fmt.Errorf("%w: %v", ErrAlgorithm, err)
			}
			input = []byte(signingInput)
		}
		if verifier.Verify(input, sig, c.key) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrSignature, h.Alg)
}

// checkClaims applies the claim rules; it is also run on every cache hit.
func (v *Verifier) checkClaims(c *Claims) error {
	return v.checkClaimsAt(c, v.cfg.Now())
}

func (v *Verifier) checkClaimsAt(c *Claims, now time.Time) error {
	if c.Issuer != v.cfg.Issuer {
		return fmt.Errorf("%w: %q", ErrIssuer, truncate(c.Issuer, 128))
	}
	if !c.Audience.Contains(v.cfg.ClientID) {
		return fmt.Errorf("%w", ErrAudience)
	}
	if c.Subject == "" {
		return fmt.Errorf("%w: missing sub", ErrClaims)
	}
	if len(c.Events) > 0 {
		// A logout token (or any event token) is not an access token.
		return fmt.Errorf("%w: event token", ErrClaims)
	}
	return v.checkTimes(c, now)
}

func (v *Verifier) checkTimes(c *Claims, now time.Time) error {
	if !c.Expiry.Set {
		return fmt.Errorf("%w: missing exp", ErrClaims)
	}
	if !now.Before(c.Expiry.Add(v.cfg.Leeway)) {
		return fmt.Errorf("%w: at %s", ErrExpired, c.Expiry.UTC().Format(time.RFC3339))
	}
	if c.NotBefore.Set && now.Add(v.cfg.Leeway).Before(c.NotBefore.Time) {
		return fmt.Errorf("%w: nbf", ErrNotYetValid)
	}
	if c.IssuedAt.Set && now.Add(v.cfg.Leeway).Before(c.IssuedAt.Time) {
		return fmt.Errorf("%w: iat in the future", ErrNotYetValid)
	}
	return nil
}
