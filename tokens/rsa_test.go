package tokens

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"sync"
	"testing"
)

// rsaTestKeys are made once, when a test first needs them.
var rsaTestKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	var keys []*rsa.PrivateKey
	for _, bits := range []int{2048, 3072} {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		keys = append(keys, k)
	}
	return keys
})

// textbookSign signs an arbitrary encoded block em (RSA without padding), to
// build the malformed signatures a forger would aim for.
func textbookSign(k *rsa.PrivateKey, em []byte) []byte {
	s := new(big.Int).Exp(new(big.Int).SetBytes(em), k.D, k.N)
	return s.FillBytes(make([]byte, k.Size()))
}

// wellFormed is the valid EM of digest under hash, for building variants.
func wellFormed(k *rsa.PrivateKey, hash crypto.Hash, digest []byte) []byte {
	prefix := digestInfo[hash]
	em := make([]byte, k.Size())
	em[1] = 1
	t := len(em) - len(prefix) - len(digest)
	for i := 2; i < t-1; i++ {
		em[i] = 0xff
	}
	copy(em[t:], prefix)
	copy(em[t+len(prefix):], digest)
	return em
}

func stdVerify(k *rsa.PublicKey, hash crypto.Hash, message, sig []byte) bool {
	h := hash.New()
	h.Write(message)
	return rsa.VerifyPKCS1v15(k, hash, h.Sum(nil), sig) == nil
}

// The precomputed verifier gives crypto/rsa's answer on valid signatures
// and on every forgery shape PKCS #1 v1.5 verifiers have fallen for.
func TestRSAKeyAgreesWithCryptoRSA(t *testing.T) {
	msg := []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0")
	for _, k := range rsaTestKeys() {
		rk := newRSAKey(&k.PublicKey)
		if rk == nil {
			t.Fatalf("%d-bit key not precomputed", k.N.BitLen())
		}
		for _, hash := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			h := hash.New()
			h.Write(msg)
			digest := h.Sum(nil)
			good, err := rsa.SignPKCS1v15(rand.Reader, k, hash, digest)
			if err != nil {
				t.Fatal(err)
			}
			variants := map[string][]byte{"valid": good}
			flip := append([]byte(nil), good...)
			flip[len(flip)/2] ^= 0x10
			variants["bit flipped"] = flip
			variants["short"] = good[1:]
			variants["long"] = append([]byte{0}, good...)
			variants["zero"] = make([]byte, k.Size())
			variants["modulus itself"] = k.N.FillBytes(make([]byte, k.Size()))
			variants["above modulus"] = new(big.Int).Add(k.N, big.NewInt(1)).FillBytes(make([]byte, k.Size()))
			valid := wellFormed(k, hash, digest)
			mutate := func(name string, f func(em []byte) []byte) {
				em := f(append([]byte(nil), valid...))
				variants[name] = textbookSign(k, em)
			}
			mutate("block type 2", func(em []byte) []byte { em[1] = 2; return em })
			mutate("short padding, garbage after hash", func(em []byte) []byte {
				// Bleichenbacher '06: 00 01 FF 00 DigestInfo H garbage.
				out := make([]byte, len(em))
				out[1], out[2], out[3] = 1, 0xff, 0
				copy(out[4:], digestInfo[hash])
				copy(out[4+len(digestInfo[hash]):], digest)
				for i := 4 + len(digestInfo[hash]) + len(digest); i < len(out); i++ {
					out[i] = 0x42
				}
				return out
			})
			mutate("padding byte not 0xff", func(em []byte) []byte { em[5] = 0xfe; return em })
			mutate("other hash's DigestInfo", func(em []byte) []byte {
				other := crypto.SHA256
				if hash == crypto.SHA256 {
					other = crypto.SHA512
				}
				p := digestInfo[other]
				t := len(em) - len(digest) - len(digestInfo[hash])
				copy(em[t:], p[:len(digestInfo[hash])])
				return em
			})
			mutate("leading byte not zero", func(em []byte) []byte { em[0] = 0; em[1] = 1; em[2] = 0xfe; return em })
			mutate("separator missing", func(em []byte) []byte {
				t := len(em) - len(digest) - len(digestInfo[hash])
				em[t-1] = 0xff
				return em
			})
			for name, sig := range variants {
				want := stdVerify(&k.PublicKey, hash, msg, sig)
				if got := rk.verify(hash, string(msg), sig); got != want {
					t.Errorf("%d-bit %v %s: precomputed says %v, crypto/rsa %v", k.N.BitLen(), hash, name, got, want)
				}
				if name == "valid" && !want {
					t.Errorf("%d-bit %v: crypto/rsa refuses the valid signature", k.N.BitLen(), hash)
				}
				if name != "valid" && want {
					t.Errorf("%d-bit %v %s: crypto/rsa accepts a forgery", k.N.BitLen(), hash, name)
				}
			}
			// The wrong hash for a valid signature, and another message.
			if rk.verify(crypto.SHA256+crypto.SHA384-hash, string(msg), good) && hash != crypto.SHA384 {
				t.Errorf("%v signature verified under another hash", hash)
			}
			if rk.verify(hash, string(msg)+".", good) {
				t.Errorf("%v signature verified for another message", hash)
			}
		}
	}
}

// Keys crypto/rsa refuses are not precomputed (they stay with crypto/rsa,
// which refuses them).
func TestNewRSAKeyRefuses(t *testing.T) {
	n := rsaTestKeys()[0].N
	for name, pub := range map[string]*rsa.PublicKey{
		"even exponent":   {N: n, E: 65536},
		"exponent 1":      {N: n, E: 1},
		"huge exponent":   {N: n, E: 1 << 31},
		"even modulus":    {N: new(big.Int).Lsh(n, 1), E: 65537},
		"1000-bit":        {N: new(big.Int).Rsh(n, 1048), E: 65537},
		"missing modulus": {E: 65537},
	} {
		if newRSAKey(pub) != nil {
			t.Errorf("%s: precomputed", name)
		}
	}
}

// FuzzRSAKey: for any signature bytes and message, the precomputed verifier
// answers exactly as crypto/rsa.
func FuzzRSAKey(f *testing.F) {
	k := rsaTestKeys()[0]
	rk := newRSAKey(&k.PublicKey)
	msg := []byte("header.payload")
	h := crypto.SHA256.New()
	h.Write(msg)
	good, _ := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h.Sum(nil))
	f.Add(msg, good)
	f.Add(msg, good[:len(good)-1])
	f.Add([]byte("x"), good)
	f.Fuzz(func(t *testing.T, message, sig []byte) {
		if got, want := rk.verify(crypto.SHA256, string(message), sig), stdVerify(&k.PublicKey, crypto.SHA256, message, sig); got != want {
			t.Fatalf("precomputed %v, crypto/rsa %v", got, want)
		}
	})
}

func BenchmarkRSAVerify(b *testing.B) {
	k := rsaTestKeys()[0]
	msg := []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0")
	h := crypto.SHA256.New()
	h.Write(msg)
	sig, _ := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h.Sum(nil))
	b.Run("precomputed", func(b *testing.B) {
		rk := newRSAKey(&k.PublicKey)
		for b.Loop() {
			if !rk.verify(crypto.SHA256, string(msg), sig) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("crypto-rsa", func(b *testing.B) {
		for b.Loop() {
			if !stdVerify(&k.PublicKey, crypto.SHA256, msg, sig) {
				b.Fatal("refused")
			}
		}
	})
}
