// Package flowtest runs authgate in-process for tests, wired exactly as the
// authgate command wires it (package server), between an embedded provider in
// Authentik's URL layout (devprovider) and a recording upstream app:
//
//	env := flowtest.New(t, flowtest.Options{})
//	b := env.NewBrowser()
//	b.LoginAs("alice")                // login → provider → callback → complete → exchange
//	resp := b.Get("/hello", "Accept", "application/json")
//	env.Upstream.Last().Header.Get("X-User-Sub")
//
// A Browser keeps cookies but never follows redirects, so attack tests can
// stop a login at any step (StartLogin, Authorize, Callback, Exchange) and
// replay or transplant what they saw.
//
// Everything authgate answers, every URL the browser visits, every token the
// provider issues and every log line is recorded, so a test can prove that no
// token or secret leaks (Env.Leaks).
package flowtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/devprovider"
	"github.com/authgate/authgate/internal/testproc"
	"github.com/authgate/authgate/server"
	"github.com/authgate/authgate/store"
)

// Fixed identities of the fixture.
const (
	Slug     = "authgate"
	ClientID = "authgate-test"
)

// DefaultUsers are the provider's accounts unless Options.Users says otherwise:
// one per default role rule and one without an organization.
var DefaultUsers = []devprovider.User{
	{Username: "alice", Password: "alice", Email: "alice@example.com", Name: "Alice Admin", OrganizationID: "org-1", Groups: []string{"ecosire-admins", "staff"}},
	{Username: "bob", Password: "bob", Email: "bob@example.com", Name: "Bob Support", OrganizationID: "org-2", Groups: []string{"ecosire-support"}},
	{Username: "carol", Password: "carol", Email: "carol@example.com", Name: "Carol User", Groups: []string{"staff"}},
}

// Options shape one environment. The zero value is a plain sidecar on
// http://127.0.0.1 with a memory store and ES256 tokens.
type Options struct {
	// Users of the provider; default DefaultUsers.
	Users []devprovider.User
	// AutoLogin is the user a Browser logs in as unless told otherwise;
	// default "alice".
	AutoLogin string
	// Alg of the provider's signing key; default "ES256" (fast to generate).
	Alg string
	// OmitRotatedRefresh makes refresh grants answer without a new refresh token.
	OmitRotatedRefresh bool
	// AccessTokenTTL of the provider; default 5 minutes.
	AccessTokenTTL time.Duration

	// InternalURL serves the provider on a second address and configures it
	// as AUTHENTIK_INTERNAL_URL; browsers only know the public one.
	InternalURL bool
	// Production serves authgate over TLS (https API_URL) with
	// NODE_ENV=production: Secure, prefixed cookies.
	Production bool
	// FrontendURL sets FRONTEND_URL (the SPA completion pattern).
	FrontendURL string
	// PublicRoutes and RouteRules set AUTHGATE_PUBLIC_ROUTES and
	// AUTHGATE_ROUTE_RULES (their env forms).
	PublicRoutes, RouteRules string
	// TrustedProxies sets AUTHGATE_TRUSTED_PROXIES (default: loopback, which
	// includes every httptest client).
	TrustedProxies string
	// ClientSecret is the secret authgate is configured with; default the
	// provider's (set it to something else to make the token endpoint refuse).
	ClientSecret string
	// UpstreamURL replaces the recording upstream (e.g. a closed port).
	UpstreamURL string
	// Store replaces the memory store (which runs on the Env's clock).
	Store store.Store
	// Env adds or overrides environment variables given to config.Load.
	Env map[string]string
}

// Env is one running environment.
type Env struct {
	T        testing.TB
	Options  Options
	Clock    *Clock
	Logs     *LogBuffer
	Config   *config.Config
	Store    store.Store
	Provider *devprovider.Provider
	Upstream *Upstream
	// URL is authgate's public base (API_URL); ProviderURL the provider's
	// public base (AUTHENTIK_URL) and ProviderInternalURL the address authgate
	// uses server-to-server (equal to ProviderURL unless Options.InternalURL).
	URL, ProviderURL, ProviderInternalURL string
	// Server serves authgate; Handler is the wired handler itself.
	Server  *httptest.Server
	Handler http.Handler
	// CookieSecret is the configured COOKIE_SECRET.
	CookieSecret string
	// Jar is a cookie jar built like authgate's, to open sealed cookie values.
	Jar *cookies.Jar

	providerLog *providerLog
	responses   *responseLog
	loginMu     sync.Mutex // serialises Authorize steps that switch the provider's AutoLogin
}

