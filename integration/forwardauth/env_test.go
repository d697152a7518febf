package forwardauth_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/devprovider"
)

const (
	slug         = "authgate"
	clientID     = "authgate-forwardauth"
	clientSecret = "forwardauth-client-secret-0123456789abcdef"
	cookieSecret = "forwardauth-cookie-secret-0123456789abcdefghij"
	// accessTTL is short so the refresh test waits little; every other test
	// logs in afresh and is done long before its token expires.
	accessTTL = 4 * time.Second
	// leeway is AUTHGATE_TOKEN_LEEWAY (the smallest authgate accepts).
	leeway = time.Second
)

// users of the provider: alice maps to role admin (ecosire-admins), carol to
// the default role user.
var users = []devprovider.User{
	{Subject: "sub-alice", Username: "alice", Password: "alice", Email: "alice@example.com", Name: "Alice Admin", OrganizationID: "org-1", Groups: []string{"ecosire-admins", "staff"}},
	{Subject: "sub-carol", Username: "carol", Password: "carol", Email: "carol@example.com", Name: "Carol User", OrganizationID: "org-3", Groups: []string{"staff"}},
}

// identityHeaders are the headers authgate sets, in its default spelling.
var identityHeaders = []string{"X-User-Sub", "X-Org-Id", "X-Role", "X-User-Email", "X-User-Name", "X-User-Groups"}

// wantAlice and wantCarol are what the app must receive for them.
var (
	wantAlice = map[string]string{"X-User-Sub": "sub-alice", "X-Org-Id": "org-1", "X-Role": "admin", "X-User-Email": "alice@example.com", "X-User-Name": "Alice Admin", "X-User-Groups": "ecosire-admins,staff"}
	wantCarol = map[string]string{"X-User-Sub": "sub-carol", "X-Org-Id": "org-3", "X-Role": "user", "X-User-Email": "carol@example.com", "X-User-Name": "Carol User", "X-User-Groups": "staff"}
)

// provider is the embedded development provider, served over HTTP.
type provider struct {
	*devprovider.Provider
	URL string
}

func startProvider(t *testing.T, redirectURIs ...string) *provider {
	t.Helper()
	var p atomic.Pointer[devprovider.Provider]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	dp, err := devprovider.New(devprovider.Options{
		BaseURL:        srv.URL,
		Slug:           slug,
		ClientID:       clientID,
		ClientSecret:   clientSecret,
		RedirectURIs:   redirectURIs,
		Users:          users,
		AccessTokenTTL: accessTTL,
		AutoLogin:      "alice",
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Store(dp)
	return &provider{Provider: dp, URL: srv.URL}
}

// gateEnv is authgate's configuration for the tests, by its documented
// environment names; extra is name, value pairs that add or override.
func gateEnv(prov *provider, apiURL string, extra ...string) map[string]string {
	env := map[string]string{
		"AUTHENTIK_URL":           prov.URL,
		"AUTHENTIK_APP_SLUG":      slug,
		"AUTHENTIK_CLIENT_ID":     clientID,
		"AUTHENTIK_CLIENT_SECRET": clientSecret,
		"API_URL":                 apiURL,
		"COOKIE_SECRET":           cookieSecret,
		"AUTHGATE_ROUTE_RULES":    "/admin/=role:admin",
		"AUTHGATE_PUBLIC_ROUTES":  "/public/",
		"AUTHGATE_TOKEN_LEEWAY":   "1s",
		"AUTHGATE_LOG_LEVEL":      "debug",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

// app is the protected application: it records every request it receives
// and answers 200 with the path.
type app struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	Host, URI string
	Header    http.Header
}

func startApp(t *testing.T) *app {
	a := &app{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, seenRequest{Host: r.Host, URI: r.RequestURI, Header: r.Header.Clone()})
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("app: " + r.RequestURI))
	}))
	t.Cleanup(a.Close)
	return a
}

// Addr is the app's host:port.
func (a *app) Addr() string { return strings.TrimPrefix(a.URL, "http://") }

func (a *app) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}

func (a *app) last(t *testing.T) seenRequest {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		t.Fatal("the app received no request")
	}
	return a.seen[len(a.seen)-1]
}

// fold is how CGI-style servers (Gunicorn, PHP) see a header name: letter
// case and "_", "." versus "-" do not matter.
func fold(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
}

// checkIdentity fails unless h carries exactly want's identity headers, once
// each, and no other spelling of any identity header. want nil: none at all.
func checkIdentity(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	names := map[string]string{}
	for _, n := range identityHeaders {
		names[fold(n)] = n
	}
	got := map[string][]string{}
	for k, vs := range h {
		n, ok := names[fold(k)]
		if !ok {
			continue
		}
		if k != n {
			t.Errorf("app received identity header under another spelling: %q: %q", k, vs)
		}
		got[n] = append(got[n], vs...)
	}
	for _, n := range identityHeaders {
		w, wanted := want[n]
		switch vs := got[n]; {
		case !wanted && len(vs) > 0:
			t.Errorf("app received %s: %q, want none", n, vs)
		case wanted && (len(vs) != 1 || vs[0] != w):
			t.Errorf("app received %s: %q, want [%q]", n, vs, w)
		}
	}
}

