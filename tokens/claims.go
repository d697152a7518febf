package tokens

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Claims are the registered claims authgate checks plus the identity claims it maps.
// Unknown claims are ignored; the raw payload is not retained so a cached entry stays small.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  Audience
	Expiry    NumericDate
	NotBefore NumericDate
	IssuedAt  NumericDate
	SessionID string
	Nonce     string
	// AuthorizedParty is "azp"; Authentik and Hydra set it to the client id.
	AuthorizedParty string

	Email          string
	Name           string
	Username       string
	OrganizationID string
	Groups         []string

	// Events is present only in logout tokens (OIDC Back-Channel Logout §2.4);
	// a token carrying it is never accepted as an access token.
	Events json.RawMessage
}

// parseClaims reads a claim set with the strict reader of json.go.
//
// It takes payload over: the claims' strings may share its memory, so the
// caller must not write to it afterwards (VerifySignature's payload is a fresh
// decode that nothing else holds).
func parseClaims(payload []byte) (*Claims, error) {
	c, err := readClaims(unsafe.String(unsafe.SliceData(payload), len(payload)))
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	return c, nil
}

// Audience accepts both forms RFC 7519 §4.1.3 allows: a single string (Authentik)
// or an array of strings (Hydra, Keycloak).
type Audience []string

func (a *Audience) UnmarshalJSON(b []byte) error {
	list, err := oneOrMany(b)
	if err != nil {
		return fmt.Errorf("aud: %w", err)
	}
	*a = list
	return nil
}

// Contains reports whether aud names the client exactly.
func (a Audience) Contains(client string) bool {
	for _, v := range a {
		if v == client {
			return true
		}
	}
	return false
}

// oneOrMany decodes a JSON string or array of strings; null is nil.
func oneOrMany(b []byte) ([]string, error) {
	if bytes.Equal(b, []byte("null")) {
		return nil, nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// NumericDate is RFC 7519 §2 "NumericDate": seconds since the epoch, possibly
// fractional. The zero value means the claim was absent.
type NumericDate struct {
	time.Time
	Set bool
}

func (d *NumericDate) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	// RFC 7519 §2: a JSON number. encoding/json would also decode a quoted
	// number into json.Number; "exp":"1700000000" is not a NumericDate.
	if len(b) == 0 || b[0] == '"' {
		return fmt.Errorf("numeric date: not a number")
	}
	var f json.Number
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("numeric date: %w", err)
	}
	v, err := f.Float64()
	return d.set(v, err)
}

// set makes d the date v seconds after the epoch; err is the error of parsing
// v. It rejects values time.Unix would wrap: a year-292-billion exp must not
// overflow into the past or, worse, into "never expires".
func (d *NumericDate) set(v float64, err error) error {
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1<<40 {
		return fmt.Errorf("numeric date: out of range")
	}
	sec, frac := math.Modf(v)
	d.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	d.Set = true
	return nil
}
