package forwardauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/gateproc"
)

// Traefik v3 and Envoy cannot run here, so authgate is asked exactly as they
// ask it:
//
// Traefik forwardAuth (pkg/middlewares/auth/forward.go): GET <address>, every
// client header (hop-by-hop ones removed), plus X-Forwarded-For, -Method,
// -Proto, -Host and -Uri built from the request itself (trustForwardHeader:
// false, so client copies of those are replaced). A non-2xx answer goes back
// to the client as it is; a 2xx one copies authResponseHeaders onto the
// request.
//
// Envoy ext_authz http_service: the original method, path_prefix + the
// original path and query, the original Host, no body, and only the
// allowed_headers. A non-200 answer goes back to the client as it is.

// traefik returns a Traefik forwardAuth request for method and uri on host,
// carrying the client's headers.
func traefik(method, host, uri string, client ...string) []string {
	return append([]string{
		"X-Forwarded-For", "203.0.113.7",
		"X-Forwarded-Method", method,
		"X-Forwarded-Proto", "http",
		"X-Forwarded-Host", host,
		"X-Forwarded-Uri", uri,
		"User-Agent", "Mozilla/5.0",
	}, client...)
}

// envoy returns the headers of an Envoy check request: the original Host and
// the allowed client headers (envoy.yaml's allowed_headers).
func envoy(host string, client ...string) []string {
	return append([]string{"Host", host, "X-Forwarded-Proto", "http"}, client...)
}

var (
	navClient = []string{"Accept", "text/html,application/xhtml+xml", "Sec-Fetch-Mode", "navigate"}
	apiClient = []string{"Accept", "application/json", "Sec-Fetch-Mode", "cors"}
)

func with(a []string, more ...string) []string { return append(append([]string{}, a...), more...) }

// checkAllowAnswer checks a 2xx forward-auth answer: exactly want's identity
// headers and no cookie (a front proxy drops Set-Cookie from a 2xx answer).
func checkAllowAnswer(t *testing.T, r response, want map[string]string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("allow: %d %s", r.Status, r.Body)
	}
	checkIdentity(t, r.Header, want)
	if sc := r.Header.Values("Set-Cookie"); len(sc) > 0 {
		t.Errorf("2xx forward-auth answer sets cookies: %q", sc)
	}
}

