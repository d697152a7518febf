package oidcflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/redirect"
	"github.com/authgate/authgate/respond"
	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/tokens"
)

// Lifetimes fixed by the design: a login must complete within StateTTL, and
// the browser must redeem the exchange code within ExchangeTTL.
const (
	StateTTL    = 10 * time.Minute
	ExchangeTTL = 60 * time.Second
)

// Provisioner is told about every successful login (the seed's user upsert).
// An error stops the login: a provisioner that must not block logins (the
// default of package provision) logs and counts its failures and returns nil.
type Provisioner interface {
	Provision(ctx context.Context, id identity.Identity) error
}

// Sessions ends logins before their tokens expire (package revocation): a
// local logout revokes the login so that every copy of its cookies stops
// working at once, and a refresh of a revoked login is refused.
type Sessions interface {
	EndSession(ctx context.Context, b cookies.Binding) error
	SessionRevoked(b cookies.Binding) bool
}

// Options wire a Flow.
type Options struct {
	Config   *config.Config
	Provider *Provider
	Store    store.Store
	Jar      *cookies.Jar
	// Access verifies access tokens (the same verifier the proxy uses, so a
	// login never hands out a cookie the proxy would refuse).
	Access *tokens.Verifier
	// Authenticate resolves the current request's identity, for /auth/session.
	Authenticate func(*http.Request) (*identity.Identity, string)
	Mapper       identity.Mapper
	Provisioner  Provisioner // optional
	Sessions     Sessions    // optional
	// Backchannel serves ${AuthPrefix}/backchannel-logout (optional).
	Backchannel http.Handler
	Logger      *slog.Logger
	Now         func() time.Time
	// OnTokenCall is told every call to the token endpoint: the grant and
	// the error x/oauth2 returned (metrics; optional).
	OnTokenCall func(grant string, err error)
	// OnRefresh is told the outcome of every /auth/refresh: "success" or
	// the error code answered (metrics; optional).
	OnRefresh func(outcome string)
}

// Flow serves /auth/*.
type Flow struct {
	cfg       *config.Config
	provider  *Provider
	store     store.Store
	jar       *cookies.Jar
	records   *cookies.Codec // seals store records; larger bound than cookies
	access    *tokens.Verifier
	idTokens  *oidc.IDTokenVerifier
	oauth     *oauth2.Config
	authn     func(*http.Request) (*identity.Identity, string)
	mapper    identity.Mapper
	provision Provisioner
	sessions  Sessions
	log       *slog.Logger
	now       func() time.Time
	onToken   func(grant string, err error)
	onRefresh func(outcome string)
	refreshes singleflight.Group
	mux       *http.ServeMux
	origins   []string
	returns   redirect.Validator
}