// New starts an environment; everything stops when the test ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	if o.AutoLogin == "" {
		o.AutoLogin = "alice"
	}
	if o.Alg == "" {
		o.Alg = "ES256"
	}
	if o.Users == nil {
		o.Users = DefaultUsers
	}
	e := &Env{
		T:           t,
		Options:     o,
		Clock:       &Clock{},
		Logs:        &LogBuffer{},
		providerLog: &providerLog{},
		responses:   &responseLog{},
	}

	// authgate's listener first: its URL is the provider's redirect URI.
	var agHandler atomic.Pointer[http.Handler]
	agSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := agHandler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "authgate not ready", http.StatusServiceUnavailable)
	}))
	agSrv.Config.ErrorLog = slog.NewLogLogger(slog.NewJSONHandler(e.Logs, nil), slog.LevelWarn)
	if o.Production {
		agSrv.StartTLS()
	} else {
		agSrv.Start()
	}
	t.Cleanup(agSrv.Close)
	e.Server, e.URL = agSrv, agSrv.URL

	// The provider: public address, and optionally an internal one.
	var prov atomic.Pointer[devprovider.Provider]
	serveProvider := func(listener string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.providerLog.serve(listener, prov.Load(), w, r)
		})
	}
	pub := httptest.NewServer(serveProvider("public"))
	t.Cleanup(pub.Close)
	e.ProviderURL, e.ProviderInternalURL = pub.URL, pub.URL
	if o.InternalURL {
		in := httptest.NewServer(serveProvider("internal"))
		t.Cleanup(in.Close)
		e.ProviderInternalURL = in.URL
	}
	postLogout := []string{e.URL + "/"}
	if o.FrontendURL != "" {
		postLogout = append(postLogout, strings.TrimRight(o.FrontendURL, "/")+"/")
	}
	p, err := devprovider.New(devprovider.Options{
		BaseURL:                e.ProviderURL,
		Slug:                   Slug,
		ClientID:               ClientID,
		ClientSecret:           randomString(32),
		RedirectURIs:           []string{e.URL + "/auth/callback"},
		PostLogoutRedirectURIs: postLogout,
		Users:                  o.Users,
		Alg:                    o.Alg,
		OmitRotatedRefresh:     o.OmitRotatedRefresh,
		AccessTokenTTL:         o.AccessTokenTTL,
		AutoLogin:              o.AutoLogin,
		Now:                    e.Clock.Now,
	})
	if err != nil {
		t.Fatalf("flowtest: provider: %v", err)
	}
	prov.Store(p)
	e.Provider = p

	e.Upstream = newUpstream(t)
	upstreamURL := e.Upstream.URL
	if o.UpstreamURL != "" {
		upstreamURL = o.UpstreamURL
	}

	secret := o.ClientSecret
	if secret == "" {
		secret = p.ClientSecret()
	}
	e.CookieSecret = randomString(32)
	env := map[string]string{
		"AUTHENTIK_URL":           e.ProviderURL,
		"AUTHENTIK_APP_SLUG":      Slug,
		"AUTHENTIK_CLIENT_ID":     ClientID,
		"AUTHENTIK_CLIENT_SECRET": secret,
		"API_URL":                 e.URL,
		"UPSTREAM_URL":            upstreamURL,
		"COOKIE_SECRET":           e.CookieSecret,
		"AUTHGATE_LOG_LEVEL":      "debug",
		"AUTHGATE_LOG_FORMAT":     "json",
	}
	if o.InternalURL {
		env["AUTHENTIK_INTERNAL_URL"] = e.ProviderInternalURL
	}
	if o.Production {
		env["NODE_ENV"] = "production"
	}
	if o.FrontendURL != "" {
		env["FRONTEND_URL"] = o.FrontendURL
	}
	if o.PublicRoutes != "" {
		env["AUTHGATE_PUBLIC_ROUTES"] = o.PublicRoutes
	}
	if o.RouteRules != "" {
		env["AUTHGATE_ROUTE_RULES"] = o.RouteRules
	}
	if o.TrustedProxies != "" {
		env["AUTHGATE_TRUSTED_PROXIES"] = o.TrustedProxies
	}
	for k, v := range o.Env {
		env[k] = v
	}
	cfg, err := config.Load(config.Source{Env: func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}})
	if err != nil {
		t.Fatalf("flowtest: config: %v", err)
	}
	e.Config = cfg

	e.Store = o.Store
	if e.Store == nil {
		m := store.NewMemory(store.MemoryOptions{Now: e.Clock.Now})
		t.Cleanup(func() { m.Close() })
		e.Store = m
	}
	log := slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	app, err := server.New(ctx, cfg, log, server.Options{Store: e.Store, Now: e.Clock.Now})
	if err != nil {
		t.Fatalf("flowtest: server.New: %v", err)
	}
	t.Cleanup(app.Close)
	e.Handler = app.Handler
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.responses.serve(app.Handler, w, r)
	})
	agHandler.Store(&h)

	codec, err := cookies.NewCodec([]byte(e.CookieSecret), e.Clock.Now)
	if err != nil {
		t.Fatalf("flowtest: codec: %v", err)
	}
	e.Jar, err = cookies.NewJar(codec, cookies.JarConfig{
		AuthName:    cfg.CookieName,
		RefreshName: cfg.RefreshCookieName,
		AuthPrefix:  cfg.AuthPrefix,
		Domain:      cfg.CookieDomain,
		Secure:      cfg.Production || cfg.APIURL.Scheme == "https",
		MaxAge:      cfg.CookieMaxAge,
	})
	if err != nil {
		t.Fatalf("flowtest: jar: %v", err)
	}
	return e
}

