// Package hydratest runs a real OpenID provider, Ory Hydra v2.3.0, for
// end-to-end tests, together with a login/consent/logout app that accepts
// every request for a configurable user.
//
// The binary comes from $AUTHGATE_HYDRA_BIN, else <repo>/.cache/bin/hydra,
// which scripts/build-tools.sh builds. A missing binary fails the test: it is
// never skipped.
//
//	h := hydratest.Start(t, hydratest.Options{AccessTokenTTL: 5 * time.Second})
//	id, secret := h.CreateClient(t, hydratest.Client{RedirectURIs: []string{cb}})
//	// discovery: h.IssuerURL() + ".well-known/openid-configuration"
//
// Provider facts a test can rely on:
//
//   - The issuer is "http://127.0.0.1:<public port>/", WITH a trailing slash,
//     exactly as Authentik's issuers have one; tokens carry it verbatim in iss.
//   - Access tokens are RS256 JWTs (strategies.access_token=jwt) whose aud is a
//     JSON array holding the client id (the client's audience, granted at
//     consent), and whose top-level claims include email, name, groups and
//     organizationId. ID tokens carry the same claims, aud = client id.
//   - Refresh tokens are issued for the offline_access scope and rotate on
//     every use with no grace period. Reusing a rotated refresh token is
//     rejected with invalid_grant AND revokes the whole token family, so the
//     refresh token issued in its place stops working too.
//   - Signing keys are fresh RSA-2048 keys per Start, imported through the
//     admin API (one kid for ID/logout tokens, one for access tokens); the
//     JWKS serves exactly those two.
//   - Back-channel logout tokens (Client.BackchannelLogoutURI) carry iss,
//     aud [client id], iat, jti, events and sid, but NO sub and NO exp, and
//     Hydra posts them from a goroutine: they may arrive after the browser has
//     been redirected to post_logout_redirect_uri.
//   - The final redirect to the client's redirect_uri is a 303.
//   - Login sessions are remembered (Hydra's session cookie) unless
//     Options.ForgetLogin is set: a cookie jar that logged in as one user gets
//     that same user again without a login prompt until it logs out, even after
//     SetUser. Use a fresh cookie jar per browser/user. A remembered session is
//     also what RP-initiated logout and back-channel logout need.
package hydratest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testproc"
	"github.com/authgate/authgate/internal/testtools"
)

// BinEnv names the environment variable that overrides the Hydra binary path.
const BinEnv = "AUTHGATE_HYDRA_BIN"

// DefaultScope is the scope every client created by CreateClient may request;
// it is authgate's default scope list.
const DefaultScope = "openid email profile organization offline_access"

// Options configure a Hydra instance. Zero values pick the defaults noted.
type Options struct {
	// AccessTokenTTL is the access token lifespan (default 5m). Hydra takes
	// millisecond precision.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the refresh token lifespan (default 720h).
	RefreshTokenTTL time.Duration
	// IDTokenTTL is the ID token lifespan (default 1h).
	IDTokenTTL time.Duration
	// AuthCodeTTL is the authorization code lifespan (default 10m).
	AuthCodeTTL time.Duration
	// ForgetLogin makes the login app accept logins with remember=false:
	// every authorization then asks the login app again (SetUser takes effect
	// in the same cookie jar), but RP-initiated logout finds no session and
	// redirects straight to post_logout_redirect_uri without calling the
	// logout app or any back-channel logout URI.
	ForgetLogin bool
	// User is the initial current user (default DefaultUser()).
	User *User
	// LogLevel is Hydra's log level (default "info"; "debug" and "trace"
	// show more).
	LogLevel string
	// StartTimeout bounds how long Start waits for /health/ready (default 60s).
	StartTimeout time.Duration
	// Env holds extra KEY=VALUE environment entries for the Hydra process.
	// Hydra reads any config key from the environment (dots become
	// underscores, upper case, e.g. OAUTH2_GRANT_REFRESH_TOKEN_ROTATION_GRACE_PERIOD=5s)
	// and they win over the generated config file.
	Env []string
}

