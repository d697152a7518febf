package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/internal/gateproc"
	"github.com/authgate/authgate/internal/hydratest"
)

// chromiumPath is Debian's chromium; $AUTHGATE_CHROMIUM overrides it. A
// missing browser fails the test: it is never skipped.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AUTHGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("chromium not found at /usr/bin/chromium (Debian: apt-get install chromium) or $AUTHGATE_CHROMIUM; the browser tests must run, they are never skipped")
	return ""
}

// artifactDir is where screenshots of a failed test go: $AUTHGATE_ARTIFACTS,
// else testdata/artifacts/ at the repository root (git-ignored; t.TempDir
// would be deleted with the evidence).
func artifactDir(t *testing.T) string {
	base := os.Getenv("AUTHGATE_ARTIFACTS")
	if base == "" {
		base = filepath.Join("..", "testdata", "artifacts")
	}
	return filepath.Join(base, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
}

// shots keeps a screenshot of every key step; they are written out only when
// the test fails.
type shots struct {
	mu   sync.Mutex
	list []shot
}

type shot struct {
	name string
	png  []byte
}

func (s *shots) add(name string, png []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, shot{name, png})
}

func (s *shots) save(t *testing.T, dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("artifacts: %v", err)
		return
	}
	for i, sh := range s.list {
		p := filepath.Join(dir, fmt.Sprintf("%02d-%s.png", i+1, sh.name))
		if err := os.WriteFile(p, sh.png, 0o644); err != nil {
			t.Logf("artifacts: %v", err)
		}
	}
	abs, _ := filepath.Abs(dir)
	t.Logf("screenshots of %d steps saved in %s", len(s.list), abs)
}

// tab is one browser context (its own cookies) with a page in it.
type tab struct {
	t     *testing.T
	name  string
	ctx   context.Context
	shots *shots
	mu    sync.Mutex
	docs  []string // URLs of top-level document requests, in order
}

func newTab(t *testing.T, parent context.Context, name string, sh *shots, opts ...chromedp.ContextOption) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(cancel)
	tb := &tab{t: t, name: name, ctx: ctx, shots: sh}
	// The first Run starts the browser (or the browser context) and its tab.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: start: %v", name, err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Type == network.ResourceTypeDocument {
			tb.mu.Lock()
			tb.docs = append(tb.docs, e.Request.URL)
			tb.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("%s: listen: %v", name, err)
	}
	return tb
}

// step runs actions with a deadline and screenshots the result. A failure
// also screenshots, so the artefacts show where it stopped.
func (tb *tab) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, actions...)
	tb.screenshot(name)
	if err != nil {
		loc, _ := tb.location()
		tb.t.Fatalf("%s: %s: %v (at %s; documents: %q)", tb.name, name, err, loc, tb.documents())
	}
}

func (tb *tab) screenshot(name string) {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		tb.shots.add(tb.name+"-"+name, png)
	}
}

func (tb *tab) location() (string, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Location())
}

func (tb *tab) documents() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.docs...)
}

func (tb *tab) clearDocuments() {
	tb.mu.Lock()
	tb.docs = nil
	tb.mu.Unlock()
}

func (tb *tab) eval(js string, out any) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.screenshot("eval-failed")
		tb.t.Fatalf("%s: evaluate %.60q: %v", tb.name, js, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		tb.t.Fatalf("%s: evaluate: result %s: %v", tb.name, raw, err)
	}
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.screenshot("text-failed")
		tb.t.Fatalf("%s: text of %s: %v", tb.name, sel, err)
	}
	return strings.TrimSpace(s)
}

// cookies returns authgate's cookies as the browser holds them (CDP
// Network.getCookies for every path they are scoped to).
func (tb *tab) cookies(api string) map[string]*network.Cookie {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{
		URLs: []string{api + "/", api + "/auth/refresh", api + "/auth/logout", api + "/auth/login"},
	})
	if err != nil {
		tb.t.Fatalf("%s: getCookies: %v", tb.name, err)
	}
	out := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		if strings.HasPrefix(c.Name, "authgate_") {
			out[c.Name] = c
		}
	}
	return out
}

type fetchResult struct {
	Status      int    `json:"status"`
	Redirected  bool   `json:"redirected"`
	URL         string `json:"url"`
	ContentType string `json:"contentType"`
	Body        string `json:"body"`
	WWWAuth     string `json:"wwwAuth"`
}

