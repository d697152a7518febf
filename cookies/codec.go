// Package cookies seals authgate's cookie values (and values it stores server-side)
// and writes cookies so that their deletion always matches their creation.
//
// Sealed value layout, before base64url (RFC 4648 §5, no padding, strict):
//
//	version (1 byte, 0x01) || nonce (12 bytes) || AES-256-GCM(expiry || plaintext) || tag (16 bytes)
//
// expiry is the sealed expiry in Unix milliseconds, big-endian int64. The additional
// data is a fixed label followed by the name passed to Seal/Open, so a value cannot be
// replayed under another name (a refresh-token cookie presented as the session cookie,
// or a sealed server-side record presented as a cookie).
package cookies

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

var (
	// ErrMalformed: the value is not something Seal could have produced (too long, not
	// base64url, too short). Nothing was decrypted.
	ErrMalformed = errors.New("cookies: malformed value")
	// ErrInvalid: well-formed but not authentic under this key and name — tampered,
	// sealed under another secret, or sealed for another name.
	ErrInvalid = errors.New("cookies: invalid or tampered value")
	// ErrExpired: authentic, but past the expiry sealed inside it.
	ErrExpired = errors.New("cookies: expired value")
	// ErrTooLarge is returned by Seal when the sealed value would exceed the codec's
	// length bound (MaxValueLen for cookies).
	ErrTooLarge = errors.New("cookies: sealed value too large")
)

// MaxValueLen bounds an encoded cookie value. Browsers keep about 4096 bytes per cookie
// including name and attributes; Open checks it before any decoding, so an oversized
// value costs nothing.
const MaxValueLen = 3800

// MinSecretLen is the shortest cookie secret NewCodec accepts (DESIGN.md §3).
const MinSecretLen = 32

const (
	version   = 0x01
	nonceSize = 12 // standard GCM nonce
	tagSize   = 16
	expSize   = 8
	overhead  = 1 + nonceSize + expSize + tagSize
	hkdfInfo  = "authgate cookies v1 AES-256-GCM"
	aadLabel  = "authgate sealed value v1\x00"
)

var b64 = base64.RawURLEncoding.Strict() // strict: one value has exactly one encoding

// Pre-built so that rejecting cheap garbage allocates nothing.
var (
	errTooLong  = fmt.Errorf("%w: longer than the length bound", ErrMalformed)
	errTooShort = fmt.Errorf("%w: shorter than a sealed value", ErrMalformed)
	errEncoding = fmt.Errorf("%w: not base64url", ErrMalformed)
	errVersion  = fmt.Errorf("%w: unknown version", ErrInvalid)
	errAuth     = fmt.Errorf("%w: authentication failed", ErrInvalid)
)

// Codec seals values with AES-256-GCM under a key derived with HKDF-SHA256 from the
// cookie secret. It is safe for concurrent use.
//
// Nonces are random (96 bits); keep well below 2^32 seals per secret, i.e. rotate the
// secret long before then.
type Codec struct {
	aead   cipher.AEAD
	now    func() time.Time
	maxLen int
	rand   io.Reader // nonce source; crypto/rand except in tests
}

