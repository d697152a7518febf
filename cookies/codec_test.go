package cookies

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	t0         = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestCodec(t testing.TB, secret []byte) (*Codec, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	c, err := NewCodec(secret, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

func TestRoundTrip(t *testing.T) {
	c, _ := newTestCodec(t, testSecret)
	for _, pt := range [][]byte{nil, {}, []byte("x"), []byte("session payload"), bytes.Repeat([]byte{0}, 1000)} {
		v, err := c.Seal("session", pt, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(v); i++ {
			if ch := v[i]; !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				t.Fatalf("sealed value has byte %q, not base64url", ch)
			}
		}
		got, err := c.Open("session", v)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("got %q, want %q", got, pt)
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	c, _ := newTestCodec(t, testSecret)
	a, _ := c.Seal("n", []byte("same"), t0.Add(time.Hour))
	b, _ := c.Seal("n", []byte("same"), t0.Add(time.Hour))
	if a == b {
		t.Fatal("two seals of the same plaintext are equal: nonce reuse")
	}
}

// Flipping any bit of any byte — version, nonce, ciphertext, tag — must fail
// authentication.
func TestTamperEveryByte(t *testing.T) {
	c, _ := newTestCodec(t, testSecret)
	v, err := c.Seal("session", []byte("payload"), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b64.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(raw)
			bad[i] ^= mask
			_, err := c.Open("session", b64.EncodeToString(bad))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("byte %d ^ %#x: err = %v, want ErrInvalid", i, mask, err)
			}
		}
	}
	// Truncation and extension are tampering too (or malformed, if too short).
	for _, bad := range [][]byte{raw[:len(raw)-1], append(bytes.Clone(raw), 0)} {
		if _, err := c.Open("session", b64.EncodeToString(bad)); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("len %d: err = %v", len(bad), err)
		}
	}
}

// Every other spelling of the encoded string fails too (strict base64 rules out the
// alternative encodings of the final character that a lenient decoder would accept).
func TestTamperEveryCharacter(t *testing.T) {
	c, _ := newTestCodec(t, testSecret)
	v, _ := c.Seal("session", []byte("payload"), t0.Add(time.Hour))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(v); i++ {
		for _, ch := range []byte(alphabet) {
			if ch == v[i] {
				continue
			}
			bad := v[:i] + string(ch) + v[i+1:]
			if _, err := c.Open("session", bad); err == nil {
				t.Fatalf("position %d -> %q opened", i, ch)
			}
		}
	}
}

func TestNameIsBound(t *testing.T) {
	c, _ := newTestCodec(t, testSecret)
	v, _ := c.Seal("refresh", []byte("token"), t0.Add(time.Hour))
	for _, other := range []string{"session", "refresh ", "Refresh", "", "refres"} {
		if _, err := c.Open(other, v); !errors.Is(err, ErrInvalid) {
			t.Errorf("sealed for %q, opened as %q: err = %v", "refresh", other, err)
		}
	}
	// The name and the label cannot be confused by shifting bytes between them.
	v, _ = c.Seal("", []byte("x"), t0.Add(time.Hour))
	if _, err := c.Open("\x00", v); !errors.Is(err, ErrInvalid) {
		t.Errorf("err = %v", err)
	}
}

func TestExpiry(t *testing.T) {
	c, clk := newTestCodec(t, testSecret)
	v, _ := c.Seal("session", []byte("x"), t0.Add(time.Minute))
	clk.t = t0.Add(time.Minute - time.Millisecond)
	if _, err := c.Open("session", v); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	clk.t = t0.Add(time.Minute)
	if _, err := c.Open("session", v); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: err = %v, want ErrExpired", err)
	}
	clk.t = t0.Add(time.Hour)
	if _, err := c.Open("session", v); !errors.Is(err, ErrExpired) {
		t.Fatalf("after expiry: err = %v", err)
	}
	// Expiry is checked only after authentication: a tampered expired value is
	// ErrInvalid, so the error never tells an attacker anything about the contents.
	raw, _ := b64.DecodeString(v)
	raw[len(raw)-1] ^= 1
	if _, err := c.Open("session", b64.EncodeToString(raw)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tampered expired value: err = %v, want ErrInvalid", err)
	}
	if _, err := c.Seal("session", []byte("x"), time.Time{}); err == nil {
		t.Fatal("Seal without expiry accepted")
	}
}

