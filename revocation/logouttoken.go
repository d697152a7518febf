package revocation

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authgate/authgate/tokens"
)

// LogoutEvent is the member of "events" that makes a JWT a logout token
// (OpenID Connect Back-Channel Logout 1.0 §2.4).
const LogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// ErrLogoutToken wraps every reason a logout token is refused.
var ErrLogoutToken = errors.New("logout token")

// LogoutToken is a verified logout token.
type LogoutToken struct {
	Issuer    string
	IssuedAt  time.Time
	Expiry    time.Time // zero when the token has no exp (Hydra sends none)
	ID        string    // jti
	Subject   string    // may be empty when SessionID is set
	SessionID string    // may be empty when Subject is set
}

// SignatureVerifier checks a compact JWS and returns its payload;
// *tokens.Verifier is one, so logout tokens are checked against the same
// provider key set, algorithm allow-list and size bound as access tokens.
type SignatureVerifier interface {
	VerifySignature(ctx context.Context, raw string) ([]byte, error)
}

// LogoutVerifier validates logout tokens (§2.6).
type LogoutVerifier struct {
	Signature SignatureVerifier
	Issuer    string // exact "iss"
	ClientID  string // must be in "aud"
	// Leeway for iat/exp clock skew.
	Leeway time.Duration
	// MaxAge bounds how old (by iat) a token may be; it also bounds how long
	// its jti must be remembered to refuse a replay. Default 5 minutes.
	MaxAge time.Duration
	Now    func() time.Time
}

func (v *LogoutVerifier) maxAge() time.Duration {
	if v.MaxAge <= 0 {
		return 5 * time.Minute
	}
	return v.MaxAge
}

// ReplayWindow is how long a jti must be remembered: beyond it, iat alone
// refuses the token.
func (v *LogoutVerifier) ReplayWindow() time.Duration { return v.maxAge() + 2*v.Leeway }

type logoutClaims struct {
	Issuer    string                     `json:"iss"`
	Audience  tokens.Audience            `json:"aud"`
	IssuedAt  tokens.NumericDate         `json:"iat"`
	Expiry    tokens.NumericDate         `json:"exp"`
	ID        string                     `json:"jti"`
	Subject   string                     `json:"sub"`
	SessionID string                     `json:"sid"`
	Events    map[string]json.RawMessage `json:"events"`
	Nonce     *json.RawMessage           `json:"nonce"`
}

// Verify checks raw in the order of §2.6. Every refusal wraps ErrLogoutToken.
func (v *LogoutVerifier) Verify(ctx context.Context, raw string) (*LogoutToken, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrLogoutToken, fmt.Sprintf(format, args...))
	}
	// §2.6 step 2: the signature, by the provider's keys, under an allowed
	// algorithm (none and HMAC refused as for every token).
	payload, err := v.Signature.VerifySignature(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLogoutToken, err)
	}
	// §2.4: logout tokens SHOULD be typed "logout+jwt". Ory Hydra (through
	// fosite) types them "JWT", the generic value of RFC 7519 §5.1, so that
	// is accepted too; any other type is another kind of token (an access
	// token "at+jwt", say) and refused.
	if typ, err := headerType(raw); err != nil {
		return nil, bad("%v", err)
	} else if typ != "" && !strings.EqualFold(typ, "logout+jwt") && !strings.EqualFold(typ, "application/logout+jwt") && !strings.EqualFold(typ, "JWT") {
		return nil, bad("typ %q", truncate(typ, 32))
	}
	var c logoutClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&c); err != nil {
		return nil, bad("claims: %v", err)
	}
	// §2.6 step 3: iss, aud and iat as for ID tokens (OIDC Core §3.1.3.7).
	if c.Issuer != v.Issuer {
		return nil, bad("iss %q", truncate(c.Issuer, 128))
	}
	if !c.Audience.Contains(v.ClientID) {
		return nil, bad("aud does not name this client")
	}
	now := v.now()
	if !c.IssuedAt.Set {
		return nil, bad("no iat")
	}
	if c.IssuedAt.After(now.Add(v.Leeway)) {
		return nil, bad("iat in the future")
	}
	if now.Sub(c.IssuedAt.Time) > v.maxAge()+v.Leeway {
		return nil, bad("iat older than %v", v.maxAge())
	}
	// exp is optional (§2.4 lists it as RECOMMENDED only); when present it holds.
	if c.Expiry.Set && !now.Before(c.Expiry.Add(v.Leeway)) {
		return nil, bad("expired")
	}
	// §2.6 step 4: the events claim has the logout member, a JSON object.
	ev, ok := c.Events[LogoutEvent]
	if !ok {
		return nil, bad("events lacks %s", LogoutEvent)
	}
	if t := bytes.TrimSpace(ev); len(t) == 0 || t[0] != '{' {
		return nil, bad("logout event is not a JSON object")
	}
	// §2.6 step 5: sub or sid (or both).
	if c.Subject == "" && c.SessionID == "" {
		return nil, bad("neither sub nor sid")
	}
	// §2.6 step 6: no nonce, so an ID token can never pass as a logout token.
	if c.Nonce != nil {
		return nil, bad("nonce present")
	}
	// §2.4: jti is REQUIRED; the caller refuses a replay with it.
	if c.ID == "" {
		return nil, bad("no jti")
	}
	t := &LogoutToken{
		Issuer: c.Issuer, IssuedAt: c.IssuedAt.Time, ID: c.ID,
		Subject: c.Subject, SessionID: c.SessionID,
	}
	if c.Expiry.Set {
		t.Expiry = c.Expiry.Time
	}
	return t, nil
}

func (v *LogoutVerifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// headerType returns the JOSE header's "typ". Only called after the
// signature verified, so the header is authentic.
func headerType(raw string) (string, error) {
	seg, _, ok := strings.Cut(raw, ".")
	if !ok {
		return "", errors.New("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return "", errors.New("header encoding")
	}
	var h struct {
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", fmt.Errorf("header: %v", err)
	}
	return h.Typ, nil
}

func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n]
	}
	return s
}