// fetch calls path from the page with fetch(), as the app's own script would.
func (tb *tab) fetch(path string) fetchResult {
	tb.t.Helper()
	var r fetchResult
	tb.eval(fmt.Sprintf(`fetch(%q, {headers: {"Accept": "application/json"}, credentials: "same-origin"}).then(async res => ({
		status: res.status, redirected: res.redirected, url: res.url,
		contentType: res.headers.get("content-type") || "", wwwAuth: res.headers.get("www-authenticate") || "",
		body: await res.text()}))`, path), &r)
	return r
}

// xhr calls path with XMLHttpRequest.
func (tb *tab) xhr(path string) fetchResult {
	tb.t.Helper()
	var r fetchResult
	tb.eval(fmt.Sprintf(`new Promise(resolve => {
		const x = new XMLHttpRequest();
		x.open("GET", %q);
		x.setRequestHeader("Accept", "application/json");
		x.onloadend = () => resolve({status: x.status, url: x.responseURL, redirected: false,
			contentType: x.getResponseHeader("content-type") || "", wwwAuth: x.getResponseHeader("www-authenticate") || "",
			body: x.responseText});
		x.send();
	})`, path), &r)
	return r
}

func errorCode(body string) string {
	var b struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &b)
	return b.Error
}

// appPage is the protected app: it shows who authgate says the user is.
var appPage = template.Must(template.New("app").Parse(`<!doctype html>
<html><head><title>Demo app</title></head><body>
<h1>Demo app</h1>
<p>Signed in as <span id="name">{{.Name}}</span> (<span id="email">{{.Email}}</span>)</p>
<p>sub <span id="sub">{{.Sub}}</span>, organization <span id="org">{{.Org}}</span>, role <span id="role">{{.Role}}</span></p>
<p>page <span id="path">{{.Path}}</span></p>
<p><a id="logout" href="/auth/logout?state=bye-state">Sign out</a></p>
</body></html>`))

func newApp(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bye" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><html><head><title>Signed out</title></head><body><h1 id="bye">Signed out</h1></body></html>`)
			return
		}
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"sub": r.Header.Get("X-User-Sub")})
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = appPage.Execute(w, map[string]string{
			"Name": r.Header.Get("X-User-Name"), "Email": r.Header.Get("X-User-Email"), "Sub": r.Header.Get("X-User-Sub"),
			"Org": r.Header.Get("X-Org-Id"), "Role": r.Header.Get("X-Role"), "Path": r.URL.RequestURI(),
		})
	}))
	t.Cleanup(s.Close)
	return s
}

func visited(docs []string, prefix string) bool {
	for _, d := range docs {
		if strings.HasPrefix(d, prefix) {
			return true
		}
	}
	return false
}