func TestWrongSecret(t *testing.T) {
	c1, _ := newTestCodec(t, testSecret)
	other := bytes.Clone(testSecret)
	other[31] ^= 1
	c2, _ := newTestCodec(t, other)
	v, _ := c1.Seal("session", []byte("x"), t0.Add(time.Hour))
	if _, err := c2.Open("session", v); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func TestShortSecretRejected(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31} {
		if _, err := NewCodec(make([]byte, n), nil); err == nil {
			t.Errorf("%d-byte secret accepted", n)
		}
	}
	if _, err := NewCodec(make([]byte, 32), nil); err != nil {
		t.Errorf("32-byte secret: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	c, _ := newTestCodec(t, testSecret)
	for _, v := range []string{
		"",
		"x",
		"not base64!",
		strings.Repeat("A", 10),                  // too short for version+nonce+tag
		strings.Repeat("A", b64.EncodedLen(36)),  // one byte short of the minimum
		strings.Repeat("*", 100),                 // not the alphabet
		strings.Repeat("A", 100) + "=",           // padding is not RawURL
		strings.Repeat("A", 99) + "+",            // standard alphabet, not URL
		strings.Repeat("A", 101),                 // impossible length (4n+1)
		strings.Repeat("A", 60) + " " + "AAAA",   // embedded space
		strings.Repeat("A", 60) + "\n" + "AAAA",  // embedded newline (the stdlib decoder skips these)
		strings.Repeat("A", 60) + "\r" + "AAAAA", // embedded CR
		strings.Repeat("A", 43) + "B",            // non-canonical final character (strict)
	} {
		if _, err := c.Open("session", v); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%q) err = %v, want ErrMalformed", v, err)
		}
	}
	// A valid value with a line break inserted must not open: the stdlib decoder
	// ignores '\r' and '\n', which would give one sealed value several spellings.
	v, _ := c.Seal("session", []byte("x"), t0.Add(time.Hour))
	for _, bad := range []string{v + "\n", v[:10] + "\r\n" + v[10:], "\n" + v} {
		if _, err := c.Open("session", bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Open(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
	// The ones that cannot be a sealed value at all must be ErrMalformed specifically.
	for _, v := range []string{"", "x", "not base64!", strings.Repeat("A", 10), strings.Repeat("*", 100)} {
		if _, err := c.Open("session", v); !errors.Is(err, ErrMalformed) {
			t.Errorf("Open(%q) err = %v, want ErrMalformed", v, err)
		}
	}
}

func TestOversizeRejectedBeforeDecoding(t *testing.T) {
	c, _ := newTestCodec(t, testSecret)
	huge := strings.Repeat("A", 10<<20)
	if _, err := c.Open("session", huge); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.Open("session", strings.Repeat("A", MaxValueLen+1)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("MaxValueLen+1: err = %v", err)
	}
	allocs := testing.AllocsPerRun(10, func() { _, _ = c.Open("session", huge) })
	if allocs != 0 {
		t.Fatalf("oversize Open allocated %v times", allocs)
	}
	// Garbage that is too short is rejected before decoding as well.
	if allocs := testing.AllocsPerRun(10, func() { _, _ = c.Open("session", "AAAA") }); allocs != 0 {
		t.Fatalf("short Open allocated %v times", allocs)
	}
}

func TestSealBound(t *testing.T) {
	c, _ := newTestCodec(t, testSecret)
	// The largest plaintext that fits encodes to at most MaxValueLen and opens.
	maxPT := MaxValueLen*3/4 - overhead
	v, err := c.Seal("s", make([]byte, maxPT), t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("max plaintext: %v", err)
	}
	if len(v) > MaxValueLen {
		t.Fatalf("len %d > MaxValueLen", len(v))
	}
	if _, err := c.Open("s", v); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Seal("s", make([]byte, maxPT+1), t0.Add(time.Hour)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

// Server-side values: same API, larger bound, any name.
func TestWithMaxLen(t *testing.T) {
	c, _ := newTestCodec(t, testSecret)
	big := c.WithMaxLen(64 << 10)
	pt := bytes.Repeat([]byte("t"), 20000)
	v, err := big.Seal("store/exchange", pt, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got, err := big.Open("store/exchange", v)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open: %v", err)
	}
	if _, err := c.Open("store/exchange", v); !errors.Is(err, ErrMalformed) {
		t.Fatalf("cookie-bounded codec opened a %d-byte value: %v", len(v), err)
	}
	if _, err := c.Seal("store/exchange", pt, t0.Add(time.Minute)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}
