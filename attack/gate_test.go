// Package attack is authgate's adversarial suite: a malicious OpenID provider
// (internal/evilop) and hostile clients against authgate wired exactly as the
// command wires it (package server), plus fault injection with real
// redis-server processes and limits checked on the built binary. SECURITY.md
// maps every threat to the tests here and in the packages' own suites.
package attack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/internal/evilop"
	"github.com/authgate/authgate/internal/flowtest"
	"github.com/authgate/authgate/server"
	"github.com/authgate/authgate/store"
)

// gate is authgate in-process in front of a recording upstream, configured
// by environment against an evilop provider.
type gate struct {
	t        testing.TB
	URL      string
	Config   *config.Config
	Clock    *flowtest.Clock
	Logs     *flowtest.LogBuffer
	Upstream *upstream
	OP       *evilop.Provider
}

type gateOptions struct {
	// env adds or overrides environment variables.
	env map[string]string
	// store replaces the store the configuration names (nil: memory, or
	// Redis when env has REDIS_URL — the command's own choice).
	store store.Store
}

// startGate runs authgate against op until the test ends.
func startGate(t testing.TB, op *evilop.Provider, o gateOptions) *gate {
	t.Helper()
	g, err := newGate(t, op, o)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	return g
}

// newGate is startGate that returns server.New's error (start-up refusals).
func newGate(t testing.TB, op *evilop.Provider, o gateOptions) (*gate, error) {
	t.Helper()
	g := &gate{t: t, Clock: &flowtest.Clock{}, Logs: &flowtest.LogBuffer{}, OP: op}
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := h.Load(); p != nil {
			(*p).ServeHTTP(w, r)
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	g.Upstream = newUpstream(t)
	op.SetRedirectURI(g.URL + "/auth/callback")
	env := map[string]string{
		"OIDC_ISSUER_URL":     op.Issuer,
		"OIDC_CLIENT_ID":      op.ClientID,
		"OIDC_CLIENT_SECRET":  op.ClientSecret,
		"API_URL":             g.URL,
		"UPSTREAM_URL":        g.Upstream.URL,
		"COOKIE_SECRET":       randomString(32),
		"AUTHGATE_LOG_LEVEL":  "debug",
		"AUTHGATE_LOG_FORMAT": "json",
	}
	for k, v := range o.env {
		env[k] = v
	}
	cfg, err := config.Load(config.Source{Env: func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g.Config = cfg
	log := slog.New(slog.NewJSONHandler(g.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	app, err := server.New(ctx, cfg, log, server.Options{Store: o.store, Now: g.Clock.Now})
	if err != nil {
		return nil, err
	}
	t.Cleanup(app.Close)
	handler := app.Handler
	h.Store(&handler)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("authgate log:\n%s", g.Logs.String())
		}
	})
	return g, nil
}

// upstream is the protected app: it counts what reaches it.
type upstream struct {
	URL string
	mu  sync.Mutex
	n   int
	sub []string // X-User-Sub of every request
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.n++
		u.sub = append(u.sub, r.Header.Get("X-User-Sub"))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "upstream "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

// Count is how many requests reached the upstream.
func (u *upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

// client is a browser that keeps cookies and never follows redirects.
type client struct {
	t    testing.TB
	base string
	http *http.Client
	jar  *cookiejar.Jar
}

func (g *gate) newClient() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: g.t, base: g.URL, jar: jar, http: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is an answer with its body read and the time it took.
type response struct {
	*http.Response
	Body    []byte
	Elapsed time.Duration
}

func (c *client) do(method, u string, body io.Reader, header ...string) *response {
	c.t.Helper()
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = c.base + u
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{Response: resp, Body: b, Elapsed: time.Since(start)}
}

func (c *client) get(u string, header ...string) *response {
	c.t.Helper()
	return c.do(http.MethodGet, u, nil, header...)
}

// navigate is a top-level browser navigation.
func (c *client) navigate(u string) *response {
	c.t.Helper()
	return c.get(u, "Accept", "text/html", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none")
}

// startLogin runs /auth/login and the provider's authorize step and returns
// the callback URL the provider sent the browser to.
func (c *client) startLogin(rd string) string {
	c.t.Helper()
	r := c.navigate("/auth/login?rd=" + url.QueryEscape(rd))
	if r.StatusCode != http.StatusFound {
		c.t.Fatalf("login: %d %s", r.StatusCode, r.Body)
	}
	a := c.navigate(r.Header.Get("Location"))
	if a.StatusCode != http.StatusFound {
		c.t.Fatalf("authorize: %d %s", a.StatusCode, a.Body)
	}
	return a.Header.Get("Location")
}

// login runs a login up to the callback's answer.
func (c *client) login() *response {
	c.t.Helper()
	return c.navigate(c.startLogin("/app"))
}

// exchange redeems code as the completion page does.
func (c *client) exchange(code string) *response {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"code": code})
	return c.do(http.MethodPost, "/auth/exchange", strings.NewReader(string(b)),
		"Content-Type", "application/json", "Origin", c.base, "Sec-Fetch-Site", "same-origin")
}

// fullLogin runs the whole login and fails the test unless it ends with a
// session.
func (c *client) fullLogin() {
	c.t.Helper()
	cb := c.login()
	code := exchangeCode(c.t, cb)
	if r := c.exchange(code); r.StatusCode != http.StatusOK {
		c.t.Fatalf("exchange: %d %s", r.StatusCode, r.Body)
	}
}

// exchangeCode returns the exchange code of a successful callback.
func exchangeCode(t testing.TB, cb *response) string {
	t.Helper()
	if cb.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d, want 302: %s", cb.StatusCode, cb.Body)
	}
	loc, _ := url.Parse(cb.Header.Get("Location"))
	code := loc.Query().Get("exchange")
	if code == "" {
		t.Fatalf("callback Location %q has no exchange code", loc)
	}
	return code
}

// api is what fetch() sends.
var api = []string{"Accept", "application/json", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Site", "same-origin"}

// wantError checks an error answer: status and {"error": code}.
func wantError(t testing.TB, what string, r *response, status int, code string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.StatusCode, status, r.Body)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Error != code {
		t.Fatalf("%s: body %q, want error %q", what, r.Body, code)
	}
}

// wantRefused checks a refused callback: the error, and nothing a session
// could be made of — no cookie, no redirect, no exchange code.
func wantRefused(t testing.TB, what string, r *response, status int, code string) {
	t.Helper()
	wantError(t, what, r, status, code)
	if len(r.Cookies()) != 0 {
		t.Errorf("%s: refused callback set cookies %v", what, r.Header.Values("Set-Cookie"))
	}
	if loc := r.Header.Get("Location"); loc != "" || strings.Contains(string(r.Body), "exchange=") {
		t.Errorf("%s: refused callback hands out something: Location %q body %s", what, loc, r.Body)
	}
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
