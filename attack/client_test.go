package attack

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/flowtest"
)

// raw sends one request exactly as written (request line and headers) over
// TCP and reads the answer: what a hostile client sends is not what
// net/http's client would.
func raw(t testing.TB, addr, requestLine string, header ...string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s\r\nConnection: close\r\n", requestLine)
	if !slices.ContainsFunc(header, func(h string) bool { return strings.EqualFold(h, "Host") }) {
		fmt.Fprintf(&b, "Host: %s\r\n", addr)
	}
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	b.WriteString("\r\n")
	// A server that refuses early may close before it read everything; its
	// answer is still there to read.
	_, _ = io.WriteString(conn, b.String())
	method, _, _ := strings.Cut(requestLine, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%q: %v", requestLine, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// TestRawRequestLines sends what only a hostile client sends, raw over TCP:
// absolute-form and authority-form request targets, asterisk-form, "#" and
// ";" inside the path, and odd or lower-case methods. None of it reaches a
// protected path of the upstream without a session, and none is answered
// 2xx by authgate itself.
func TestRawRequestLines(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{PublicRoutes: "/public/,/health"})
	addr := env.Server.Listener.Addr().String()
	for _, tc := range []struct {
		line   string
		public bool // may reach the upstream (a public path)
	}{
		// absolute-form (RFC 9112 §3.2.2): the path is what counts, the
		// authority is the client's word.
		{"GET http://evil/admin HTTP/1.1", false},
		{"GET http://evil.example:80/admin?x=1 HTTP/1.1", false},
		{"GET https://127.0.0.1/admin HTTP/1.1", false},
		{"GET HTTP://EVIL/admin HTTP/1.1", false},
		{"GET http://user:pw@evil/admin HTTP/1.1", false},
		{"GET http://evil/public/../admin HTTP/1.1", false},
		{"GET http://evil/public/%2e%2e/admin HTTP/1.1", false},
		{"GET http://evil//admin HTTP/1.1", false},
		{"GET http://evil HTTP/1.1", false},
		{"GET http://evil/public/x HTTP/1.1", true},
		{"GET ftp://evil/admin HTTP/1.1", false},
		{"GET //evil/admin HTTP/1.1", false},
		// authority-form and asterisk-form outside CONNECT/OPTIONS.
		{"CONNECT evil:443 HTTP/1.1", false},
		{"CONNECT 127.0.0.1:80 HTTP/1.1", false},
		{"GET evil:443 HTTP/1.1", false},
		{"GET * HTTP/1.1", false},
		{"OPTIONS * HTTP/1.1", false},
		// "#" is never part of a request target; a server that cuts there
		// and one that does not see different paths.
		{"GET /public/x#/../../admin HTTP/1.1", false},
		{"GET /public/#/../admin HTTP/1.1", false},
		{"GET /admin#/public/ HTTP/1.1", false},
		{"GET /admin# HTTP/1.1", false},
		{"GET /public/%23/../admin HTTP/1.1", false},
		{"GET /admin%23/public/x HTTP/1.1", false},
		{"GET /public/x#frag HTTP/1.1", false}, // refused like a forward-auth description with "#"
		// ";" path parameters (Tomcat, Jetty and Spring strip them).
		{"GET /admin;/public/ HTTP/1.1", false},
		{"GET /admin;x=/public/x HTTP/1.1", false},
		{"GET /public;/admin HTTP/1.1", false},
		{"GET /public/..;/admin HTTP/1.1", false},
		{"GET /public/;/../admin HTTP/1.1", false},
		{"GET /;/admin HTTP/1.1", false},
		{"GET /public;jsessionid=1/x HTTP/1.1", false},
		{"GET /health;x=1 HTTP/1.1", false},
		// Odd methods on a protected path.
		{"OPTIONS /admin HTTP/1.1", false},
		{"TRACE /admin HTTP/1.1", false},
		{"PROPFIND /admin HTTP/1.1", false},
		{"PATCH /admin HTTP/1.1", false},
		{"DELETE /admin HTTP/1.1", false},
		{"get /admin HTTP/1.1", false},
		{"FOO /admin HTTP/1.1", false},
		{"M-SEARCH /admin HTTP/1.1", false},
		{"HEAD /admin HTTP/1.1", false},
		{"GET /admin HTTP/1.0", false},
		{"GET /admin HTTP/0.9", false},
		{"GET /admin HTTP/2.0", false},
		{"PRI * HTTP/2.0", false},
	} {
		t.Run(tc.line, func(t *testing.T) {
			before := env.Upstream.Count()
			resp, body := raw(t, addr, tc.line, "Accept", "application/json", "X-User-Sub", "evil", "X-Original-URL", "/public/x")
			reached := env.Upstream.Count() > before
			if reached {
				seen := env.Upstream.Last()
				if !tc.public {
					t.Fatalf("reached the upstream as %q without a session: %d", seen.RequestURI, resp.StatusCode)
				}
				if seen.Header.Get("X-User-Sub") != "" {
					t.Fatalf("the client's identity header reached the upstream: %v", seen.Header)
				}
				if !strings.HasPrefix(seen.Path, "/public/") {
					t.Fatalf("a public request reached the upstream as %q", seen.RequestURI)
				}
				return
			}
			if resp.StatusCode/100 == 2 && !(tc.line == "OPTIONS * HTTP/1.1" && len(body) == 0) {
				// net/http answers "OPTIONS *" itself, empty, before any handler.
				t.Fatalf("%d without reaching the upstream: %s", resp.StatusCode, body)
			}
		})
	}
}

// TestForwardedDescriptionWithFragment: in forward-auth mode the front proxy
// describes the request; a "#" in the described URI is a path that a server
// cutting at "#" and one that does not read differently. Nginx passes
// $request_uri raw, so "GET /public/x#/../../admin" arrives as X-Original-URL
// "http://host/public/x#/../../admin": judged as /public/x if the fragment
// is cut, while the upstream may resolve the dot segments to /admin. authgate
// refuses any description with a "#".
func TestForwardedDescriptionWithFragment(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{PublicRoutes: "/public/"})
	addr := env.Server.Listener.Addr().String()
	for _, tc := range []struct {
		endpoint string
		header   []string
	}{
		{"/auth/verify", []string{"X-Original-URL", "http://" + addr + "/public/x#/../../admin", "X-Original-Method", "GET"}},
		{"/auth/verify", []string{"X-Original-URL", "http://" + addr + "/public/#", "X-Original-Method", "GET"}},
		{"/auth/verify", []string{"X-Original-URI", "/public/x#/../../admin", "X-Original-Method", "GET"}},
		{"/auth/forward", []string{"X-Forwarded-Uri", "/public/x#/../../admin", "X-Forwarded-Method", "GET", "X-Forwarded-Host", addr, "X-Forwarded-Proto", "http"}},
		{"/auth/forward", []string{"X-Forwarded-Uri", "/public/#x", "X-Forwarded-Method", "GET", "X-Forwarded-Host", addr, "X-Forwarded-Proto", "http"}},
		{"/auth/envoy/public/x#/../../admin", nil},
	} {
		resp, body := raw(t, addr, "GET "+tc.endpoint+" HTTP/1.1", append([]string{"Accept", "application/json"}, tc.header...)...)
		if resp.StatusCode/100 == 2 {
			t.Errorf("%s %v: %d %s — a description with a fragment was allowed", tc.endpoint, tc.header, resp.StatusCode, body)
		}
	}
	// The same descriptions without "#" are judged as usual.
	resp, _ := raw(t, addr, "GET /auth/verify HTTP/1.1", "X-Original-URL", "http://"+addr+"/public/x", "X-Original-Method", "GET")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("public description: %d", resp.StatusCode)
	}
}

