package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/internal/gateproc"
	"github.com/authgate/authgate/internal/hydratest"
	"github.com/authgate/authgate/internal/redistest"
)

// backchannelTap sits between Hydra and replica A's back-channel endpoint and
// records when A answered, so the test can time how long replica B takes to
// deny the session after A accepted the logout.
type backchannelTap struct {
	*httptest.Server
	mu       sync.Mutex
	answered []time.Time
	statuses []int
}

func newBackchannelTap(t *testing.T, target string) *backchannelTap {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	tap := &backchannelTap{}
	rp.ModifyResponse = func(resp *http.Response) error {
		tap.mu.Lock()
		tap.answered = append(tap.answered, time.Now())
		tap.statuses = append(tap.statuses, resp.StatusCode)
		tap.mu.Unlock()
		return nil
	}
	tap.Server = httptest.NewServer(rp)
	t.Cleanup(tap.Close)
	return tap
}

func (b *backchannelTap) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.answered)
}

func (b *backchannelTap) last() (time.Time, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.answered[len(b.answered)-1], b.statuses[len(b.statuses)-1]
}

// login runs the whole login of browser b through gate g (whose public URL is api).
func login(t *testing.T, b *browser, g *gateproc.Gate, h *hydratest.Hydra, api string) {
	t.Helper()
	r := b.get(g.URL+"/auth/login?rd=/app", nil)
	if r.Status != http.StatusFound || !strings.HasPrefix(r.Location, h.PublicURL()) {
		t.Fatalf("login: %d %q", r.Status, r.Location)
	}
	callback, _ := b.follow(r.Location, func(u *url.URL) bool { return u.Path == "/auth/callback" })
	cb := b.get(strings.Replace(callback, api, g.URL, 1), nil)
	if cb.Status != http.StatusFound || !strings.Contains(cb.Location, "/auth/complete?exchange=") {
		t.Fatalf("callback: %d %q %s", cb.Status, cb.Location, cb.Body)
	}
	code := mustQuery(t, cb.Location).Get("exchange")
	if ex := postJSON(b, g.URL+"/auth/exchange", map[string]string{"code": code}, map[string]string{"Origin": api}); ex.Status != http.StatusOK {
		t.Fatalf("exchange: %d %s", ex.Status, ex.Body)
	}
}

func apiCall(b *browser, base string) (int, string) {
	r := b.get(base+"/api/items", map[string]string{"Accept": "application/json"})
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(r.Body), &body)
	return r.Status, body.Error
}