// spoofHeaders are a client's attempts to claim an identity: every letter
// case and "_" or "." spelling that some server folds into X-User-Sub.
var spoofHeaders = [][2]string{
	{"X-User-Sub", "evil"},
	{"x-user-sub", "evil"},
	{"X_User_Sub", "evil"},
	{"X-User_Sub", "evil"},
	{"x_user-sub", "evil"},
	{"X.User.Sub", "evil"},
	{"X-Role", "superadmin"},
	{"X_Role", "admin"},
	{"X-Org-Id", "evil-org"},
	{"X_Org_Id", "evil-org"},
	{"X-User-Groups", "ecosire-admins"},
}

// browser keeps cookies and never follows redirects itself, so each hop can
// be checked. Every *.example.test host is dialled on 127.0.0.1 (same port).
type browser struct {
	t      *testing.T
	client *http.Client
	jar    http.CookieJar
}

type response struct {
	Status   int
	Header   http.Header
	Body     string
	Location string // resolved against the request URL
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return newBrowserWithJar(t, jar)
}

func newBrowserWithJar(t *testing.T, jar http.CookieJar) *browser {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil && strings.HasSuffix(host, ".example.test") {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, jar: jar, client: &http.Client{
		Jar:           jar,
		Transport:     tr,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request. hdr holds name, value pairs, added under exactly that
// spelling (x-user-sub stays lower case on the wire); "Host" sets the Host.
func (b *browser) do(method, rawURL, body string, hdr ...string) response {
	b.t.Helper()
	var req *http.Request
	var err error
	if body != "" {
		req, err = http.NewRequest(method, rawURL, strings.NewReader(body))
	} else {
		req, err = http.NewRequest(method, rawURL, nil)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header[hdr[i]] = append(req.Header[hdr[i]], hdr[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: reading the answer: %v", method, rawURL, err)
	}
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: string(data)}
	if loc, err := resp.Location(); err == nil {
		r.Location = loc.String()
	}
	return r
}

// navigation headers a browser sends for a top-level page load.
var navHeaders = []string{"Accept", "text/html,application/xhtml+xml", "Sec-Fetch-Mode", "navigate"}

func (b *browser) nav(rawURL string, hdr ...string) response {
	b.t.Helper()
	return b.do(http.MethodGet, rawURL, "", append(append([]string{}, navHeaders...), hdr...)...)
}

func (b *browser) api(rawURL string, hdr ...string) response {
	b.t.Helper()
	return b.do(http.MethodGet, rawURL, "", append([]string{"Accept", "application/json", "Sec-Fetch-Mode", "cors"}, hdr...)...)
}

// follow navigates to rawURL and on through redirects until an answer is not
// a redirect, or the next URL satisfies stop (returned without requesting it).
func (b *browser) follow(rawURL string, stop func(*url.URL) bool) (string, response) {
	b.t.Helper()
	for range 20 {
		u, err := url.Parse(rawURL)
		if err != nil {
			b.t.Fatal(err)
		}
		if stop != nil && stop(u) {
			return rawURL, response{}
		}
		r := b.nav(rawURL)
		if r.Status < 300 || r.Status >= 400 {
			return rawURL, r
		}
		rawURL = r.Location
	}
	b.t.Fatal("too many redirects")
	return "", response{}
}

// login runs the whole login from a navigation to startURL (a protected page,
// or /auth/login itself) as user: proxy → /auth/login → provider → /auth/callback → /auth/complete → POST
// /auth/exchange, all through the front proxy, then navigates to the return
// target and returns that answer.
func (b *browser) login(prov *provider, user, startURL string) response {
	b.t.Helper()
	prov.SetAutoLogin(user)
	loginURL := startURL
	if !strings.Contains(startURL, "/auth/login?") {
		first := b.nav(startURL)
		if first.Status != http.StatusFound || !strings.Contains(first.Location, "/auth/login?rd=") {
			b.t.Fatalf("navigation to %s without session: %d %q, want 302 to /auth/login", startURL, first.Status, first.Location)
		}
		loginURL = first.Location
	}
	complete, _ := b.follow(loginURL, func(u *url.URL) bool { return u.Path == "/auth/complete" })
	page := b.nav(complete)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "data-exchange") {
		b.t.Fatalf("completion page %s: %d %s", complete, page.Status, page.Body)
	}
	cu, _ := url.Parse(complete)
	origin := cu.Scheme + "://" + cu.Host
	code := cu.Query().Get("exchange")
	ex := b.do(http.MethodPost, origin+"/auth/exchange", `{"code":"`+code+`"}`,
		"Content-Type", "application/json", "Origin", origin, "Sec-Fetch-Mode", "cors")
	if ex.Status != http.StatusOK || !strings.Contains(ex.Body, `"success":true`) {
		b.t.Fatalf("exchange: %d %s", ex.Status, ex.Body)
	}
	rd := cu.Query().Get("rd")
	if !strings.HasPrefix(rd, "http") {
		rd = origin + rd
	}
	_, r := b.follow(rd, nil)
	return r
}

// cookie returns the named cookie the browser would send to rawURL.
func (b *browser) cookie(rawURL, name string) string {
	u, _ := url.Parse(rawURL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// errorBody is authgate's JSON error answer.
type errorBody struct {
	Error    string `json:"error"`
	LoginURL string `json:"login_url"`
}

func decodeError(t *testing.T, r response) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %q", r.Status, err, r.Body)
	}
	return e
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// queryRD returns the rd parameter of a login or refresh URL.
func queryRD(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("rd")
}
