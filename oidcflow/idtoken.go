package oidcflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/authgate/authgate/tokens"
)

// errIDToken marks an ID token that fails a rule of OIDC Core §3.1.3.7 that
// go-oidc leaves to its caller.
var errIDToken = errors.New("id token")

// verifyIDToken validates an ID token by OIDC Core §3.1.3.7. go-oidc checks
// the JOSE layer (through the rate-limited key set), alg (6–8), iss (2),
// aud (3) and exp (9); this adds what it leaves out: sub is present (§2,
// REQUIRED), iat is present (10, REQUIRED) and not in the future, nbf with
// authgate's leeway (go-oidc allows five minutes, DESIGN §4 at most 60 s),
// and azp (4–5): when present it names this client, and a token for several
// audiences must carry it. The nonce (11) is the caller's: only a login has one.
func (f *Flow) verifyIDToken(ctx context.Context, raw string) (*oidc.IDToken, error) {
	idt, err := f.idTokens.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	var c struct {
		Subject  string             `json:"sub"`
		IssuedAt tokens.NumericDate `json:"iat"`
		NotBef   tokens.NumericDate `json:"nbf"`
		Azp      string             `json:"azp"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", errIDToken, err)
	}
	now := f.now()
	leeway := min(max(f.cfg.TokenLeeway, 0), 60*time.Second)
	switch {
	case c.Subject == "":
		return nil, fmt.Errorf("%w: missing sub", errIDToken)
	case !c.IssuedAt.Set:
		return nil, fmt.Errorf("%w: missing iat", errIDToken)
	case c.IssuedAt.After(now.Add(leeway)):
		return nil, fmt.Errorf("%w: iat in the future", errIDToken)
	case c.NotBef.Set && c.NotBef.After(now.Add(leeway)):
		return nil, fmt.Errorf("%w: nbf in the future", errIDToken)
	case c.Azp != "" && c.Azp != f.cfg.ClientID:
		return nil, fmt.Errorf("%w: azp names another client", errIDToken)
	case c.Azp == "" && len(idt.Audience) > 1:
		return nil, fmt.Errorf("%w: several audiences without azp", errIDToken)
	}
	return idt, nil
}