// TestBrowserSession is the whole life of a session in a real browser
// (headless Chromium) against Ory Hydra and the built authgate binary.
func TestBrowserSession(t *testing.T) {
	const ttl = 8 * time.Second
	h := hydratest.Start(t, hydratest.Options{AccessTokenTTL: ttl})
	app := newApp(t)
	addr := gateproc.FreeAddr(t)
	api := "http://" + addr
	clientID, secret := h.CreateClient(t, hydratest.Client{
		RedirectURIs:           []string{api + "/auth/callback"},
		PostLogoutRedirectURIs: []string{api + "/bye"},
		BackchannelLogoutURI:   api + "/auth/backchannel-logout",
	})
	g := startGate(t, addr, map[string]string{
		"OIDC_ISSUER_URL":                   h.IssuerURL(),
		"OIDC_CLIENT_ID":                    clientID,
		"OIDC_CLIENT_SECRET":                secret,
		"API_URL":                           api,
		"COOKIE_SECRET":                     cookieSecret,
		"UPSTREAM_URL":                      app.URL,
		"AUTHGATE_PUBLIC_ROUTES":            "/bye",
		"AUTHGATE_POST_LOGOUT_REDIRECT_URL": api + "/bye",
		"AUTHGATE_TOKEN_LEEWAY":             "1s",
	})
	user := h.User()

	sh := &shots{}
	t.Cleanup(func() {
		if t.Failed() {
			sh.save(t, artifactDir(t))
		}
	})
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), // a fresh profile
		chromedp.WindowSize(1024, 768),
	)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	one := newTab(t, browserCtx, "browser1", sh, chromedp.WithNewBrowserContext())

	// 1. First visit: sent to log in, through Hydra, back to the callback,
	// the completion page, and on to the page first asked for.
	one.step("first-visit",
		chromedp.Navigate(api+"/dashboard?tab=1"),
		chromedp.WaitVisible(chromedp.CSS("#sub")),
	)
	docs := one.documents()
	for _, want := range []string{api + "/dashboard", api + "/auth/login?rd=", h.PublicURL() + "/oauth2/auth?", api + "/auth/callback?", api + "/auth/complete?exchange="} {
		if !visited(docs, want) {
			t.Errorf("login did not pass %s; documents: %q", want, docs)
		}
	}
	// The exchange code left the address bar; the page is the one asked for.
	if loc, _ := one.location(); loc != api+"/dashboard?tab=1" {
		t.Errorf("after login the browser is at %q", loc)
	}

	// 2. The app page shows the identity authgate vouched for.
	if got := one.text("#sub"); got != user.Subject {
		t.Errorf("app shows sub %q, want %q", got, user.Subject)
	}
	if got := one.text("#email"); got != user.Email {
		t.Errorf("app shows email %q", got)
	}
	if got := one.text("#org"); got != user.OrganizationID {
		t.Errorf("app shows organization %q", got)
	}
	if got := one.text("#role"); got != "support" {
		t.Errorf("app shows role %q", got)
	}

	// 3. Cookies: present, HttpOnly, SameSite=Lax, scoped by path, not Secure on http.
	jar := one.cookies(api)
	wantPath := map[string]string{"authgate_auth": "/", "authgate_refresh": "/auth/refresh", "authgate_auth_id": "/auth/logout"}
	for name, path := range wantPath {
		c := jar[name]
		if c == nil {
			t.Errorf("cookie %s missing; have %v", name, keys(jar))
			continue
		}
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != path || c.Secure {
			t.Errorf("cookie %s: HttpOnly=%v SameSite=%q Path=%q Secure=%v", name, c.HTTPOnly, c.SameSite, c.Path, c.Secure)
		}
		if c.Domain != "127.0.0.1" {
			t.Errorf("cookie %s: domain %q (want host-only)", name, c.Domain)
		}
	}
	// ...and invisible to the page's scripts.
	var docCookie string
	one.eval(`document.cookie`, &docCookie)
	if strings.Contains(docCookie, "authgate") {
		t.Errorf("document.cookie exposes authgate cookies: %q", docCookie)
	}
	// The session endpoint, from the page.
	sess := one.fetch("/auth/session")
	var identity struct {
		Sub       string `json:"sub"`
		ExpiresAt string `json:"expiresAt"`
	}
	_ = json.Unmarshal([]byte(sess.Body), &identity)
	if sess.Status != http.StatusOK || identity.Sub != user.Subject {
		t.Fatalf("/auth/session from the page: %d %s", sess.Status, sess.Body)
	}
	refresh1 := jar["authgate_refresh"].Value

	// 4. Once the access token expired, a fetch and an XHR from the page get
	// 401 JSON (not a redirect to the provider)...
	exp, err := time.Parse(time.RFC3339, identity.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(exp.Add(1500 * time.Millisecond)))
	for what, r := range map[string]fetchResult{"fetch": one.fetch("/api/items"), "XHR": one.xhr("/api/items")} {
		if r.Status != http.StatusUnauthorized || r.Redirected || !strings.HasPrefix(r.ContentType, "application/json") ||
			errorCode(r.Body) != "token_expired" || !strings.Contains(r.WWWAuth, `error="invalid_token"`) || r.URL != api+"/api/items" {
			t.Errorf("%s with an expired token: %+v", what, r)
		}
	}
	one.screenshot("expired")

	// 5. ...while a page navigation is refreshed on the way, invisibly.
	one.clearDocuments()
	one.step("refreshed-navigation",
		chromedp.Navigate(api+"/reports?page=2"),
		chromedp.WaitVisible(chromedp.CSS("#sub")),
	)
	docs = one.documents()
	if !visited(docs, api+"/auth/refresh?rd=") || visited(docs, api+"/auth/login") || visited(docs, h.PublicURL()) {
		t.Errorf("navigation with an expired token: documents %q, want one pass through /auth/refresh and no login", docs)
	}
	if loc, _ := one.location(); loc != api+"/reports?page=2" {
		t.Errorf("after the refresh the browser is at %q", loc)
	}
	if got := one.text("#sub"); got != user.Subject {
		t.Errorf("after refresh the app shows sub %q", got)
	}
	if c := one.cookies(api)["authgate_refresh"]; c == nil || c.Value == refresh1 {
		t.Error("refresh did not renew the refresh cookie")
	}
	if r := one.fetch("/api/items"); r.Status != http.StatusOK {
		t.Errorf("fetch after refresh: %d %s", r.Status, r.Body)
	}

	// 6. A second browser (its own browser context: its own cookies and
	// Hydra session) logs in too.
	two := newTab(t, browserCtx, "browser2", sh, chromedp.WithNewBrowserContext())
	two.step("second-login",
		chromedp.Navigate(api+"/inbox"),
		chromedp.WaitVisible(chromedp.CSS("#sub")),
	)
	if r := two.fetch("/api/items"); r.Status != http.StatusOK {
		t.Fatalf("second browser after login: %d %s", r.Status, r.Body)
	}
	codec, _ := cookies.NewCodec([]byte(cookieSecret), nil)
	cjar, _ := cookies.NewJar(codec, cookies.JarConfig{AuthName: "authgate_auth", RefreshName: "authgate_refresh", AuthPrefix: "/auth", MaxAge: time.Hour})
	_, bnd2, err := cjar.OpenBound(cjar.Auth, two.cookies(api)["authgate_auth"].Value)
	if err != nil || bnd2.ProviderSession == "" {
		t.Fatalf("second browser's session binding: %+v %v", bnd2, err)
	}

	// 7. Logout in the first browser: through Hydra's end-session, back to
	// the post-logout page with the state, cookies gone, session over.
	one.clearDocuments()
	one.step("logout",
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#bye")),
	)
	loc, _ := one.location()
	if lu, _ := url.Parse(loc); lu == nil || lu.Path != "/bye" || lu.Query().Get("state") != "bye-state" {
		t.Errorf("after logout the browser is at %q, want %s/bye?state=bye-state", loc, api)
	}
	if !visited(one.documents(), h.PublicURL()+"/oauth2/sessions/logout?") {
		t.Errorf("logout did not go through Hydra's end-session endpoint: %q", one.documents())
	}
	if left := one.cookies(api); left["authgate_auth"] != nil || left["authgate_refresh"] != nil || left["authgate_auth_id"] != nil {
		t.Errorf("cookies left after logout: %v", keys(left))
	}
	if r := one.fetch("/api/items"); r.Status != http.StatusUnauthorized || errorCode(r.Body) != "no_token" {
		t.Errorf("fetch after logout: %d %s", r.Status, r.Body)
	}
	// The other browser is another session: still signed in.
	if r := two.fetch("/api/items"); r.Status != http.StatusOK {
		t.Errorf("second browser after the first logged out: %d %s", r.Status, r.Body)
	}

	// 8. The provider ends the second browser's session on its own (an
	// administrator, a logout elsewhere): Hydra's back-channel logout token
	// reaches authgate, and the second browser's session ends although its
	// cookies and its access token are untouched.
	req, _ := http.NewRequest(http.MethodDelete, h.AdminURL()+"/admin/oauth2/auth/sessions/login?sid="+url.QueryEscape(bnd2.ProviderSession), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("Hydra admin: end session: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(15 * time.Second)
	var r fetchResult
	for {
		if r = two.fetch("/api/items"); r.Status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			two.screenshot("backchannel-timeout")
			t.Fatalf("second browser still signed in 15s after the provider ended its session: %d %s\n%s", r.Status, r.Body, g.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if errorCode(r.Body) != "token_revoked" {
		t.Errorf("second browser after back-channel logout: %d %s", r.Status, r.Body)
	}
	if two.cookies(api)["authgate_auth"] == nil {
		t.Error("the second browser's cookie vanished: the test proves nothing")
	}
	// Its next page view needs a new login (Hydra's login app signs it in
	// again at once): a new provider session, not the revoked one.
	two.clearDocuments()
	two.step("after-backchannel-logout",
		chromedp.Navigate(api+"/inbox"),
		chromedp.WaitVisible(chromedp.CSS("#sub")),
	)
	if d := two.documents(); !visited(d, api+"/auth/login?") || !visited(d, h.PublicURL()+"/oauth2/auth?") {
		t.Errorf("page view after back-channel logout did not log in again: %q", d)
	}
	if _, bnd3, err := cjar.OpenBound(cjar.Auth, two.cookies(api)["authgate_auth"].Value); err != nil || bnd3.ProviderSession == bnd2.ProviderSession {
		t.Errorf("after the new login: binding %+v, %v", bnd3, err)
	}

	// Never a token in the authgate log.
	if strings.Contains(g.Log(), refresh1) {
		t.Error("refresh cookie value in the log")
	}
	if errors.Is(context.Cause(one.ctx), context.Canceled) {
		t.Error("first browser's context ended early")
	}
}

func keys(m map[string]*network.Cookie) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