// TestBackchannelLogoutAcrossReplicas: two authgate processes share a real
// Redis. Hydra sends a real logout token to replica A; replica B denies the
// session within a second of A accepting it, and refuses its refresh.
func TestBackchannelLogoutAcrossReplicas(t *testing.T) {
	rds := redistest.Start(t)
	h := hydratest.Start(t, hydratest.Options{})
	up := newUpstream(t)

	addrA, addrB := gateproc.FreeAddr(t), gateproc.FreeAddr(t)
	// Both replicas serve one public URL (as behind a load balancer); the
	// test reaches each directly. Cookies ignore ports, so the browser's
	// cookies from A go to B as well.
	api := "http://" + addrA
	tap := newBackchannelTap(t, api)
	clientID, secret := h.CreateClient(t, hydratest.Client{
		RedirectURIs:           []string{api + "/auth/callback"},
		PostLogoutRedirectURIs: []string{api + "/", api + "/bye"},
		BackchannelLogoutURI:   tap.URL + "/auth/backchannel-logout",
	})
	env := map[string]string{
		"OIDC_ISSUER_URL":                    h.IssuerURL(),
		"OIDC_CLIENT_ID":                     clientID,
		"OIDC_CLIENT_SECRET":                 secret,
		"API_URL":                            api,
		"COOKIE_SECRET":                      cookieSecret,
		"UPSTREAM_URL":                       up.URL,
		"REDIS_URL":                          rds.URL(),
		"AUTHGATE_TOKEN_LEEWAY":              "1s",
		"AUTHGATE_POST_LOGOUT_REDIRECT_URLS": api + "/bye",
	}
	a := startGate(t, addrA, env)
	b := startGate(t, addrB, env)
	codec, err := cookies.NewCodec([]byte(cookieSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	jar, err := cookies.NewJar(codec, cookies.JarConfig{AuthName: "authgate_auth", RefreshName: "authgate_refresh", AuthPrefix: "/auth", MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	binding := func(br *browser) cookies.Binding {
		t.Helper()
		c := br.cookie(api+"/", "authgate_auth")
		if c == nil {
			t.Fatal("no session cookie")
		}
		_, bnd, err := jar.OpenBound(jar.Auth, c.Value)
		if err != nil {
			t.Fatal(err)
		}
		return bnd
	}

	t.Run("back-channel logout on A ends the session on B", func(t *testing.T) {
		br := newBrowser(t)
		login(t, br, a, h, api)
		bnd := binding(br)
		// Hydra's access tokens carry no sid: the session cookie's binding
		// (from the ID token) is what ties the token to the provider session.
		if bnd.ProviderSession == "" {
			t.Fatal("session cookie is not bound to Hydra's session id")
		}
		if st, reason := apiCall(br, b.URL); st != http.StatusOK {
			t.Fatalf("replica B before logout: %d %s", st, reason)
		}
		// The provider ends the session on its own (an administrator, a
		// logout in another application): only the back channel tells us.
		req, _ := http.NewRequest(http.MethodDelete, h.AdminURL()+"/admin/oauth2/auth/sessions/login?sid="+url.QueryEscape(bnd.ProviderSession), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("Hydra admin revoke: %d", resp.StatusCode)
		}
		deadline := time.Now().Add(15 * time.Second)
		for tap.count() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("Hydra sent no back-channel logout")
			}
			time.Sleep(10 * time.Millisecond)
		}
		at, status := tap.last()
		if status != http.StatusOK {
			t.Fatalf("replica A answered Hydra's logout token with %d:\n%s", status, a.Log())
		}
		for {
			st, reason := apiCall(br, b.URL)
			if st == http.StatusUnauthorized && reason == "token_revoked" {
				break
			}
			if time.Since(at) > time.Second {
				t.Fatalf("replica B still answers %d %s more than a second after A accepted the logout", st, reason)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("replica B denied the session %v after replica A accepted Hydra's logout token", time.Since(at).Round(time.Millisecond))
		if st, reason := apiCall(br, a.URL); st != http.StatusUnauthorized || reason != "token_revoked" {
			t.Errorf("replica A after logout: %d %s", st, reason)
		}
		if r := br.do("POST", b.URL+"/auth/refresh", nil, map[string]string{"Origin": api}); r.Status != http.StatusUnauthorized {
			t.Errorf("refresh on replica B after logout: %d %s", r.Status, r.Body)
		}
	})

	t.Run("RP-initiated logout through Hydra: allow-list, state, copied cookies", func(t *testing.T) {
		before := tap.count()
		br := newBrowser(t)
		login(t, br, a, h, api)
		thief := newBrowser(t)
		u, _ := url.Parse(api + "/")
		thief.client.Jar.SetCookies(u, []*http.Cookie{{Name: "authgate_auth", Value: br.cookie(api+"/", "authgate_auth").Value, Path: "/"}})
		if st, _ := apiCall(thief, b.URL); st != http.StatusOK {
			t.Fatalf("copied cookie before logout: %d", st)
		}
		// A post-logout target off the allow-list is refused.
		if r := br.do("POST", a.URL+"/auth/logout?post_logout_redirect_uri="+url.QueryEscape("https://evil.example/"), nil, map[string]string{"Origin": api}); r.Status != http.StatusBadRequest {
			t.Fatalf("foreign post_logout_redirect_uri: %d %s", r.Status, r.Body)
		}
		r := br.do("POST", a.URL+"/auth/logout?state=st-42&post_logout_redirect_uri="+url.QueryEscape(api+"/bye"), nil, map[string]string{"Origin": api})
		var lo struct {
			LogoutURL string `json:"logoutUrl"`
		}
		_ = json.Unmarshal([]byte(r.Body), &lo)
		if r.Status != http.StatusOK || lo.LogoutURL == "" {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
		// The copied cookie stops working at once on the replica that logged
		// out, and within a second on the other (pub/sub fan-out).
		if st, reason := apiCall(thief, a.URL); st != http.StatusUnauthorized || reason != "token_revoked" {
			t.Errorf("copied cookie right after logout, same replica: %d %s", st, reason)
		}
		for end := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
			st, reason := apiCall(thief, b.URL)
			if st == http.StatusUnauthorized && reason == "token_revoked" {
				break
			}
			if time.Now().After(end) {
				t.Errorf("copied cookie on the other replica 1 s after logout: %d %s", st, reason)
				break
			}
		}
		// Hydra ends its session and hands the state back to the allowed URL.
		final, _ := br.follow(lo.LogoutURL, func(u *url.URL) bool { return u.Host == addrA })
		fu, _ := url.Parse(final)
		if fu == nil || fu.Path != "/bye" || fu.Query().Get("state") != "st-42" {
			t.Fatalf("provider logout ended at %q, want %s/bye?state=st-42", final, api)
		}
		// And posts its logout token, which replica A accepts.
		deadline := time.Now().Add(15 * time.Second)
		for tap.count() == before {
			if time.Now().After(deadline) {
				t.Fatal("Hydra sent no back-channel logout after RP-initiated logout")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, status := tap.last(); status != http.StatusOK {
			t.Fatalf("replica A refused Hydra's logout token: %d", status)
		}
	})
}