func TestTraefikAndEnvoyRequestShapes(t *testing.T) {
	t.Parallel()
	gateAddr := gateproc.FreeAddr(t)
	api := "http://" + gateAddr
	prov := startProvider(t, api+"/auth/callback")
	gate := gateproc.Start(t, binary, gateAddr, gateEnv(prov, api))

	// A real session cookie, from a login at authgate's own /auth/.
	b := newBrowser(t)
	b.login(prov, "alice", api+"/auth/login?rd=%2F")
	session := "authgate_auth=" + b.cookie(api+"/", "authgate_auth")
	carol, err := prov.AccessToken("carol", nil)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := prov.AccessToken("alice", map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	var spoof []string
	for _, h := range spoofHeaders {
		spoof = append(spoof, h[0], h[1])
	}
	c := newBrowserWithJar(t, nil) // the front proxy: no cookie jar of its own
	forward := func(hdr ...string) response { return c.do(http.MethodGet, gate.URL+"/auth/forward", "", hdr...) }
	envoyCheck := func(method, uri string, hdr ...string) response {
		return c.do(method, gate.URL+"/auth/envoy"+uri, "", hdr...)
	}
	appHost := "app.example.test"
	loginFor := func(rd string) string { return api + "/auth/login?rd=" + url.QueryEscape(rd) }

	t.Run("Traefik allows with identity headers", func(t *testing.T) {
		checkAllowAnswer(t, forward(traefik("GET", gateAddr, "/dash?x=1", with(navClient, "Cookie", session)...)...), wantAlice)
		checkAllowAnswer(t, forward(traefik("GET", gateAddr, "/api/items", with(apiClient, "Authorization", "Bearer "+carol)...)...), wantCarol)
		// The client's identity headers are not echoed as if authgate set them.
		checkAllowAnswer(t, forward(traefik("GET", gateAddr, "/dash", with(with(navClient, "Cookie", session), spoof...)...)...), wantAlice)
		checkAllowAnswer(t, forward(traefik("GET", gateAddr, "/public/x", with(navClient, spoof...)...)...), nil)
	})

	t.Run("Traefik deny: navigation 302, API 401, role 403", func(t *testing.T) {
		r := forward(traefik("GET", gateAddr, "/dash?x=1", with(navClient, spoof...)...)...)
		if r.Status != http.StatusFound || r.Location != loginFor("/dash?x=1") {
			t.Errorf("navigation: %d %q, want 302 %q", r.Status, r.Location, loginFor("/dash?x=1"))
		}
		checkIdentity(t, r.Header, nil)
		// Another host than api_url's returns by absolute URL (allow-listed hosts only).
		r = forward(traefik("GET", appHost, "/dash", navClient...)...)
		if r.Status != http.StatusFound || r.Location != loginFor("http://"+appHost+"/dash") {
			t.Errorf("navigation on %s: %d %q", appHost, r.Status, r.Location)
		}
		// A form POST navigation: 303, back to "/" (a POST cannot be replayed).
		r = forward(traefik("POST", gateAddr, "/form", navClient...)...)
		if r.Status != http.StatusSeeOther || r.Location != loginFor("/") {
			t.Errorf("POST navigation: %d %q", r.Status, r.Location)
		}
		// An expired token on a navigation goes through refresh.
		r = forward(traefik("GET", gateAddr, "/dash", with(navClient, "Authorization", "Bearer "+expired)...)...)
		if r.Status != http.StatusFound || r.Location != api+"/auth/refresh?rd="+url.QueryEscape("/dash") {
			t.Errorf("expired navigation: %d %q", r.Status, r.Location)
		}
		r = forward(traefik("GET", gateAddr, "/api/items", apiClient...)...)
		if e := decodeError(t, r); r.Status != http.StatusUnauthorized || e.LoginURL != loginFor("/api/items") || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("API call: %d %s", r.Status, r.Body)
		}
		r = forward(traefik("GET", gateAddr, "/admin/x", with(apiClient, "Authorization", "Bearer "+carol)...)...)
		if r.Status != http.StatusForbidden || decodeError(t, r).Error != "forbidden_role" {
			t.Errorf("role: %d %s", r.Status, r.Body)
		}
		checkIdentity(t, r.Header, nil)
	})

	t.Run("Envoy allows with identity headers", func(t *testing.T) {
		checkAllowAnswer(t, envoyCheck("GET", "/dash?x=1", envoy(gateAddr, with(navClient, "Cookie", session)...)...), wantAlice)
		checkAllowAnswer(t, envoyCheck("DELETE", "/api/items/7", envoy(gateAddr, with(apiClient, "Authorization", "Bearer "+carol)...)...), wantCarol)
		checkAllowAnswer(t, envoyCheck("GET", "/public/x", envoy(gateAddr, with(navClient, spoof...)...)...), nil)
	})

	t.Run("Envoy deny: navigation 302, API 401, role 403", func(t *testing.T) {
		r := envoyCheck("GET", "/files/a%20b?x=1", envoy(gateAddr, navClient...)...)
		if r.Status != http.StatusFound || r.Location != loginFor("/files/a%20b?x=1") {
			t.Errorf("navigation: %d %q", r.Status, r.Location)
		}
		r = envoyCheck("GET", "/dash", envoy(appHost, navClient...)...)
		if r.Status != http.StatusFound || r.Location != loginFor("http://"+appHost+"/dash") {
			t.Errorf("navigation on %s: %d %q", appHost, r.Status, r.Location)
		}
		r = envoyCheck("POST", "/form", envoy(gateAddr, navClient...)...)
		if r.Status != http.StatusSeeOther || r.Location != loginFor("/") {
			t.Errorf("POST navigation: %d %q", r.Status, r.Location)
		}
		r = envoyCheck("GET", "/api/items", envoy(gateAddr, apiClient...)...)
		if e := decodeError(t, r); r.Status != http.StatusUnauthorized || e.LoginURL != loginFor("/api/items") || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("API call: %d %s", r.Status, r.Body)
		}
		r = envoyCheck("GET", "/admin/", envoy(gateAddr, with(apiClient, "Authorization", "Bearer "+carol)...)...)
		if r.Status != http.StatusForbidden {
			t.Errorf("role: %d %s", r.Status, r.Body)
		}
	})

	t.Run("Nginx verify answers only 200, 401 and 403", func(t *testing.T) {
		verify := func(hdr ...string) response { return c.do(http.MethodGet, gate.URL+"/auth/verify", "", hdr...) }
		r := verify(with(navClient, "X-Original-URL", "http://"+gateAddr+"/dash?x=1", "X-Original-Method", "GET", "Cookie", session)...)
		checkAllowAnswer(t, r, wantAlice)
		r = verify(with(navClient, "X-Original-URL", "http://"+gateAddr+"/dash?x=1", "X-Original-Method", "GET")...)
		if r.Status != http.StatusUnauthorized || r.Header.Get("X-Auth-Redirect") != loginFor("/dash?x=1") || r.Location != "" {
			t.Errorf("navigation: %d redirect=%q location=%q", r.Status, r.Header.Get("X-Auth-Redirect"), r.Location)
		}
		r = verify(with(apiClient, "X-Original-URL", "http://"+gateAddr+"/api", "X-Original-Method", "GET")...)
		if r.Status != http.StatusUnauthorized || r.Header.Get("X-Auth-Redirect") != "" || r.Header.Get("X-Auth-Login-Url") != loginFor("/api") {
			t.Errorf("API call: %d redirect=%q login=%q", r.Status, r.Header.Get("X-Auth-Redirect"), r.Header.Get("X-Auth-Login-Url"))
		}
		// A path authgate refuses to judge is 403 here: Nginx makes a 400 a 500.
		r = verify(with(apiClient, "X-Original-URL", "http://"+gateAddr+"/public/%2e%2e/admin", "X-Original-Method", "GET", "Authorization", "Bearer "+carol)...)
		if r.Status != http.StatusForbidden {
			t.Errorf("dot segments: %d %s", r.Status, r.Body)
		}
	})

	t.Run("malformed descriptions get 403, never 2xx", func(t *testing.T) {
		valid := with(apiClient, "Authorization", "Bearer "+carol) // would be allowed if judged
		for _, bad := range []string{
			"", "dash", "/dash", "ftp://h/dash", "http://", "http:///dash", "http://u:p@" + gateAddr + "/dash",
			"http://" + gateAddr + "/%zz", "http://" + gateAddr + ":x/dash", "http://" + gateAddr + "/a b",
			"http://" + gateAddr + "/a\tb", "http://" + gateAddr + "/" + strings.Repeat("a", 9<<10),
		} {
			r := c.do(http.MethodGet, gate.URL+"/auth/verify", "", with(valid, "X-Original-URL", bad, "X-Original-Method", "GET")...)
			if r.Status != http.StatusForbidden || decodeError(t, r).Error != "invalid_forwarded_request" {
				t.Errorf("X-Original-URL %.40q: %d %s", bad, r.Status, r.Body)
			}
		}
		for _, bad := range []string{"", "GET /", "G(ET"} {
			r := c.do(http.MethodGet, gate.URL+"/auth/verify", "", with(valid, "X-Original-URL", "http://"+gateAddr+"/dash", "X-Original-Method", bad)...)
			if r.Status != http.StatusForbidden {
				t.Errorf("X-Original-Method %q: %d %s", bad, r.Status, r.Body)
			}
		}
		for _, bad := range []string{"", "dash", "http://evil.test/dash", "/%zz", "/a b", "/a\tb", "/" + strings.Repeat("a", 9<<10)} {
			r := forward(traefik("GET", gateAddr, bad, valid...)...)
			if r.Status != http.StatusForbidden || decodeError(t, r).Error != "invalid_forwarded_request" {
				t.Errorf("X-Forwarded-Uri %.40q: %d %s", bad, r.Status, r.Body)
			}
		}
		described := func(method, proto, host, uri string) []string {
			return with([]string{"X-Forwarded-Method", method, "X-Forwarded-Proto", proto, "X-Forwarded-Host", host, "X-Forwarded-Uri", uri}, valid...)
		}
		for name, bad := range map[string][]string{
			"method":  described("G(ET", "http", gateAddr, "/dash"),
			"proto":   described("GET", "gopher", gateAddr, "/dash"),
			"host":    described("GET", "http", "evil.test/x", "/dash"),
			"no host": described("GET", "http", "", "/dash"),
		} {
			if r := forward(bad...); r.Status != http.StatusForbidden {
				t.Errorf("Traefik, bad %s: %d %s", name, r.Status, r.Body)
			}
		}
		// Dot segments are refused rather than resolved (400 invalid_path).
		if r := forward(traefik("GET", gateAddr, "/public/../admin/", valid...)...); r.Status/100 != 4 {
			t.Errorf("dot segments: %d %s", r.Status, r.Body)
		}
		if r := c.do(http.MethodGet, gate.URL+"/auth/envoy", "", envoy(gateAddr, valid...)...); r.Status != http.StatusForbidden {
			t.Errorf("Envoy without original path: %d %s", r.Status, r.Body)
		}
	})
}

