package tokens

import "errors"

// Sentinel errors let callers (the decision engine, metrics, logs) branch on why a
// token was refused without matching strings. Every rejection wraps exactly one of them.
var (
	ErrMalformed   = errors.New("token: malformed")
	ErrTooLarge    = errors.New("token: too large")
	ErrAlgorithm   = errors.New("token: algorithm not allowed")
	ErrHeader      = errors.New("token: forbidden header")
	ErrUnknownKey  = errors.New("token: no matching key")
	ErrSignature   = errors.New("token: bad signature")
	ErrIssuer      = errors.New("token: wrong issuer")
	ErrAudience    = errors.New("token: wrong audience")
	ErrExpired     = errors.New("token: expired")
	ErrNotYetValid = errors.New("token: not yet valid")
	ErrClaims      = errors.New("token: invalid claims")
	ErrRevoked     = errors.New("token: revoked")
	ErrKeySet      = errors.New("token: key set unavailable")
)

// Reason maps a verification error onto a short, stable code for logs, metrics
// labels and JSON error bodies. The set of values is closed so metric cardinality
// stays bounded whatever the input.
func Reason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrExpired):
		return "token_expired"
	case errors.Is(err, ErrNotYetValid):
		return "token_not_yet_valid"
	case errors.Is(err, ErrTooLarge):
		return "token_too_large"
	case errors.Is(err, ErrAlgorithm):
		return "token_algorithm"
	case errors.Is(err, ErrHeader):
		return "token_header"
	case errors.Is(err, ErrUnknownKey):
		return "token_unknown_key"
	case errors.Is(err, ErrSignature):
		return "token_signature"
	case errors.Is(err, ErrIssuer):
		return "token_issuer"
	case errors.Is(err, ErrAudience):
		return "token_audience"
	case errors.Is(err, ErrRevoked):
		return "token_revoked"
	case errors.Is(err, ErrKeySet):
		return "keyset_unavailable"
	case errors.Is(err, ErrClaims):
		return "token_claims"
	default:
		return "token_malformed"
	}
}