// ProviderRequests returns every request the provider received, in order.
func (e *Env) ProviderRequests() []ProviderRequest { return e.providerLog.snapshot() }

// IssuedTokens returns every access, refresh and ID token the provider's
// token endpoint handed out.
func (e *Env) IssuedTokens() []IssuedToken { return e.providerLog.issued() }

// Responses returns every answer authgate gave, in order.
func (e *Env) Responses() []Recorded { return e.responses.snapshot() }

// AccessToken mints a valid access token for user (see devprovider.AccessToken).
func (e *Env) AccessToken(user string, extra map[string]any) string {
	e.T.Helper()
	tok, err := e.Provider.AccessToken(user, extra)
	if err != nil {
		e.T.Fatal(err)
	}
	return tok
}

// Open opens a sealed authgate cookie value ("" when it does not open).
func (e *Env) Open(spec cookies.Spec, value string) string {
	b, err := e.Jar.Open(spec, value)
	if err != nil {
		return ""
	}
	return string(b)
}

// Clock is the environment's clock: real time plus an offset that tests
// advance. The provider, the store, the verifier, the cookie codec and the
// login flow all read it, so Advance expires tokens, states and codes at once.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the current time of the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// LogBuffer collects authgate's log output; Write and String may be called
// from any goroutine.
type LogBuffer = testproc.Buffer

// SwitchStore wraps a store and fails every operation with
// store.ErrUnavailable while Down is set (Redis gone).
type SwitchStore struct {
	store.Store
	Down atomic.Bool
}

func (s *SwitchStore) err() error {
	if s.Down.Load() {
		return errUnavailable
	}
	return nil
}

var errUnavailable = &wrapped{msg: "flowtest: store switched off", err: store.ErrUnavailable}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg + ": " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func (s *SwitchStore) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Put(ctx, key, value, ttl)
}

func (s *SwitchStore) PutNew(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := s.err(); err != nil {
		return false, err
	}
	return s.Store.PutNew(ctx, key, value, ttl)
}

func (s *SwitchStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Get(ctx, key)
}

func (s *SwitchStore) Take(ctx context.Context, key string) ([]byte, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Take(ctx, key)
}

func (s *SwitchStore) Delete(ctx context.Context, key string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Delete(ctx, key)
}

func (s *SwitchStore) Ping(ctx context.Context) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// JSON decodes a response body into v, failing the test on error.
func JSON(t testing.TB, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("flowtest: body is not the expected JSON: %v\n%s", err, body)
	}
}
