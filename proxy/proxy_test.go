package proxy_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/devprovider"
	"github.com/authgate/authgate/internal/flowtest"
	"github.com/authgate/authgate/requestid"
)

// TestBearer: the Authorization header works without cookies, and an
// ambiguous one is refused.
func TestBearer(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	tok := env.AccessToken("bob", nil)
	b := env.NewBrowser()
	b.LoginAs("")
	sess := b.Session()
	for _, tc := range []struct {
		name   string
		header []string
		status int
		reason string
	}{
		{"bearer", []string{"Authorization", "Bearer " + tok}, 200, ""},
		{"lower-case scheme", []string{"Authorization", "bearer " + tok}, 200, ""},
		{"two Authorization headers", []string{"Authorization", "Bearer " + tok, "Authorization", "Bearer " + tok}, 401, "authorization_header_invalid"},
		{"two tokens in one header", []string{"Authorization", "Bearer " + tok + " " + tok}, 401, "authorization_header_invalid"},
		{"Basic", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:bob"))}, 401, "authorization_header_invalid"},
		{"empty bearer", []string{"Authorization", "Bearer "}, 401, "authorization_header_invalid"},
		{"token without scheme", []string{"Authorization", tok}, 401, "authorization_header_invalid"},
		{"unreadable cookie and a good bearer", []string{"Cookie", env.Jar.Auth.Name + "=garbage", "Authorization", "Bearer " + tok}, 200, ""},
		{"unreadable cookie alone", []string{"Cookie", env.Jar.Auth.Name + "=garbage"}, 401, "cookie_invalid"},
		{"refresh cookie value in the session cookie", []string{"Cookie", env.Jar.Auth.Name + "=" + sess.Sealed[env.Jar.Refresh.Name]}, 401, "cookie_invalid"},
		{"ID token cookie value in the session cookie", []string{"Cookie", env.Jar.Auth.Name + "=" + sess.Sealed[env.Jar.ID.Name]}, 401, "cookie_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Upstream.Count()
			resp, body := rawRequest(t, env, "GET", "/api/x", append([]string{"Accept", "application/json"}, tc.header...)...)
			if tc.status == 200 {
				if resp.StatusCode != 200 || env.Upstream.Last().Header.Get("X-Role") != "support" {
					t.Fatalf("status %d %s", resp.StatusCode, body)
				}
				return
			}
			wantError(t, tc.name, resp.StatusCode, body, tc.status, tc.reason)
			if env.Upstream.Count() != before {
				t.Error("refused request reached the upstream")
			}
		})
	}
}

