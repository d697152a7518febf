package cookies

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Binding is what authgate seals into the session cookies next to the token:
// which login the token belongs to. Revocation needs it because the token
// alone does not always say: Ory Hydra's access tokens carry no "sid", so a
// back-channel logout naming a provider session could not otherwise be matched
// to the cookies of that session, and a refreshed access token is younger than
// the login it continues.
//
// The binding is authenticated with the token (one AEAD seal), so a client
// cannot strip it to escape a revocation or move a token to another binding.
type Binding struct {
	// Session is authgate's own id for this login (random, set at login). A
	// local logout revokes it, ending every copy of the cookies at once without
	// touching the provider session.
	Session string `json:"l,omitempty"`
	// ProviderSession is the provider's session id ("sid" of the ID token),
	// which back-channel logout tokens name. Empty when the provider sends none.
	ProviderSession string `json:"sid,omitempty"`
	// Subject is the user ("sub").
	Subject string `json:"sub,omitempty"`
	// LoginAt is when the provider issued the login's first access token (its
	// "iat", the provider's clock, Unix seconds): a back-channel logout of the
	// whole subject at T ends the session when LoginAt < T, even after refreshes.
	LoginAt int64 `json:"at,omitempty"`
}

// IsZero reports whether the binding says nothing (a value sealed without one).
func (b Binding) IsZero() bool { return b == Binding{} }

// LoginTime returns LoginAt as a time (zero when unknown).
func (b Binding) LoginTime() time.Time {
	if b.LoginAt == 0 {
		return time.Time{}
	}
	return time.Unix(b.LoginAt, 0)
}

// bindingSep separates the value from its binding inside the sealed plaintext.
// Tokens (JWS compact serialisation, opaque refresh tokens) never contain NUL.
const bindingSep = 0x00

// SealBound seals value for cookie s together with binding b.
func (j *Jar) SealBound(s Spec, value string, b Binding, expires time.Time) (string, error) {
	if bytes.IndexByte([]byte(value), bindingSep) >= 0 {
		return "", fmt.Errorf("cookies: value for %q contains NUL", s.Name)
	}
	if b.IsZero() {
		return j.Seal(s, value, expires)
	}
	meta, err := json.Marshal(b)
	if err != nil {
		return "", err
	}
	plain := make([]byte, 0, len(value)+1+len(meta))
	plain = append(append(append(plain, value...), bindingSep), meta...)
	return j.Codec.Seal(j.base[s.Name], plain, expires)
}

// OpenBound opens the value of cookie s and its binding (zero when the value
// was sealed without one).
func (j *Jar) OpenBound(s Spec, value string) ([]byte, Binding, error) {
	o, err := j.OpenSealed(s, value)
	return o.Value, o.Binding, err
}

// Opened is a cookie value opened by OpenSealed.
type Opened struct {
	Value   []byte
	Binding Binding
	// Expires is the expiry sealed in the value: whoever keeps Value and
	// Binding for reuse must stop at that time (Codec.Expired).
	Expires time.Time
}

// OpenSealed is OpenBound that also returns the sealed expiry.
func (j *Jar) OpenSealed(s Spec, value string) (Opened, error) {
	plain, exp, err := j.Codec.OpenExpiry(j.base[s.Name], value)
	if err != nil {
		return Opened{}, err
	}
	v, b, err := splitBinding(plain)
	if err != nil {
		return Opened{}, err
	}
	return Opened{Value: v, Binding: b, Expires: exp}, nil
}

func splitBinding(plain []byte) ([]byte, Binding, error) {
	i := bytes.IndexByte(plain, bindingSep)
	if i < 0 {
		return plain, Binding{}, nil
	}
	var b Binding
	if err := json.Unmarshal(plain[i+1:], &b); err != nil {
		// Authentic (we sealed it) but unreadable: a bug, not an attack.
		// Refuse rather than return a value without its binding.
		return nil, Binding{}, fmt.Errorf("%w: binding: %v", ErrInvalid, err)
	}
	return plain[:i], b, nil
}