// User is the identity the login app logs in, and the claims the consent app
// puts into both the ID token and the access token.
type User struct {
	Subject        string
	Email          string   // claim "email"; omitted when empty
	Name           string   // claim "name"; omitted when empty
	Groups         []string // claim "groups"; always present, [] when empty
	OrganizationID string   // claim "organizationId"; omitted when empty
}

// DefaultUser is the current user of a new Hydra unless Options.User is set.
func DefaultUser() User {
	return User{
		Subject:        "user-alice",
		Email:          "alice@example.com",
		Name:           "Alice Example",
		Groups:         []string{"staff", "ecosire-support"},
		OrganizationID: "org-acme",
	}
}

// Client describes an OAuth 2.0 client for CreateClient. Only RedirectURIs is
// needed; the rest have the defaults noted.
type Client struct {
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives OpenID back-channel logout tokens
	// (backchannel_logout_session_required=true, so they carry sid).
	BackchannelLogoutURI string

	// ID is the client id (default: "authgate-test-" + random hex).
	ID string
	// Secret is the client secret (default: random hex), at least 6 bytes.
	Secret string
	// Scope is the space-separated scopes the client may request (default
	// DefaultScope).
	Scope string
	// Audience is the client's allowed access token audience, which the
	// consent app grants in full (default: []string{ID}). Set it to a list
	// without the client id to get access tokens authgate must reject.
	Audience []string
}

// Hydra is a running Hydra plus its login/consent app.
type Hydra struct {
	issuer   string
	public   string
	admin    string
	bin      string
	logPath  string
	app      *httptest.Server
	http     *http.Client
	opts     Options
	mu       sync.Mutex
	current  User
	bySubj   map[string]User
	appErrMu sync.Mutex
	appErrs  []string
}

// IssuerURL is the issuer, "http://127.0.0.1:<port>/" (trailing slash).
func (h *Hydra) IssuerURL() string { return h.issuer }

// PublicURL is the public base URL without trailing slash,
// "http://127.0.0.1:<port>"; endpoints hang below it (/oauth2/auth,
// /oauth2/token, /.well-known/jwks.json, /oauth2/sessions/logout).
func (h *Hydra) PublicURL() string { return h.public }

// AdminURL is the admin API base URL without trailing slash,
// "http://127.0.0.1:<port>"; the API lives under /admin.
func (h *Hydra) AdminURL() string { return h.admin }

// LoginAppURL is the base URL of the built-in login/consent/logout app.
func (h *Hydra) LoginAppURL() string { return h.app.URL }

// LogPath is the file Hydra's output is written to.
func (h *Hydra) LogPath() string { return h.logPath }