// TestForwardedHeadersFromUntrustedPeer: the description of the original
// request is believed only from trusted_proxies. Here loopback is not among
// them, so even a valid token gets 403 untrusted_forwarder, never 2xx.
func TestForwardedHeadersFromUntrustedPeer(t *testing.T) {
	t.Parallel()
	gateAddr := gateproc.FreeAddr(t)
	api := "http://" + gateAddr
	prov := startProvider(t, api+"/auth/callback")
	gate := gateproc.Start(t, binary, gateAddr, gateEnv(prov, api, "AUTHGATE_TRUSTED_PROXIES", "192.0.2.0/24"))
	tok, err := prov.AccessToken("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newBrowserWithJar(t, nil)
	auth := with(navClient, "Authorization", "Bearer "+tok)
	for name, r := range map[string]response{
		"nginx":   c.do(http.MethodGet, gate.URL+"/auth/verify", "", with(auth, "X-Original-URL", api+"/public/x", "X-Original-Method", "GET")...),
		"nginx2":  c.do(http.MethodGet, gate.URL+"/auth/verify", "", with(auth, "X-Original-URI", "/dash")...),
		"traefik": c.do(http.MethodGet, gate.URL+"/auth/forward", "", traefik("GET", gateAddr, "/dash", auth...)...),
		"envoy":   c.do(http.MethodGet, gate.URL+"/auth/envoy/dash", "", envoy(gateAddr, auth...)...),
	} {
		if r.Status != http.StatusForbidden || decodeError(t, r).Error != "untrusted_forwarder" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
		checkIdentity(t, r.Header, nil)
	}
}
