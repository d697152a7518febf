package devprovider

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
)

// signingKey is one signing key. In HS256 mode it is the client secret and
// has no kid, as Authentik omits kid when it signs with the client secret.
type signingKey struct {
	alg  string
	kid  string
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	hmac []byte
}

func newSigningKey(alg, secret string) (*signingKey, error) {
	k := &signingKey{alg: alg}
	var pub any
	switch alg {
	case "RS256":
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		k.rsa, pub = priv, &priv.PublicKey
	case "ES256":
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		k.ec, pub = priv, &priv.PublicKey
	case "HS256":
		k.hmac = []byte(secret)
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported alg %q", alg)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	k.kid = hex.EncodeToString(sum[:16]) // 32 hex digits, like Authentik's kids
	return k, nil
}

// publicJWK is the key's JWKS entry, nil for HMAC keys.
func (k *signingKey) publicJWK() map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	switch {
	case k.rsa != nil:
		return map[string]any{
			"kty": "RSA", "alg": k.alg, "use": "sig", "kid": k.kid,
			"n": b64(k.rsa.N.Bytes()),
			"e": b64(big.NewInt(int64(k.rsa.E)).Bytes()),
		}
	case k.ec != nil:
		pk, err := k.ec.PublicKey.ECDH()
		if err != nil {
			return nil
		}
		raw := pk.Bytes() // 0x04 || X || Y
		return map[string]any{
			"kty": "EC", "crv": "P-256", "alg": k.alg, "use": "sig", "kid": k.kid,
			"x": b64(raw[1:33]), "y": b64(raw[33:65]),
		}
	}
	return nil
}

func hashFor(alg string) (crypto.Hash, func() hash.Hash, bool) {
	switch alg[len(alg)-3:] {
	case "256":
		return crypto.SHA256, sha256.New, true
	case "384":
		return crypto.SHA384, sha512.New384, true
	case "512":
		return crypto.SHA512, sha512.New, true
	}
	return 0, nil, false
}

// signFor signs input for a token whose header says alg:
//   - "none": empty signature;
//   - HS256/384/512: HMAC keyed with the client secret (whatever the key);
//   - RS*/PS* with an RSA key, ES256 with a P-256 key: that algorithm;
//   - anything else: the key's own algorithm (the header then lies, which is
//     what alg-confusion tests want).
func (k *signingKey) signFor(alg, secret string, input []byte) ([]byte, error) {
	if alg == "none" {
		return nil, nil
	}
	if len(alg) == 5 {
		if h, newHash, ok := hashFor(alg); ok {
			switch {
			case strings.HasPrefix(alg, "HS"):
				m := hmac.New(newHash, []byte(secret))
				m.Write(input)
				return m.Sum(nil), nil
			case strings.HasPrefix(alg, "RS") && k.rsa != nil:
				return rsa.SignPKCS1v15(rand.Reader, k.rsa, h, digest(newHash, input))
			case strings.HasPrefix(alg, "PS") && k.rsa != nil:
				return rsa.SignPSS(rand.Reader, k.rsa, h, digest(newHash, input),
					&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			}
		}
	}
	return k.signNative(input)
}

func digest(newHash func() hash.Hash, input []byte) []byte {
	h := newHash()
	h.Write(input)
	return h.Sum(nil)
}

func (k *signingKey) signNative(input []byte) ([]byte, error) {
	switch {
	case k.rsa != nil:
		return rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, digest(sha256.New, input))
	case k.ec != nil:
		r, s, err := ecdsa.Sign(rand.Reader, k.ec, digest(sha256.New, input))
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	default:
		m := hmac.New(sha256.New, k.hmac)
		m.Write(input)
		return m.Sum(nil), nil
	}
}

func (k *signingKey) verifyNative(input, sig []byte) bool {
	switch {
	case k.rsa != nil:
		return rsa.VerifyPKCS1v15(&k.rsa.PublicKey, crypto.SHA256, digest(sha256.New, input), sig) == nil
	case k.ec != nil:
		if len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(&k.ec.PublicKey, digest(sha256.New, input), r, s)
	default:
		m := hmac.New(sha256.New, k.hmac)
		m.Write(input)
		return subtle.ConstantTimeCompare(m.Sum(nil), sig) == 1
	}
}

// encodeJWS builds a compact JWS. header must contain "alg".
func encodeJWS(k *signingKey, secret string, header, claims map[string]any) (string, error) {
	alg, _ := header["alg"].(string)
	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("claims: %w", err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64(hb) + "." + b64(cb)
	sig, err := k.signFor(alg, secret, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// decodeJWS verifies a compact JWS made by one of keys (with its own
// algorithm and kid) and returns its claims. It is only used for tokens the
// provider itself issued (id_token_hint).
func decodeJWS(tok string, keys []*signingKey) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(tok) > 16<<10 {
		return nil, errors.New("not a compact JWS")
	}
	dec := base64.RawURLEncoding.DecodeString
	hb, err1 := dec(parts[0])
	cb, err2 := dec(parts[1])
	sig, err3 := dec(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, errors.New("bad base64url")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		return nil, errors.New("bad header")
	}
	input := []byte(parts[0] + "." + parts[1])
	ok := false
	for _, k := range keys {
		if k.alg == header.Alg && k.kid == header.Kid && k.verifyNative(input, sig) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, errors.New("signature does not verify")
	}
	claims := map[string]any{}
	if err := json.Unmarshal(cb, &claims); err != nil {
		return nil, errors.New("bad claims")
	}
	return claims, nil
}