// TestRejectedTokens (§4, §9): no token that fails verification passes,
// whether it comes as a bearer token or inside a genuine session cookie.
func TestRejectedTokens(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	// An impostor provider: same issuer URL, same client, its own key.
	impostor, err := devprovider.New(devprovider.Options{
		BaseURL: env.ProviderURL, Slug: flowtest.Slug, ClientID: flowtest.ClientID,
		ClientSecret: env.Provider.ClientSecret(), Users: flowtest.DefaultUsers, Alg: "ES256",
	})
	if err != nil {
		t.Fatal(err)
	}
	good := env.AccessToken("alice", nil)
	claims := func(extra map[string]any) map[string]any {
		parts := strings.Split(good, ".")
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		m := map[string]any{}
		_ = json.Unmarshal(b, &m)
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	sign := func(p *devprovider.Provider, header, extra map[string]any) string {
		tok, err := p.Sign(header, claims(extra))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	for _, tc := range []struct {
		name, token, reason string
	}{
		{"another key, its own kid", sign(impostor, nil, nil), "token_unknown_key"},
		{"another key, the real kid", sign(impostor, map[string]any{"kid": env.Provider.KeyID()}, nil), "token_signature"},
		{"another key, no kid", sign(impostor, map[string]any{"kid": nil}, nil), "token_signature"},
		{"wrong issuer", env.AccessToken("alice", map[string]any{"iss": "http://evil.example/application/o/authgate/"}), "token_issuer"},
		{"issuer without trailing slash", env.AccessToken("alice", map[string]any{"iss": strings.TrimSuffix(env.Config.Issuer, "/")}), "token_issuer"},
		{"wrong audience", env.AccessToken("alice", map[string]any{"aud": "other-client"}), "token_audience"},
		{"audience missing", env.AccessToken("alice", map[string]any{"aud": nil}), "token_audience"},
		{"alg none", sign(env.Provider, map[string]any{"alg": "none"}, nil), "token_malformed"},
		{"alg none with a signature", sign(env.Provider, map[string]any{"alg": "none"}, nil) + "c2ln", "token_algorithm"},
		{"alg NONE", sign(env.Provider, map[string]any{"alg": "NONE"}, nil) + "c2ln", "token_algorithm"},
		{"HS256 keyed with the client secret", sign(env.Provider, map[string]any{"alg": "HS256"}, nil), "token_algorithm"},
		{"expired", env.AccessToken("alice", map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}), "token_expired"},
		{"not yet valid", env.AccessToken("alice", map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), "token_not_yet_valid"},
		{"no exp", env.AccessToken("alice", map[string]any{"exp": nil}), "token_claims"},
		{"no sub", env.AccessToken("alice", map[string]any{"sub": nil}), "token_claims"},
		{"tampered payload", tamper(good), "token_signature"},
		{"garbage", "not.a.jwt", "token_malformed"},
		{"oversized", strings.Repeat("a", 20<<10) + ".b.c", "token_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Upstream.Count()
			resp, body := rawRequest(t, env, "GET", "/x", "Authorization", "Bearer "+tc.token, "Accept", "application/json")
			wantError(t, "bearer", resp.StatusCode, body, http.StatusUnauthorized, tc.reason)
			if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			// The same token sealed into an authentic session cookie.
			sealed, err := env.Jar.Seal(env.Jar.Auth, tc.token, now.Add(time.Hour))
			if err == nil {
				resp, body = rawRequest(t, env, "GET", "/x", "Cookie", env.Jar.Auth.Name+"="+sealed, "Accept", "application/json")
				wantError(t, "cookie", resp.StatusCode, body, http.StatusUnauthorized, tc.reason)
			}
			if env.Upstream.Count() != before {
				t.Error("a rejected token reached the upstream")
			}
		})
	}
	// Control: the untouched token passes, and so does an array audience.
	for _, tok := range []string{good, env.AccessToken("alice", map[string]any{"aud": []string{"x", flowtest.ClientID}})} {
		if resp, body := rawRequest(t, env, "GET", "/x", "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
			t.Fatalf("valid token refused: %d %s", resp.StatusCode, body)
		}
	}
}

// tamper flips the role of a token's payload without re-signing it.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	b = []byte(strings.Replace(string(b), `"groups":[`, `"groups":["ecosire-admins",`, 1))
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

// TestUpstreamDown: an unreachable upstream is a 502 with a stable code.
func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := flowtest.New(t, flowtest.Options{UpstreamURL: "http://" + addr, PublicRoutes: "/public/"})
	for _, h := range [][]string{
		{"Authorization", "Bearer " + env.AccessToken("alice", nil)},
		nil,
	} {
		path := "/x"
		if h == nil {
			path = "/public/x"
		}
		resp, body := rawRequest(t, env, "GET", path, h...)
		wantError(t, path, resp.StatusCode, body, http.StatusBadGateway, "upstream_unavailable")
		// authgate's own answer: the client can quote its request id.
		if id := resp.Header.Values("X-Request-Id"); len(id) != 1 || id[0] == "" {
			t.Errorf("%s: 502 X-Request-Id %q, want one id", path, id)
		}
		if strings.Contains(string(body), addr) {
			t.Errorf("502 body names the upstream: %s", body)
		}
	}
}

