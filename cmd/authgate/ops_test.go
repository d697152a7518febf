package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/devprovider"
	"github.com/authgate/authgate/internal/testproc"
	"github.com/authgate/authgate/requestid"
)

// stack is authgate as the command runs it (runServer: proxy listener,
// admin listener with /metrics, JSON logs), in front of a recording upstream,
// logging in against the embedded provider with AutoLogin.
type stack struct {
	t            *testing.T
	URL, Admin   string
	ProviderURL  string
	Logs         *testproc.Buffer
	ClientSecret string
	CookieSecret string
	Provider     *devprovider.Provider
	upstream     *upstream
	secrets      *secretLog
}

// secretLog collects every secret value the flow handles: tokens the
// provider issued, authorization codes, exchange codes, cookie values.
type secretLog struct {
	mu     sync.Mutex
	values map[string]string // value → what it is
}

func (s *secretLog) add(kind, v string) {
	if len(v) < 8 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[v] = kind
	// A JWT's signature alone is as telling as the whole token.
	if parts := strings.Split(v, "."); len(parts) == 3 && len(parts[2]) >= 16 {
		s.values[parts[2]] = kind + " signature"
	}
}

func (s *secretLog) snapshot() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.values))
	for k, v := range s.values {
		out[k] = v
	}
	return out
}

type upstream struct {
	*httptest.Server
	mu  sync.Mutex
	ids []string // X-Request-Id of every request received
}

func (u *upstream) requestIDs() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.ids...)
}

func startStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{t: t, Logs: &testproc.Buffer{}, secrets: &secretLog{values: map[string]string{}}}
	lnMain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lnAdmin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.URL, s.Admin = "http://"+lnMain.Addr().String(), "http://"+lnAdmin.Addr().String()

	s.upstream = &upstream{}
	s.upstream.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.upstream.mu.Lock()
		s.upstream.ids = append(s.upstream.ids, r.Header.Get("X-Request-Id"))
		s.upstream.mu.Unlock()
		if r.URL.Path != "/quiet" {
			w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id")) // as many frameworks echo it
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": r.Header.Get("X-User-Sub")})
	}))
	t.Cleanup(s.upstream.Close)

	// The provider, wrapped to note every token and code it hands out.
	var prov *devprovider.Provider
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		prov.ServeHTTP(rec, r)
		if strings.HasSuffix(r.URL.Path, "/token/") {
			var body map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			for _, k := range []string{"access_token", "refresh_token", "id_token"} {
				if v, ok := body[k].(string); ok {
					s.secrets.add(k, v)
				}
			}
		}
		if loc, err := url.Parse(rec.Header().Get("Location")); err == nil {
			s.secrets.add("authorization code", loc.Query().Get("code"))
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(ps.Close)
	s.ProviderURL = ps.URL
	s.ClientSecret, s.CookieSecret = randomString(32), randomString(32)
	prov, err = devprovider.New(devprovider.Options{
		BaseURL:                ps.URL,
		Slug:                   "authgate",
		ClientID:               "authgate-test",
		ClientSecret:           s.ClientSecret,
		RedirectURIs:           []string{s.URL + "/auth/callback"},
		PostLogoutRedirectURIs: []string{s.URL + "/"},
		Users: []devprovider.User{
			{Username: "alice", Password: "alice", Email: "alice@example.com", Name: "Alice", OrganizationID: "org-1", Groups: []string{"ecosire-admins"}},
		},
		AutoLogin: "alice",
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Provider = prov

	env := map[string]string{
		"AUTHENTIK_URL":           ps.URL,
		"AUTHENTIK_APP_SLUG":      "authgate",
		"AUTHENTIK_CLIENT_ID":     "authgate-test",
		"AUTHENTIK_CLIENT_SECRET": s.ClientSecret,
		"API_URL":                 s.URL,
		"UPSTREAM_URL":            s.upstream.URL,
		"COOKIE_SECRET":           s.CookieSecret,
		"AUTHGATE_LOG_LEVEL":      "debug",
	}
	cfg, err := config.Load(config.Source{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	log := newLogger(s.Logs, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, cfg, log, &listeners{main: lnMain, admin: lnAdmin}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runServer: %v", err)
			}
		case <-time.After(25 * time.Second):
			t.Error("runServer did not stop")
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(s.Admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("authgate not ready:\n%s", s.Logs.String())
		}
	}
	return s
}

// browser is a cookie-keeping client that does not follow redirects, and
// sends a fresh request id (t-1, t-2 …) with every request to authgate.
type browser struct {
	s      *stack
	client *http.Client
	n      int
	ids    []string
}

func (s *stack) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{s: s, client: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type response struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

func (b *browser) do(method, u string, body io.Reader, hdr ...string) response {
	b.s.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.s.t.Fatal(err)
	}
	if strings.HasPrefix(u, b.s.URL) {
		b.n++
		id := "t-" + strconv.Itoa(b.n)
		req.Header.Set("X-Request-Id", id)
		b.ids = append(b.ids, id)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.s.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: string(data)}
	if loc, err := resp.Location(); err == nil {
		r.Location = loc.String()
	}
	for _, c := range resp.Cookies() {
		b.s.secrets.add("cookie "+c.Name, c.Value)
	}
	if strings.HasPrefix(u, b.s.URL) {
		if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != req.Header.Get("X-Request-Id") {
			b.s.t.Errorf("%s %s: response X-Request-Id %q, sent %q", method, u, got, req.Header.Get("X-Request-Id"))
		}
	}
	return r
}

// login runs the whole flow: protected page → /auth/login → provider
// (AutoLogin) → /auth/callback → /auth/complete → POST /auth/exchange.
func (b *browser) login() {
	t := b.s.t
	t.Helper()
	next := b.s.URL + "/private"
	for i := 0; i < 10; i++ {
		r := b.do("GET", next, nil, "Accept", "text/html")
		if r.Status != http.StatusFound && r.Status != http.StatusSeeOther {
			t.Fatalf("GET %s: %d %s", next, r.Status, r.Body)
		}
		next = r.Location
		if strings.Contains(next, "/auth/complete") {
			break
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Query().Get("exchange") == "" {
		t.Fatalf("login did not reach the completion page: %s", next)
	}
	code := u.Query().Get("exchange")
	b.s.secrets.add("exchange code", code)
	body, _ := json.Marshal(map[string]string{"code": code})
	r := b.do("POST", b.s.URL+"/auth/exchange", bytes.NewReader(body), "Content-Type", "application/json", "Origin", b.s.URL)
	if r.Status != http.StatusOK {
		t.Fatalf("exchange: %d %s", r.Status, r.Body)
	}
}

// logLines decodes the JSON log lines.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// Answers authgate writes itself carry the request's id; a relayed response
// is the upstream's: it carries the id once when the upstream echoes it, and
// not at all when the upstream does not.
func TestRequestIDOnAnswers(t *testing.T) {
	s := startStack(t)
	tok, err := s.Provider.AccessToken("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, sent, bearer string
		status                   int
		want                     string // "sent", "generated" or "none"
	}{
		{"denial", "/private", "deny-1", "", http.StatusUnauthorized, "sent"},
		{"denial, id generated", "/private", "", "", http.StatusUnauthorized, "generated"},
		{"denial, insane id replaced", "/private", "a b", "", http.StatusUnauthorized, "generated"},
		{"own endpoint", "/auth/session", "own-1", "", http.StatusUnauthorized, "sent"},
		{"relayed, upstream echoes", "/private", "relay-1", tok, http.StatusOK, "sent"},
		{"relayed, upstream silent", "/quiet", "relay-2", tok, http.StatusOK, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL+tc.path, nil)
			req.Header.Set("Accept", "application/json")
			if tc.sent != "" {
				req.Header.Set("X-Request-Id", tc.sent)
			}
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			got := resp.Header.Values("X-Request-Id")
			switch tc.want {
			case "sent":
				if len(got) != 1 || got[0] != tc.sent {
					t.Errorf("X-Request-Id %q, want [%q]", got, tc.sent)
				}
			case "generated":
				if len(got) != 1 || got[0] == tc.sent || len(got[0]) != 22 {
					t.Errorf("X-Request-Id %q, want one generated id", got)
				}
			case "none":
				if len(got) != 0 {
					t.Errorf("X-Request-Id %q on a response the upstream sent without one", got)
				}
			}
		})
	}
	if ids := s.upstream.requestIDs(); len(ids) != 2 || ids[0] != "relay-1" || ids[1] != "relay-2" {
		t.Errorf("upstream received ids %q, want [relay-1 relay-2]", ids)
	}
}

// A whole session — login, proxied requests, refresh, logout, denials — with
// every log line checked: each line made while serving a request carries
// that request's id, and no token, code, cookie value or secret appears.
func TestLogsCarryRequestIDAndNoSecrets(t *testing.T) {
	s := startStack(t)
	startup := len(logLines(t, s.Logs.String()))
	b := s.browser()

	// Denied first: no session (navigation and API), then a forged bearer.
	if r := b.do("GET", s.URL+"/private", nil, "Accept", "application/json"); r.Status != http.StatusUnauthorized {
		t.Fatalf("no session: %d", r.Status)
	}
	if r := b.do("GET", s.URL+"/private", nil, "Authorization", "Bearer aaaa.bbbb.cccc"); r.Status != http.StatusUnauthorized {
		t.Fatalf("forged bearer: %d", r.Status)
	}
	b.login()
	for i := 0; i < 2; i++ {
		if r := b.do("GET", s.URL+"/private", nil, "Accept", "application/json"); r.Status != http.StatusOK {
			t.Fatalf("after login: %d %s", r.Status, r.Body)
		}
	}
	if r := b.do("POST", s.URL+"/auth/refresh", nil, "Origin", s.URL); r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	if r := b.do("GET", s.URL+"/private", nil, "Accept", "application/json"); r.Status != http.StatusOK {
		t.Fatalf("after refresh: %d %s", r.Status, r.Body)
	}
	if r := b.do("POST", s.URL+"/auth/logout", nil, "Origin", s.URL); r.Status != http.StatusOK {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	// Request ids reach the upstream unchanged.
	for _, id := range s.upstream.requestIDs() {
		if !strings.HasPrefix(id, "t-") {
			t.Errorf("upstream got X-Request-Id %q, not the client's", id)
		}
	}
	if len(s.upstream.requestIDs()) != 3 {
		t.Errorf("upstream saw %d requests, want 3", len(s.upstream.requestIDs()))
	}
	// An unusable client id is replaced, and the replacement is what the
	// client, the upstream and the log see.
	b.client.Jar, _ = cookiejar.New(nil)
	req, _ := http.NewRequest("GET", s.URL+"/private", nil)
	req.Header.Set("X-Request-Id", "bad id \"quoted\" "+strings.Repeat("y", 80))
	req.Header.Set("Authorization", "Bearer "+s.mustAccessToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	generated := resp.Header.Get("X-Request-Id")
	if !requestid.Valid(generated) || strings.Contains(generated, "bad") {
		t.Errorf("generated request id %q", generated)
	}
	if ids := s.upstream.requestIDs(); ids[len(ids)-1] != generated {
		t.Errorf("upstream got %q, client got %q", ids[len(ids)-1], generated)
	}

	lines := logLines(t, s.Logs.String())
	ids := map[string]bool{generated: true}
	for _, id := range b.ids {
		ids[id] = true
	}
	if len(lines)-startup < 6 {
		t.Fatalf("only %d log lines for the session:\n%s", len(lines)-startup, s.Logs.String())
	}
	seen := map[string]bool{}
	for _, l := range lines[startup:] {
		id, _ := l["request_id"].(string)
		if !ids[id] {
			t.Errorf("log line without the request's id: %v", l)
		}
		msg, _ := l["msg"].(string)
		if reason, ok := l["reason"].(string); ok {
			msg += ":" + reason
		}
		seen[msg] = true
	}
	for _, want := range []string{"login", "refresh", "logout", "deny:no_token", "deny:token_malformed"} {
		if !seen[want] {
			t.Errorf("no %q log line; saw %v", want, seen)
		}
	}

	all := s.Logs.String()
	secrets := s.secrets.snapshot()
	secrets[s.ClientSecret] = "client secret"
	secrets[s.CookieSecret] = "cookie secret"
	kinds := map[string]bool{}
	for v, kind := range secrets {
		kinds[strings.Fields(kind)[0]] = true
		if strings.Contains(all, v) {
			t.Errorf("the log contains a %s", kind)
		}
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token", "authorization", "exchange", "cookie"} {
		if !kinds[k] {
			t.Errorf("the test collected no %s to look for (collected %v)", k, kinds)
		}
	}
}

func (s *stack) mustAccessToken() string {
	tok, err := s.Provider.AccessToken("alice", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// scrape returns the admin listener's metrics as "name{labels}" → value.
func (s *stack) scrape() map[string]float64 {
	s.t.Helper()
	resp, err := http.Get(s.Admin + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			s.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsMove(t *testing.T) {
	s := startStack(t)
	before := s.scrape()
	for name, v := range before {
		if strings.HasPrefix(name, "authgate_decisions_total") && v != 0 {
			t.Errorf("%s = %v before any request", name, v)
		}
	}
	b := s.browser()
	b.do("GET", s.URL+"/private", nil, "Accept", "application/json") // deny no_token
	b.login()
	b.do("GET", s.URL+"/private", nil, "Accept", "application/json") // allow
	b.do("GET", s.URL+"/private", nil, "Accept", "application/json") // allow, cache hit
	b.do("POST", s.URL+"/auth/refresh", nil, "Origin", s.URL)
	s.browser().do("GET", s.URL+"/private", nil, "Authorization", "Bearer x.y.z") // no cookie: the bearer decides

	m := s.scrape()
	atLeast := map[string]float64{
		`authgate_decisions_total{outcome="deny",reason="no_token"}`:         2, // before login and its first hop
		`authgate_decisions_total{outcome="allow",reason="authenticated"}`:   2,
		`authgate_decisions_total{outcome="deny",reason="token_malformed"}`:  1,
		`authgate_token_cache_hits_total`:                                    1,
		`authgate_token_cache_misses_total`:                                  2,
		`authgate_token_verification_seconds_count{cache="hit"}`:             1,
		`authgate_token_verification_seconds_count{cache="miss"}`:            2,
		`authgate_jwks_fetches_total`:                                        1,
		`authgate_token_endpoint_requests_total{grant="authorization_code"}`: 1,
		`authgate_token_endpoint_requests_total{grant="refresh_token"}`:      1,
		`authgate_refreshes_total{outcome="success"}`:                        1,
	}
	for name, want := range atLeast {
		got, ok := m[name]
		if !ok {
			t.Errorf("%s not exported", name)
		} else if got < want {
			t.Errorf("%s = %v, want ≥ %v", name, got, want)
		}
	}
	exact := map[string]float64{
		`authgate_jwks_fetch_failures_total`:                                                     0,
		`authgate_token_endpoint_errors_total{grant="authorization_code",kind="invalid_client"}`: 0,
		`authgate_store_errors_total{op="take"}`:                                                 0,
		`authgate_http_requests_in_flight`:                                                       0,
	}
	for name, want := range exact {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (exported %v), want %v", name, got, ok, want)
		}
	}
	// The process and Go collectors stay on the same registry.
	if _, ok := m["go_goroutines"]; !ok {
		t.Error("go_goroutines missing from /metrics")
	}
}