// SetUser makes u the user that later logins authenticate. Browsers with a
// remembered login session keep their user (see the package doc).
func (h *Hydra) SetUser(u User) {
	if u.Subject == "" {
		panic("hydratest: SetUser with empty Subject")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.current = cloneUser(u)
	h.bySubj[u.Subject] = h.current
}

// User returns the current user.
func (h *Hydra) User() User {
	h.mu.Lock()
	defer h.mu.Unlock()
	return cloneUser(h.current)
}

func cloneUser(u User) User {
	u.Groups = append([]string(nil), u.Groups...)
	return u
}

// userFor returns the claims source for subject: the user last set with that
// subject, else the current user.
func (h *Hydra) userFor(subject string) User {
	h.mu.Lock()
	defer h.mu.Unlock()
	if u, ok := h.bySubj[subject]; ok {
		return cloneUser(u)
	}
	return cloneUser(h.current)
}

// BinaryPath returns the Hydra binary to run: $AUTHGATE_HYDRA_BIN, else
// <repo root>/.cache/bin/hydra. It does not check that the file exists.
func BinaryPath() (string, error) {
	if p := os.Getenv(BinEnv); p != "" {
		return p, nil
	}
	return testtools.Path("hydra")
}

// Start runs Hydra (`hydra serve all --dev`, in-memory SQLite) on free
// loopback ports and waits until it is ready. Everything is stopped by
// t.Cleanup; when the test failed, the tail of Hydra's log is printed.
func Start(t testing.TB, opts Options) *Hydra {
	t.Helper()
	bin, err := BinaryPath()
	if err != nil {
		t.Fatalf("hydratest: %v", err)
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("hydratest: Hydra binary not found at %s (%v): run scripts/build-tools.sh from the repository root, or set %s", bin, err, BinEnv)
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = 5 * time.Minute
	}
	if opts.RefreshTokenTTL <= 0 {
		opts.RefreshTokenTTL = 720 * time.Hour
	}
	if opts.IDTokenTTL <= 0 {
		opts.IDTokenTTL = time.Hour
	}
	if opts.AuthCodeTTL <= 0 {
		opts.AuthCodeTTL = 10 * time.Minute
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	user := DefaultUser()
	if opts.User != nil {
		user = cloneUser(*opts.User)
	}
	if user.Subject == "" {
		t.Fatalf("hydratest: Options.User has an empty Subject")
	}

	dir := t.TempDir() // created before our cleanups, so removed after them
	h := &Hydra{
		bin:     bin,
		logPath: filepath.Join(dir, "hydra.log"),
		http:    &http.Client{Timeout: 15 * time.Second},
		opts:    opts,
		current: user,
		bySubj:  map[string]User{user.Subject: user},
	}
	h.app = httptest.NewServer(h.appHandler())
	t.Cleanup(h.app.Close)

	// A free port found by listening and closing can be taken by someone
	// else before Hydra binds it: retry with new ports when that happens.
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		began := time.Now()
		stop, err := h.launch(dir, opts)
		if err == nil {
			t.Logf("hydratest: Hydra ready in %v: issuer %s, admin %s, log %s", time.Since(began).Round(time.Millisecond), h.issuer, h.admin, h.logPath)
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("hydratest: tail of Hydra log %s:\n%s", h.logPath, testproc.Tail(h.logPath, 40))
					if errs := h.appErrors(); len(errs) > 0 {
						t.Logf("hydratest: login/consent app errors:\n%s", strings.Join(errs, "\n"))
					}
				}
			})
			return h
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("hydratest: starting Hydra: %v\ntail of Hydra log %s:\n%s", lastErr, h.logPath, testproc.Tail(h.logPath, 40))
	return nil
}

var errPortTaken = errors.New("port already in use")

// launch starts one Hydra process and waits for readiness. On success it
// returns the function that stops it.
func (h *Hydra) launch(dir string, opts Options) (stop func(), err error) {
	publicPort, err := testproc.FreePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := testproc.FreePort()
	if err != nil {
		return nil, err
	}
	h.public = "http://127.0.0.1:" + strconv.Itoa(publicPort)
	h.admin = "http://127.0.0.1:" + strconv.Itoa(adminPort)
	h.issuer = h.public + "/"

	cfgPath := filepath.Join(dir, "hydra.yaml")
	if err := os.WriteFile(cfgPath, h.config(publicPort, adminPort, opts), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}

	// Generate the signing keys while Hydra starts (see importKeys).
	type keysResult struct {
		keys map[string]*rsa.PrivateKey
		err  error
	}
	keysCh := make(chan keysResult, 1)
	go func() {
		keys, err := generateSigningKeys()
		keysCh <- keysResult{keys, err}
	}()

	cmd := exec.Command(h.bin, "serve", "all", "--dev", "--sqa-opt-out", "--config", cfgPath)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = hydraEnv(opts.Env)
	// The kernel kills Hydra when the test process dies (a test binary
	// killed by -timeout runs no cleanups).
	p, err := testproc.Start(cmd, syscall.SIGKILL)
	logf.Close() // Hydra has its own descriptor
	if err != nil {
		return nil, err
	}
	err = p.WaitReady(opts.StartTimeout, 50*time.Millisecond, func() error {
		if h.ready(h.admin) && h.ready(h.public) {
			return nil
		}
		return errors.New("/health/ready of the admin and public ports not yet 200")
	})
	if err != nil {
		if p.Exited() && strings.Contains(testproc.Tail(h.logPath, 40), "address already in use") {
			return nil, fmt.Errorf("hydra exited (%v): %w", p.Err(), errPortTaken)
		}
		p.Kill()
		return nil, err
	}
	kr := <-keysCh
	if kr.err == nil {
		kr.err = h.importKeys(kr.keys)
	}
	if kr.err == nil {
		kr.err = h.warmKeys(opts.StartTimeout)
	}
	if kr.err != nil {
		p.Kill()
		return nil, kr.err
	}
	return p.Kill, nil
}