// Without an upstream (forward-auth only), a request outside the auth prefix
// is authgate's own 404, and carries the request id like every own answer.
func TestNoUpstreamAnswersWithRequestID(t *testing.T) {
	g := newBenchGate(t, "UPSTREAM_URL", "")
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "http://app.test/x", nil)
	req.Header.Set(requestid.Header, "own-404")
	g.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound || rec.Header().Get(requestid.Header) != "own-404" {
		t.Errorf("status %d, X-Request-Id %q; want 404 with own-404", rec.Code, rec.Header().Values(requestid.Header))
	}
}

// TestWebSocketUpgrade: an authenticated upgrade is switched through to the
// upstream, with identity headers; an anonymous one is refused.
func TestWebSocketUpgrade(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	b := env.NewBrowser()
	b.LoginAs("")

	dial := func(cookie string) (net.Conn, *bufio.Reader, *http.Response) {
		conn, err := net.Dial("tcp", env.Server.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-Fetch-Mode: websocket\r\n"+
			"X-User-Sub: evil\r\nCookie: %s\r\n\r\n", env.Server.Listener.Addr(), cookie)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return conn, br, resp
	}

	conn, br, resp := dial(sessionCookie(b))
	defer conn.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	prefix := make([]byte, len("echo:"))
	if _, err := io.ReadFull(br, prefix); err != nil || string(prefix) != "echo:" {
		t.Fatalf("upstream greeting %q: %v", prefix, err)
	}
	for _, msg := range []string{"hello", "world"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q: %v", got, err)
		}
	}
	seen := env.Upstream.Last().Header
	if seen.Get("X-User-Sub") == "evil" || seen.Get("X-User-Sub") == "" || seen.Get("X-Role") != "admin" {
		t.Errorf("upgrade reached the upstream with %v", seen)
	}

	anon, _, resp := dial("x=1")
	defer anon.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous upgrade: %d, want 401", resp.StatusCode)
	}
}

// TestServerSentEvents: a stream passes through event by event, not buffered.
func TestServerSentEvents(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	b := env.NewBrowser()
	b.LoginAs("")
	req := b.NewRequest(http.MethodGet, "/sse", nil, "Accept", "text/event-stream")
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("SSE: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string)
	go func() {
		defer close(events)
		br := bufio.NewReader(resp.Body)
		for {
			ev, err := flowtest.ReadEvent(br)
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	for i := 1; i <= flowtest.SSEEvents; i++ {
		// The upstream sends event i+1 only after event i arrived here.
		select {
		case ev := <-events:
			if want := fmt.Sprintf("event %d", i); ev != want {
				t.Fatalf("got %q, want %q", ev, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d did not arrive: the stream is buffered", i)
		}
		if i < flowtest.SSEEvents {
			env.Upstream.SSENext <- struct{}{}
		}
	}
}

// TestJWKSOutage (§4): with the provider's JWKS unreachable, the last good
// key set keeps serving; a token under a key authgate never saw is refused.
func TestJWKSOutage(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	env.Provider.SetJWKSDown(true)
	for i := range 3 {
		// Fresh tokens, so no verification cache answers.
		if resp, body := rawRequest(t, env, "GET", "/x", "Authorization", "Bearer "+env.AccessToken("alice", nil)); resp.StatusCode != 200 {
			t.Fatalf("request %d with the JWKS down: %d %s", i, resp.StatusCode, body)
		}
	}
	if err := env.Provider.RotateKey(); err != nil {
		t.Fatal(err)
	}
	before := env.Upstream.Count()
	resp, body := rawRequest(t, env, "GET", "/x", "Authorization", "Bearer "+env.AccessToken("alice", nil), "Accept", "application/json")
	if resp.StatusCode != http.StatusUnauthorized || env.Upstream.Count() != before {
		t.Fatalf("token under an unknown key with the JWKS down: %d %s", resp.StatusCode, body)
	}
}
