package tokens

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"golang.org/x/sync/singleflight"
)

// KeySet holds the provider's public signing keys, fetched from its jwks_uri
// (over the internal URL). It adds what go-oidc's RemoteKeySet lacks: a minimum
// interval between refetches, so a flood of tokens with unknown "kid"s cannot turn
// authgate into an amplifier against the provider, and it keeps serving the last
// good set when the provider is unreachable.
type KeySet struct {
	url         string
	client      *http.Client
	minInterval time.Duration
	maxBytes    int64
	now         func() time.Time

	flight singleflight.Group

	mu        sync.RWMutex
	keys      []publicKey
	loaded    bool
	lastTry   time.Time
	lastError error
	onFetch   func(err error)
}

// KeySetOptions tunes a KeySet; zero values pick the defaults.
type KeySetOptions struct {
	Client *http.Client
	// MinRefetchInterval bounds refetches triggered by unknown kids (default 12s,
	// i.e. the seed's "5 requests a minute").
	MinRefetchInterval time.Duration
	// MaxBytes bounds the JWKS document (default 1 MiB).
	MaxBytes int64
	Now      func() time.Time
	// OnFetch, when set, observes every fetch (for metrics).
	OnFetch func(err error)
}

type publicKey struct {
	kid string
	alg string // "" when the JWK names none
	key crypto.PublicKey
	rsa *rsaKey // an RSA key's precomputed modulus (nil for other keys)
}

// NewKeySet returns a key set for jwksURL. It does not fetch; call Refresh at
// start-up (readiness) or let the first verification fetch lazily.
func NewKeySet(jwksURL string, opts KeySetOptions) *KeySet {
	ks := &KeySet{
		url:         jwksURL,
		client:      opts.Client,
		minInterval: opts.MinRefetchInterval,
		maxBytes:    opts.MaxBytes,
		now:         opts.Now,
		onFetch:     opts.OnFetch,
	}
	if ks.client == nil {
		ks.client = &http.Client{Timeout: 10 * time.Second}
	}
	if ks.minInterval <= 0 {
		ks.minInterval = 12 * time.Second
	}
	if ks.maxBytes <= 0 {
		ks.maxBytes = 1 << 20
	}
	if ks.now == nil {
		ks.now = time.Now
	}
	return ks
}

// Loaded reports whether a key set has been fetched successfully at least once.
func (k *KeySet) Loaded() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.loaded
}

// Refresh fetches the key set now, unless another caller is already doing so
// (then it waits for that fetch). It is not rate limited: use it at start-up.
func (k *KeySet) Refresh(ctx context.Context) error {
	_, err, _ := k.flight.Do("fetch", func() (any, error) {
		return nil, k.fetch(ctx)
	})
	return err
}

// candidates returns the keys that may have signed a token with this kid/alg,
// appended to dst (a caller's small array keeps the usual single key off the
// heap). On a miss it refetches at most once per minInterval; concurrent
// misses share one in-flight fetch.
func (k *KeySet) candidates(ctx context.Context, dst []publicKey, kid, alg string) ([]publicKey, error) {
	// OIDC Core §10.1: with several keys in the set the kid is required, and
	// DESIGN §4: the kid must match a key. Without it the choice would be
	// a guess, and guessing means one signature check per published key for
	// every kid-less token an attacker sends.
	if err := k.ambiguous(kid); err != nil {
		return nil, err
	}
	if keys := k.match(dst, kid, alg); len(keys) > 0 {
		return keys, nil
	}
	err := k.refetch(ctx)
	if amb := k.ambiguous(kid); amb != nil {
		return nil, amb
	}
	if keys := k.match(dst, kid, alg); len(keys) > 0 {
		return keys, nil
	}
	if !k.Loaded() {
		return nil, fmt.Errorf("%w: %v", ErrKeySet, err)
	}
	return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, truncate(kid, 64))
}

