package revocation

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"mime"
	"net/http"

	"github.com/authgate/authgate/internal/promtext"
	"github.com/authgate/authgate/respond"
	"github.com/authgate/authgate/store"
)

// maxLogoutBody bounds the form body; a logout token is well under the
// verifier's 16 KiB token bound.
const maxLogoutBody = 64 << 10

// Backchannel serves POST ${auth prefix}/backchannel-logout, the provider's
// server-to-server call of OpenID Connect Back-Channel Logout 1.0 (§2.5):
// a form with logout_token. It answers 200 when the session is revoked,
// 400 {"error":"invalid_request"} for a token that fails §2.6 or was seen
// before, and 503 when the store cannot record it (so the provider may
// retry); always with Cache-Control: no-store (§2.8).
type Backchannel struct {
	Verifier *LogoutVerifier
	// Store remembers jti values to refuse replays.
	Store  store.Store
	Set    *Set
	Logger *slog.Logger

	outcomes *promtext.CounterVec
}

// NewBackchannel builds the handler.
func NewBackchannel(v *LogoutVerifier, st store.Store, set *Set, log *slog.Logger) *Backchannel {
	if log == nil {
		log = slog.Default()
	}
	return &Backchannel{Verifier: v, Store: st, Set: set, Logger: log,
		outcomes: promtext.NewCounterVec(promtext.Opts{
			Name: "authgate_backchannel_logouts_total",
			Help: "Back-channel logout requests by outcome (revoked, invalid, replay, error).",
		}, "outcome"),
	}
}

// Collector exposes the handler's metrics.
func (b *Backchannel) Collector() promtext.Collector { return b.outcomes }

func (b *Backchannel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	refuse := func(outcome, why string, err error) {
		b.outcomes.With(outcome).Inc()
		attrs := []any{"error_code", "invalid_request", "reason", why}
		if err != nil {
			attrs = append(attrs, "cause", err.Error())
		}
		b.Logger.InfoContext(ctx, "back-channel logout refused", attrs...)
		respond.Error(w, http.StatusBadRequest, "invalid_request")
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		respond.Error(w, http.StatusMethodNotAllowed, "method_not_allowed")
		return
	}
	// §2.5: the token is POSTed as application/x-www-form-urlencoded.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		refuse("invalid", "content type", nil)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutBody)
	if err := r.ParseForm(); err != nil {
		refuse("invalid", "form", err)
		return
	}
	if len(r.PostForm["logout_token"]) != 1 || r.PostForm.Get("logout_token") == "" {
		refuse("invalid", "logout_token missing or repeated", nil)
		return
	}
	lt, err := b.Verifier.Verify(ctx, r.PostForm.Get("logout_token"))
	if err != nil {
		refuse("invalid", "verification", err)
		return
	}
	// §2.6 (optional step): refuse a jti seen before. The window covers the
	// token's acceptable age; older tokens fail on iat anyway.
	sum := sha256.Sum256([]byte(lt.Issuer + "\x00" + lt.ID))
	jtiKey := "bcl-jti:" + base64.RawURLEncoding.EncodeToString(sum[:])
	fresh, err := b.Store.PutNew(ctx, jtiKey, []byte("1"), b.Verifier.ReplayWindow())
	if err != nil {
		b.unavailable(w, r, err)
		return
	}
	if !fresh {
		refuse("replay", "jti already used", nil)
		return
	}
	// §2.7: a sid names one session; only sub names all of the user's,
	// those that began before the logout was issued.
	rev := Revocation{Kind: ProviderSession, ID: lt.SessionID}
	if lt.SessionID == "" {
		rev = Revocation{Kind: Subject, ID: lt.Subject, At: lt.IssuedAt.Unix()}
	}
	if err := b.Set.Revoke(ctx, rev); err != nil {
		// Let the provider try again with the same token.
		_ = b.Store.Delete(ctx, jtiKey)
		if errors.Is(err, ErrInvalid) {
			refuse("invalid", "unusable sid or sub", err)
			return
		}
		b.unavailable(w, r, err)
		return
	}
	b.outcomes.With("revoked").Inc()
	b.Logger.InfoContext(ctx, "back-channel logout", "kind", string(rev.Kind))
	respond.JSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (b *Backchannel) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	b.outcomes.With("error").Inc()
	b.Logger.WarnContext(r.Context(), "back-channel logout not recorded", "error_code", "store_unavailable", "cause", err.Error())
	respond.Error(w, http.StatusServiceUnavailable, "store_unavailable")
}