func (h *Hydra) ready(base string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health/ready", nil)
	resp, err := h.http.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Hydra's signing key sets: ID tokens (and logout tokens) are signed with the
// first, JWT access tokens with the second.
var keySets = []string{"hydra.openid.id-token", "hydra.jwt.access-token"}

// generateSigningKeys makes one fresh RSA-2048 key per key set. Left alone,
// Hydra generates RSA-4096 keys lazily on first use, which takes seconds on a
// busy 2-core machine and would land on whatever request of the code under
// test comes first.
func generateSigningKeys() (map[string]*rsa.PrivateKey, error) {
	keys := map[string]*rsa.PrivateKey{}
	for _, set := range keySets {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		keys[set] = k
	}
	return keys, nil
}

// importKeys installs the keys through the admin API (PUT /admin/keys/{set}).
func (h *Hydra) importKeys(keys map[string]*rsa.PrivateKey) error {
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	for _, set := range keySets {
		k := keys[set]
		k.Precompute()
		jwk := map[string]string{
			"kty": "RSA", "alg": "RS256", "use": "sig",
			"kid": strings.TrimPrefix(set, "hydra.") + "-" + randomHex(8),
			"n":   b64(k.N.Bytes()),
			"e":   b64(big.NewInt(int64(k.E)).Bytes()),
			"d":   b64(k.D.Bytes()),
			"p":   b64(k.Primes[0].Bytes()),
			"q":   b64(k.Primes[1].Bytes()),
			"dp":  b64(k.Precomputed.Dp.Bytes()),
			"dq":  b64(k.Precomputed.Dq.Bytes()),
			"qi":  b64(k.Precomputed.Qinv.Bytes()),
		}
		body := map[string]any{"keys": []any{jwk}}
		if err := h.adminJSON(http.MethodPut, "/admin/keys/"+set, nil, body, nil); err != nil {
			return fmt.Errorf("importing signing key: %w", err)
		}
	}
	return nil
}

// warmKeys checks that the JWKS serves both signing keys, so that Hydra has
// them in place before the code under test asks.
func (h *Hydra) warmKeys(timeout time.Duration) error {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(h.public + "/.well-known/jwks.json")
	if err != nil {
		return fmt.Errorf("warming signing keys: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &set) != nil || len(set.Keys) != len(keySets) {
		return fmt.Errorf("warming signing keys: GET /.well-known/jwks.json: %s: %.300s", resp.Status, b)
	}
	return nil
}

// config renders Hydra's config file. JSON is valid YAML; Hydra picks the
// parser from the .yaml extension.
func (h *Hydra) config(publicPort, adminPort int, opts Options) []byte {
	app := h.app.URL
	cfg := map[string]any{
		"dsn": "memory",
		"serve": map[string]any{
			"public":  map[string]any{"host": "127.0.0.1", "port": publicPort},
			"admin":   map[string]any{"host": "127.0.0.1", "port": adminPort},
			"cookies": map[string]any{"same_site_mode": "Lax"},
		},
		"urls": map[string]any{
			"self": map[string]any{
				"issuer": h.issuer,
				"public": h.public + "/",
				"admin":  h.admin + "/",
			},
			"login":                app + "/login",
			"consent":              app + "/consent",
			"logout":               app + "/logout",
			"error":                app + "/error",
			"post_logout_redirect": app + "/logged-out",
		},
		"secrets": map[string]any{"system": []string{randomHex(32)}},
		"strategies": map[string]any{
			"access_token": "jwt",
		},
		"oauth2": map[string]any{
			"allowed_top_level_claims": []string{"email", "name", "groups", "organizationId"},
			"mirror_top_level_claims":  false,
		},
		"ttl": map[string]any{
			"access_token":  hydraDuration(opts.AccessTokenTTL),
			"refresh_token": hydraDuration(opts.RefreshTokenTTL),
			"id_token":      hydraDuration(opts.IDTokenTTL),
			"auth_code":     hydraDuration(opts.AuthCodeTTL),
		},
		"log": map[string]any{"level": opts.LogLevel, "format": "text"},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// hydraDuration formats d for Hydra's config schema, which accepts
// ^(\d+(ns|us|ms|s|m|h))+$ ("1.5s" from time.Duration.String is rejected).
func hydraDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// hydraEnv is a minimal environment: Hydra reads every config key from the
// environment, so stray variables such as DSN or LOG_LEVEL must not leak in.
func hydraEnv(extra []string) []string {
	env := []string{"SQA_OPT_OUT=true"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// CreateClient registers a confidential client (client_secret_basic,
// authorization_code + refresh_token, response type code) through the admin
// API and returns its credentials. Its audience is [id] unless c.Audience is
// set, so access tokens carry the client id in aud.
func (h *Hydra) CreateClient(t testing.TB, c Client) (id, secret string) {
	t.Helper()
	if c.ID == "" {
		c.ID = "authgate-test-" + randomHex(8)
	}
	if c.Secret == "" {
		c.Secret = randomHex(24)
	}
	if c.Scope == "" {
		c.Scope = DefaultScope
	}
	if c.Audience == nil {
		c.Audience = []string{c.ID}
	}
	body := map[string]any{
		"client_id":                  c.ID,
		"client_secret":              c.Secret,
		"client_name":                "authgate test client " + c.ID,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      c.Scope,
		"audience":                   c.Audience,
		"redirect_uris":              nonNil(c.RedirectURIs),
		"post_logout_redirect_uris":  nonNil(c.PostLogoutRedirectURIs),
		"token_endpoint_auth_method": "client_secret_basic",
	}
	if c.BackchannelLogoutURI != "" {
		body["backchannel_logout_uri"] = c.BackchannelLogoutURI
		body["backchannel_logout_session_required"] = true
	}
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := h.adminJSON(http.MethodPost, "/admin/clients", nil, body, &out); err != nil {
		t.Fatalf("hydratest: create client: %v", err)
	}
	if out.ClientID != c.ID || out.ClientSecret != c.Secret {
		t.Fatalf("hydratest: create client: Hydra answered client_id %q, secret set %v; want %q", out.ClientID, out.ClientSecret != "", c.ID)
	}
	return c.ID, c.Secret
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// adminJSON calls the admin API with an optional JSON body and decodes a JSON
// answer into out (if non-nil). Non-2xx answers are errors carrying the body.
func (h *Hydra) adminJSON(method, path string, query map[string]string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.admin+path, rd)
	if err != nil {
		return err
	}
	if len(query) > 0 {
		q := req.URL.Query()
		for k, v := range query {
			q.Set(k, v)
		}
		req.URL.RawQuery = q.Encode()
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
		}
	}
	return nil
}