// refetch is the fetch behind a key miss, at most once per minInterval — also
// before the first successful fetch, so tokens arriving while the provider is
// down are not each turned into a request to it. The interval is checked inside
// the single flight: a caller that missed just before another's fetch finished
// either joins that fetch or finds it too recent, and never starts a second one.
// When rate limited it returns the last fetch's error.
func (k *KeySet) refetch(ctx context.Context) error {
	_, err, _ := k.flight.Do("refetch", func() (any, error) {
		k.mu.RLock()
		last, lastErr := k.lastTry, k.lastError
		k.mu.RUnlock()
		if !last.IsZero() && k.now().Sub(last) < k.minInterval {
			return nil, lastErr
		}
		return nil, k.Refresh(ctx)
	})
	return err
}

// ambiguous refuses a token without a kid when the set holds several keys.
func (k *KeySet) ambiguous(kid string) error {
	k.mu.RLock()
	n := len(k.keys)
	k.mu.RUnlock()
	if kid == "" && n > 1 {
		return fmt.Errorf("%w: no kid, and the key set holds %d keys", ErrUnknownKey, n)
	}
	return nil
}

func (k *KeySet) match(dst []publicKey, kid, alg string) []publicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := dst[:0]
	for _, pk := range k.keys {
		if kid != "" && pk.kid != kid {
			continue
		}
		// RFC 7517 §4.4: a JWK that names an "alg" is for that algorithm only.
		if pk.alg != "" && pk.alg != alg {
			continue
		}
		if !keyFitsAlg(pk.key, alg) {
			continue
		}
		out = append(out, pk)
	}
	return out
}

func (k *KeySet) fetch(ctx context.Context) error {
	keys, err := k.download(ctx)
	if k.onFetch != nil {
		k.onFetch(err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	// The interval runs from the end of the fetch: a refetch arriving while this
	// one is in flight joins it (Refresh's single flight) instead of being refused.
	k.lastTry = k.now()
	k.lastError = err
	if err != nil {
		// Keep the last good set: a provider outage must not log everyone out.
		return err
	}
	k.keys = keys
	k.loaded = true
	return nil
}

func (k *KeySet) download(ctx context.Context) ([]publicKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, k.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read jwks: %w", err)
	}
	if int64(len(body)) > k.maxBytes {
		return nil, fmt.Errorf("read jwks: larger than %d bytes", k.maxBytes)
	}
	return parseJWKS(body)
}

// parseJWKS keeps only public signature keys. Symmetric ("oct") keys are dropped:
// a JWKS is public, so a secret in it is no secret, and accepting one would let
// anyone mint tokens (RFC 8725 §3.1). Keys are parsed one by one so that a key
// authgate cannot read (a newer key type such as "AKP", a malformed entry) is
// skipped instead of taking the provider's usable keys down with it.
func parseJWKS(body []byte) ([]publicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New("parse jwks: no \"keys\" list")
	}
	var keys []publicKey
	for _, raw := range set.Keys {
		key, err := jwk.ParseKey(raw)
		if err != nil {
			continue
		}
		if use := key.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
			continue
		}
		var raw any
		if err := key.Raw(&raw); err != nil {
			continue
		}
		var pub crypto.PublicKey
		var rk *rsaKey
		switch r := raw.(type) {
		case *rsa.PublicKey:
			if r.N.BitLen() < 2048 {
				continue
			}
			pub, rk = r, newRSAKey(r)
		case *ecdsa.PublicKey:
			pub = r
		case ed25519.PublicKey:
			pub = r
		default:
			// Private keys published by mistake, oct keys, unknown types.
			continue
		}
		alg := ""
		if a := key.Algorithm(); a != nil {
			alg = a.String()
		}
		keys = append(keys, publicKey{kid: key.KeyID(), alg: alg, key: pub, rsa: rk})
	}
	// An empty list is a valid (if useless) set: Authentik serves one for
	// providers that sign with the client secret (HS256).
	if len(keys) == 0 && len(set.Keys) > 0 {
		return nil, errors.New("parse jwks: no usable public signing key")
	}
	return keys, nil
}

// keyFitsAlg enforces the algorithm/key-type pairing of RFC 7518 §3.1, so an
// RSA key can never be used as an HMAC secret or an EC key with the wrong curve.
func keyFitsAlg(key crypto.PublicKey, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
