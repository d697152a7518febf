package tokens

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"unsafe"

	"filippo.io/bigmod"
)

// rsaKey checks RSASSA-PKCS1-v1_5 signatures (RS256, RS384, RS512) with the
// key's Montgomery modulus computed once, when the key set is loaded.
// crypto/rsa.VerifyPKCS1v15 derives it again on every call — a third of a
// 2048-bit verification here — and its API offers no way to keep it. The
// arithmetic is the one crypto/rsa uses (its bigmod, published as
// filippo.io/bigmod); the check is RFC 8017 §8.2.2's encode-and-compare, which
// parses nothing out of the decrypted block and so leaves no room for the
// signature-forgery parsing flaws of PKCS #1 v1.5 (Bleichenbacher '06).
// FuzzRSAKey holds it to crypto/rsa's answer.
type rsaKey struct {
	n    *bigmod.Modulus
	e    uint
	size int // bytes of the modulus
}

// newRSAKey precomputes pub, or returns nil for a key crypto/rsa would refuse
// (those are then left to crypto/rsa, which refuses them).
func newRSAKey(pub *rsa.PublicKey) *rsaKey {
	// crypto/rsa's checks: an odd modulus of at least 1024 bits and an odd
	// exponent in [3, 2^31-1]. parseJWKS already requires 2048 bits.
	if pub.N == nil || pub.N.Sign() <= 0 || pub.N.Bit(0) == 0 || pub.N.BitLen() < 1024 ||
		pub.E < 3 || pub.E&1 == 0 || pub.E > 1<<31-1 {
		return nil
	}
	n, err := bigmod.NewModulus(pub.N.Bytes())
	if err != nil {
		return nil
	}
	return &rsaKey{n: n, e: uint(pub.E), size: pub.Size()}
}

// DigestInfo prefixes of RFC 8017 §9.2 note 1.
var digestInfo = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// verify reports whether sig is k's PKCS #1 v1.5 signature of message under
// hash.
func (k *rsaKey) verify(hash crypto.Hash, message string, sig []byte) bool {
	prefix, ok := digestInfo[hash]
	if !ok || len(sig) != k.size || k.size < len(prefix)+hash.Size()+11 {
		return false
	}
	var sum [sha512.Size]byte
	digest := digestOf(sum[:0], hash, message)
	// s must be below n (SetBytes refuses it otherwise): m = s^e mod n.
	s, err := bigmod.NewNat().SetBytes(sig, k.n)
	if err != nil {
		return false
	}
	em := bigmod.NewNat().ExpShortVarTime(s, k.e, k.n).Bytes(k.n)
	// EM = 0x00 || 0x01 || PS (0xff…, at least 8) || 0x00 || DigestInfo || H,
	// compared part by part with what was decrypted: the same comparison as
	// building EM whole, without a buffer for it.
	t := k.size - len(prefix) - len(digest)
	if len(em) != k.size || em[0] != 0x00 || em[1] != 0x01 || em[t-1] != 0x00 {
		return false
	}
	for _, b := range em[2 : t-1] {
		if b != 0xff {
			return false
		}
	}
	return bytes.Equal(em[t:t+len(prefix)], prefix) && bytes.Equal(em[t+len(prefix):], digest)
}

// digestOf appends hash(message) to dst. The message is hashed where it lies:
// the hash functions only read their input, so viewing the string's bytes
// (as hashcache.KeyOf does) saves copying the token.
func digestOf(dst []byte, hash crypto.Hash, message string) []byte {
	m := unsafe.Slice(unsafe.StringData(message), len(message))
	switch hash {
	case crypto.SHA256:
		d := sha256.Sum256(m)
		return append(dst, d[:]...)
	case crypto.SHA384:
		d := sha512.Sum384(m)
		return append(dst, d[:]...)
	case crypto.SHA512:
		d := sha512.Sum512(m)
		return append(dst, d[:]...)
	}
	panic("tokens: digestOf: " + hash.String()) // verify admits only the hashes of digestInfo
}

// rsaHash is the hash of an RS algorithm, or 0 for any other.
func rsaHash(alg string) crypto.Hash {
	switch alg {
	case "RS256":
		return crypto.SHA256
	case "RS384":
		return crypto.SHA384
	case "RS512":
		return crypto.SHA512
	}
	return 0
}