// New builds the flow.
func New(o Options) *Flow {
	f := &Flow{
		cfg: o.Config, provider: o.Provider, store: o.Store, jar: o.Jar, access: o.Access,
		authn: o.Authenticate, mapper: o.Mapper, provision: o.Provisioner, sessions: o.Sessions, log: o.Logger, now: o.Now,
	}
	f.records = o.Jar.Codec.WithMaxLen(64 << 10)
	if f.log == nil {
		f.log = slog.Default()
	}
	f.onToken, f.onRefresh = o.OnTokenCall, o.OnRefresh
	if f.onToken == nil {
		f.onToken = func(string, error) {}
	}
	if f.onRefresh == nil {
		f.onRefresh = func(string) {}
	}
	if f.now == nil {
		f.now = time.Now
	}
	algs := tokens.DefaultAlgorithms
	if o.Config.AllowHS256 {
		algs = append(append([]string(nil), algs...), "HS256")
	}
	f.idTokens = oidc.NewVerifier(o.Provider.Issuer, o.Access, &oidc.Config{
		ClientID:             o.Config.ClientID,
		SupportedSigningAlgs: algs,
		Now:                  f.now,
	})
	f.oauth = &oauth2.Config{
		ClientID:     o.Config.ClientID,
		ClientSecret: o.Config.ClientSecret,
		RedirectURL:  o.Config.RedirectURL,
		Scopes:       o.Config.Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   o.Provider.AuthorizationURL,
			TokenURL:  o.Provider.TokenURL,
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
	f.returns = redirect.Validator{AllowedHosts: o.Config.RedirectHosts, AllowHTTP: o.Config.APIURL.Scheme == "http"}
	f.origins = []string{origin(o.Config.APIURL.String())}
	if o.Config.FrontendURL != "" {
		f.origins = append(f.origins, origin(o.Config.FrontendURL))
	}

	p := o.Config.AuthPrefix
	m := http.NewServeMux()
	m.HandleFunc(p+"/login", f.login)
	m.HandleFunc(p+"/callback", f.callback)
	m.HandleFunc(p+"/complete", f.complete)
	m.HandleFunc(p+"/complete.js", f.completeScript)
	m.HandleFunc(p+"/exchange", f.exchange)
	m.HandleFunc(p+"/refresh", f.refresh)
	m.HandleFunc(p+"/logout", f.logout)
	m.HandleFunc(p+"/session", f.session)
	if o.Backchannel != nil {
		m.Handle(p+"/backchannel-logout", o.Backchannel)
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { respond.Error(w, http.StatusNotFound, "not_found") })
	f.mux = m
	return f
}

func (f *Flow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.cors(w, r) {
		return
	}
	f.mux.ServeHTTP(w, r)
}

// cors lets the app at FRONTEND_URL, when it is another origin than API_URL,
// call the auth endpoints with its credentials: its /auth/callback page posts
// the exchange code with a JSON body, which browsers preflight, and may read
// only an answer that names its origin. Only that exact origin is answered;
// the state-changing endpoints still check Origin themselves. cors reports
// whether it answered the request (a preflight).
func (f *Flow) cors(w http.ResponseWriter, r *http.Request) bool {
	o := r.Header.Get("Origin")
	if len(f.origins) < 2 || o != f.origins[1] || o == f.origins[0] {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Origin", o)
	h.Set("Access-Control-Allow-Credentials", "true")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// providerCtx carries the server-to-server client into x/oauth2.
func (f *Flow) providerCtx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, f.provider.Client)
}

// fail answers an error and logs it. The log line names the reason and the
// request, never a token, code, cookie or secret.
func (f *Flow) fail(w http.ResponseWriter, r *http.Request, status int, code string, err error) {
	attrs := []slog.Attr{slog.String("error_code", code), slog.Int("status", status), slog.String("path", r.URL.Path)}
	if err != nil {
		attrs = append(attrs, slog.String("cause", err.Error()))
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	f.log.LogAttrs(r.Context(), level, "auth error", attrs...)
	respond.Error(w, status, code)
}

func (f *Flow) storeFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		f.fail(w, r, http.StatusServiceUnavailable, "store_unavailable", err)
		return
	}
	f.fail(w, r, http.StatusInternalServerError, "internal_error", err)
}

func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	respond.Error(w, http.StatusMethodNotAllowed, "method_not_allowed")
	return false
}

// sameOrigin refuses cross-site state-changing requests (login CSRF through the
// exchange endpoint, forced logout, forced refresh). Browsers send Origin on
// every cross-origin POST and Sec-Fetch-Site on all modern requests.
func (f *Flow) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		for _, ok := range f.origins {
			if o == ok {
				return true
			}
		}
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "same-site", "none":
		return true
	}
	return false
}

func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// returnTarget validates a return target: a same-site path, or an absolute
// URL on an allowed host. Anything else yields def (or an error with strict).
func (f *Flow) returnTarget(raw, def string) string {
	if raw == "" {
		return def
	}
	v, err := f.returns.Validate(raw)
	if err != nil {
		return def
	}
	return v
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics itself).
		panic(fmt.Errorf("crypto/rand: %w", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// validRandom checks the shape of a state or exchange code before it is used
// as a store key: fixed length, URL-safe alphabet. Anything else is refused
// without a store round trip.
func validRandom(s string, n int) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(n) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func equalHash(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// seal and open protect records kept in the store: they hold PKCE verifiers and
// tokens, which must not be readable by whoever can read Redis.
func (f *Flow) seal(kind string, v any, ttl time.Duration) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s, err := f.records.Seal("record/"+kind, b, f.now().Add(ttl))
	return []byte(s), err
}

func (f *Flow) open(kind string, b []byte, v any) error {
	plain, err := f.records.Open("record/"+kind, string(b))
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, v)
}