// TestHostHeaderDoesNotSteerRedirects: the login URLs authgate sends a
// browser to are built from API_URL, never from the request's Host or a
// forwarded host, so a poisoned Host (or a cache keyed without it) cannot
// send users to a look-alike login.
func TestHostHeaderDoesNotSteerRedirects(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	addr := env.Server.Listener.Addr().String()
	for _, h := range [][]string{
		{"Host", "evil.example"},
		{"Host", addr, "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"},
		{"Host", addr, "Forwarded", "host=evil.example;proto=https"},
		{"Host", "evil.example", "X-Original-URL", "https://evil.example/x"},
	} {
		for _, line := range []string{"GET /app HTTP/1.1", "GET /auth/refresh?rd=/x HTTP/1.1", "GET http://evil.example/app HTTP/1.1"} {
			resp, body := raw(t, addr, line, append([]string{"Accept", "text/html", "Sec-Fetch-Mode", "navigate"}, h...)...)
			loc := resp.Header.Get("Location")
			if !allowedLocation(loc, env.URL) || strings.Contains(string(body), "evil.example") ||
				strings.Contains(resp.Header.Get("X-Auth-Login-Url"), "evil.example") {
				t.Errorf("%s %v: %d Location %q body %.100s", line, h, resp.StatusCode, loc, body)
			}
		}
	}
	// The provider's authorize URL carries authgate's registered redirect_uri.
	resp, _ := raw(t, addr, "GET /auth/login?rd=/ HTTP/1.1", "Host", "evil.example", "X-Forwarded-Host", "evil.example")
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "redirect_uri="+url.QueryEscape(env.URL+"/auth/callback")) {
		t.Errorf("login with a poisoned Host: Location %q", loc)
	}
}