// NewCodec derives the sealing key from secret, which must be at least MinSecretLen
// bytes (a passphrase-sized secret would make every cookie brute-forceable offline).
// now is the clock for expiry checks; nil means time.Now.
func NewCodec(secret []byte, now func() time.Time) (*Codec, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("cookies: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("cookies: deriving key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cookies: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("cookies: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Codec{aead: aead, now: now, maxLen: MaxValueLen, rand: rand.Reader}, nil
}

// WithMaxLen returns a codec with the same key and clock whose Seal and Open use n
// instead of MaxValueLen as the bound on the encoded value. Use it for values stored
// server-side (e.g. a token set under an exchange code), which do not have to fit in a
// browser cookie. Use a distinct name for each kind of value ("store/exchange"), never
// a cookie's name.
func (c *Codec) WithMaxLen(n int) *Codec {
	cc := *c
	cc.maxLen = n
	return &cc
}

// Seal encrypts plaintext for the cookie (or record) called name, valid until
// expires. name is bound as additional data: pass the cookie's base name (without
// "__Host-"/"__Secure-"), so a deployment that changes Secure keeps its sessions.
// The result is base64url without padding, safe as a cookie value.
func (c *Codec) Seal(name string, plaintext []byte, expires time.Time) (string, error) {
	if expires.IsZero() {
		return "", errors.New("cookies: Seal needs an expiry")
	}
	n := overhead + len(plaintext)
	if b64.EncodedLen(n) > c.maxLen {
		return "", fmt.Errorf("%w: %d bytes encoded, bound %d", ErrTooLarge, b64.EncodedLen(n), c.maxLen)
	}
	buf := make([]byte, 1+nonceSize, n)
	buf[0] = version
	if _, err := io.ReadFull(c.rand, buf[1:]); err != nil {
		return "", fmt.Errorf("cookies: nonce: %w", err)
	}
	msg := make([]byte, expSize, expSize+len(plaintext))
	binary.BigEndian.PutUint64(msg, uint64(expires.UnixMilli()))
	msg = append(msg, plaintext...)
	buf = c.aead.Seal(buf, buf[1:1+nonceSize], msg, aad(name))
	return b64.EncodeToString(buf), nil
}

// Open reverses Seal. The order is the cheap-first order that keeps garbage cheap and
// reveals nothing unauthenticated: length bound (before any decoding or allocation),
// base64url decoding, minimum length, authentication (version, key, name), and only
// then the sealed expiry. Errors wrap ErrMalformed, ErrInvalid or ErrExpired.
func (c *Codec) Open(name, value string) ([]byte, error) {
	plain, _, err := c.OpenExpiry(name, value)
	return plain, err
}

// OpenExpiry is Open that also returns the expiry sealed in the value, for a
// caller that keeps what it opened and must stop trusting it at that time
// (Expired).
func (c *Codec) OpenExpiry(name, value string) ([]byte, time.Time, error) {
	if len(value) > c.maxLen {
		return nil, time.Time{}, errTooLong
	}
	if b64.DecodedLen(len(value)) < overhead {
		return nil, time.Time{}, errTooShort
	}
	// The strict decoder refuses every byte outside the alphabet except '\r'
	// and '\n', which encoding/base64 skips even in strict mode: "v" and "v\n"
	// would both open, and one sealed value must have exactly one accepted
	// spelling. Two byte searches cost less than a check of every byte.
	if strings.IndexByte(value, '\r') >= 0 || strings.IndexByte(value, '\n') >= 0 {
		return nil, time.Time{}, errEncoding
	}
	raw, err := b64.DecodeString(value)
	if err != nil {
		return nil, time.Time{}, errEncoding
	}
	if len(raw) < overhead { // DecodedLen is an upper bound
		return nil, time.Time{}, errTooShort
	}
	if raw[0] != version {
		return nil, time.Time{}, errVersion
	}
	nonce, ct := raw[1:1+nonceSize], raw[1+nonceSize:]
	msg, err := c.aead.Open(ct[:0], nonce, ct, aad(name))
	if err != nil {
		return nil, time.Time{}, errAuth
	}
	exp := time.UnixMilli(int64(binary.BigEndian.Uint64(msg[:expSize])))
	if c.Expired(exp) {
		return nil, time.Time{}, fmt.Errorf("%w: expired at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	return msg[expSize:], exp, nil
}

// Expired reports whether a value sealed to expire at exp has expired by the
// codec's clock.
func (c *Codec) Expired(exp time.Time) bool { return !c.now().Before(exp) }

// Now is the codec's clock.
func (c *Codec) Now() time.Time { return c.now() }

func aad(name string) []byte {
	b := make([]byte, 0, len(aadLabel)+len(name))
	return append(append(b, aadLabel...), name...)
}
