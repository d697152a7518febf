package forwardauth_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"
)

// front is one front proxy with authgate behind it in forward-auth mode;
// base is the proxy's URL, which is also authgate's API_URL (the per-host
// layout: /auth/ is proxied on the app's own host).
type front struct {
	base string
	prov *provider
	app  *app
}

// runFrontSuite is what every real front proxy must get right.
func runFrontSuite(t *testing.T, f front) {
	t.Run("navigation without session ends at the provider's login", func(t *testing.T) {
		b := newBrowser(t)
		r := b.nav(f.base + "/dashboard?tab=1")
		if r.Status != http.StatusFound || !strings.HasPrefix(r.Location, f.base+"/auth/login?rd=") {
			t.Fatalf("navigation: %d %q, want 302 to %s/auth/login", r.Status, r.Location, f.base)
		}
		if rd := queryRD(t, r.Location); rd != "/dashboard?tab=1" {
			t.Errorf("return target %q", rd)
		}
		login := b.nav(r.Location)
		if login.Status != http.StatusFound || !strings.HasPrefix(login.Location, f.prov.AuthorizeURL()+"?") {
			t.Fatalf("/auth/login through the proxy: %d %q, want 302 to %s", login.Status, login.Location, f.prov.AuthorizeURL())
		}
		q := mustQuery(t, login.Location)
		if q.Get("client_id") != clientID || q.Get("redirect_uri") != f.base+"/auth/callback" || q.Get("code_challenge_method") != "S256" {
			t.Errorf("authorize URL: %v", q)
		}
		if f.app.count() != 0 {
			t.Errorf("the app was reached %d times without a session", f.app.count())
		}
	})

	t.Run("API call without session gets 401 JSON", func(t *testing.T) {
		b := newBrowser(t)
		r := b.api(f.base + "/api/items")
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("API call: %d %q %s", r.Status, r.Location, r.Body)
		}
		if ch := r.Header.Values("WWW-Authenticate"); len(ch) != 1 || !strings.HasPrefix(ch[0], "Bearer ") {
			t.Errorf("WWW-Authenticate %q, want one Bearer challenge", ch)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		e := decodeError(t, r)
		if e.Error == "" || !strings.HasPrefix(e.LoginURL, f.base+"/auth/login?rd=") || queryRD(t, e.LoginURL) != "/api/items" {
			t.Errorf("body %+v", e)
		}
	})

	t.Run("after login through the proxy the app receives the identity", func(t *testing.T) {
		b := newBrowser(t)
		r := b.login(f.prov, "alice", f.base+"/dashboard?tab=1")
		if r.Status != http.StatusOK || r.Body != "app: /dashboard?tab=1" {
			t.Fatalf("after login: %d %s", r.Status, r.Body)
		}
		checkIdentity(t, f.app.last(t).Header, wantAlice)
		if b.cookie(f.base+"/", "authgate_auth") == "" {
			t.Error("no session cookie for the app's host")
		}
		if b.cookie(f.base+"/auth/refresh", "authgate_refresh") == "" || b.cookie(f.base+"/", "authgate_refresh") != "" {
			t.Error("refresh cookie missing or not scoped to /auth/refresh")
		}
		// An API call with the session cookie passes too.
		if r := b.api(f.base + "/api/items"); r.Status != http.StatusOK {
			t.Errorf("API call with session: %d %s", r.Status, r.Body)
		}
		checkIdentity(t, f.app.last(t).Header, wantAlice)
	})

	t.Run("client identity headers never reach the app", func(t *testing.T) {
		var spoof []string
		for _, h := range spoofHeaders {
			spoof = append(spoof, h[0], h[1])
		}
		b := newBrowser(t)
		// Without a session, on a public route: the app is reached, with none.
		r := b.nav(f.base+"/public/page", spoof...)
		if r.Status != http.StatusOK {
			t.Fatalf("public route: %d %s", r.Status, r.Body)
		}
		checkIdentity(t, f.app.last(t).Header, nil)
		// Without a session, on a protected route: the app is not reached.
		before := f.app.count()
		if r := b.nav(f.base+"/dashboard", spoof...); r.Status != http.StatusFound {
			t.Errorf("protected route without session: %d", r.Status)
		}
		if r := b.api(f.base+"/api/items", spoof...); r.Status != http.StatusUnauthorized {
			t.Errorf("API without session: %d", r.Status)
		}
		if f.app.count() != before {
			t.Error("a request without a session reached the app")
		}
		// With a session: exactly authgate's values, once.
		b.login(f.prov, "carol", f.base+"/start")
		for _, u := range []string{"/whoami", "/public/page"} {
			r = b.nav(f.base+u, spoof...)
			if r.Status != http.StatusOK {
				t.Fatalf("%s with session: %d %s", u, r.Status, r.Body)
			}
			if u == "/whoami" {
				checkIdentity(t, f.app.last(t).Header, wantCarol)
			}
		}
		// A spoofed X-Role does not open an admin route either.
		if r := b.nav(f.base+"/admin/panel", spoof...); r.Status != http.StatusForbidden {
			t.Errorf("admin route with spoofed role: %d", r.Status)
		}
		// "Connection: X-User-Sub" asks a Go proxy to drop the header as
		// hop-by-hop (golang/go#50580); the identity must still arrive.
		r = b.nav(f.base+"/whoami", append(spoof, "Connection", "X-User-Sub, X-Role")...)
		if r.Status != http.StatusOK {
			t.Fatalf("with Connection header: %d", r.Status)
		}
		checkIdentity(t, f.app.last(t).Header, wantCarol)
	})

	t.Run("user without the route's role gets 403", func(t *testing.T) {
		carol := newBrowser(t)
		carol.login(f.prov, "carol", f.base+"/start")
		if r := carol.nav(f.base + "/admin/panel"); r.Status != http.StatusForbidden {
			t.Errorf("carol, navigation to /admin/: %d %q", r.Status, r.Location)
		}
		if r := carol.api(f.base + "/admin/users"); r.Status != http.StatusForbidden {
			t.Errorf("carol, API call to /admin/: %d", r.Status)
		}
		alice := newBrowser(t)
		alice.login(f.prov, "alice", f.base+"/start")
		if r := alice.nav(f.base + "/admin/panel"); r.Status != http.StatusOK {
			t.Errorf("alice, /admin/: %d", r.Status)
		}
		checkIdentity(t, f.app.last(t).Header, wantAlice)
	})

	t.Run("expiry is survived by refresh through the proxy", func(t *testing.T) {
		b := newBrowser(t)
		loggedIn := time.Now()
		b.login(f.prov, "alice", f.base+"/start")
		oldAuth := b.cookie(f.base+"/", "authgate_auth")
		refreshes := f.prov.Stats().Token["refresh_token"]
		time.Sleep(time.Until(loggedIn.Add(accessTTL + leeway + 1100*time.Millisecond)))

		// An API call is told, not redirected.
		api := b.api(f.base + "/api/items")
		if api.Status != http.StatusUnauthorized {
			t.Fatalf("API call after expiry: %d", api.Status)
		}
		if ch := api.Header.Values("WWW-Authenticate"); len(ch) != 1 || !strings.Contains(ch[0], `error="invalid_token"`) {
			t.Errorf("API call after expiry: WWW-Authenticate %q, want one with error=\"invalid_token\"", ch)
		}
		// A navigation goes through /auth/refresh (a normally proxied answer
		// that sets the cookies) and back to the page.
		r := b.nav(f.base + "/report?q=1")
		if r.Status != http.StatusFound || !strings.HasPrefix(r.Location, f.base+"/auth/refresh?rd=") {
			t.Fatalf("navigation after expiry: %d %q, want 302 to /auth/refresh", r.Status, r.Location)
		}
		back := b.nav(r.Location)
		if back.Status != http.StatusFound || back.Location != f.base+"/report?q=1" {
			t.Fatalf("/auth/refresh: %d %q %s", back.Status, back.Location, back.Body)
		}
		if n := len(back.Header.Values("Set-Cookie")); n < 2 {
			t.Errorf("/auth/refresh through the proxy set %d cookies, want the session and refresh cookies", n)
		}
		page := b.nav(back.Location)
		if page.Status != http.StatusOK || page.Body != "app: /report?q=1" {
			t.Fatalf("back at the page: %d %s", page.Status, page.Body)
		}
		checkIdentity(t, f.app.last(t).Header, wantAlice)
		if b.cookie(f.base+"/", "authgate_auth") == oldAuth {
			t.Error("session cookie unchanged after refresh")
		}
		if got := f.prov.Stats().Token["refresh_token"]; got != refreshes+1 {
			t.Errorf("refresh grants: %d, want %d", got, refreshes+1)
		}
		if r := b.api(f.base + "/api/items"); r.Status != http.StatusOK {
			t.Errorf("API call after refresh: %d", r.Status)
		}
	})

	t.Run("a browser that loses its session cookies is stopped after a few logins", func(t *testing.T) {
		b := newBrowserWithJar(t, dropSession(t))
		var last response
		logins := 0
		for round := 0; round < 10 && last.Status != http.StatusTooManyRequests; round++ {
			r := b.nav(f.base + "/loop")
			if r.Status != http.StatusFound || !strings.Contains(r.Location, "/auth/login?") {
				t.Fatalf("round %d: navigation %d %q", round, r.Status, r.Location)
			}
			logins++
			last = b.nav(r.Location)
			if last.Status != http.StatusFound {
				break
			}
			complete, _ := b.follow(last.Location, func(u *url.URL) bool { return u.Path == "/auth/complete" })
			cu, _ := url.Parse(complete)
			origin := cu.Scheme + "://" + cu.Host
			ex := b.do(http.MethodPost, origin+"/auth/exchange", `{"code":"`+cu.Query().Get("exchange")+`"}`,
				"Content-Type", "application/json", "Origin", origin)
			if ex.Status != http.StatusOK {
				t.Fatalf("round %d: exchange %d %s", round, ex.Status, ex.Body)
			}
		}
		if last.Status != http.StatusTooManyRequests || !strings.Contains(last.Body, "Sign-in keeps starting over") {
			t.Fatalf("after %d logins: %d %s", logins, last.Status, last.Body)
		}
		if logins != 6 {
			t.Errorf("stopped at login %d, want the 6th", logins)
		}
	})

	t.Run("a raw # in the request line opens no protected path", func(t *testing.T) {
		// A request target has no fragment; a front proxy may describe it
		// with the "#" (Nginx's $request_uri) while the app resolves the dot
		// segments after it.
		addr := strings.TrimPrefix(f.base, "http://")
		for _, target := range []string{"/public/x#/../../dashboard", "/public/#/../dashboard", "/public/x#", "/public/x%23/../../dashboard"} {
			before := f.app.count()
			status := rawStatus(t, addr, "GET "+target+" HTTP/1.1")
			if f.app.count() == before {
				if status/100 == 2 {
					t.Errorf("%s: %d without the app", target, status)
				}
				continue
			}
			// An app that takes "#" for a path character and resolves dot
			// segments (as many routers do) serves path.Clean of it.
			seen := f.app.last(t).URI
			if p := path.Clean(seen); !strings.HasPrefix(p, "/public/") {
				t.Errorf("%s reached the app as %q without a session", target, seen)
			}
		}
	})
}

// rawStatus sends a request line as written and returns the answer's status.
func rawStatus(t *testing.T, addr, requestLine string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "%s\r\nHost: %s\r\nAccept: application/json\r\nConnection: close\r\n\r\n", requestLine, addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", requestLine, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// dropSession is a cookie jar that loses authgate's session cookies, like a
// browser whose cookies do not cover the app's host.
func dropSession(t *testing.T) http.CookieJar {
	return &droppingJar{jar: newBrowser(t).jar}
}

type droppingJar struct{ jar http.CookieJar }

func (d *droppingJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	var keep []*http.Cookie
	for _, c := range cs {
		switch c.Name {
		case "authgate_auth", "authgate_refresh", "authgate_auth_id":
		default:
			keep = append(keep, c)
		}
	}
	d.jar.SetCookies(u, keep)
}

func (d *droppingJar) Cookies(u *url.URL) []*http.Cookie { return d.jar.Cookies(u) }

func mustQuery(t *testing.T, rawURL string) url.Values {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
