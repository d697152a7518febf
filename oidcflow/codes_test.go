package oidcflow_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/flowtest"
	"github.com/authgate/authgate/oidcflow"
	"github.com/authgate/authgate/store"
)

// TestState attacks the login state (§2.2, §9): single use, bound to the
// browser that started the login, expiring after StateTTL.
func TestState(t *testing.T) {
	t.Parallel()

	t.Run("single use", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		cb := b.Authorize(b.StartLogin("/"))
		wantStatus(t, "first callback", b.Callback(cb), http.StatusFound)
		wantError(t, "replayed callback", b.Callback(cb), http.StatusBadRequest, "invalid_state")
	})

	t.Run("bound to the browser", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		a, other := env.NewBrowser(), env.NewBrowser()
		cb := a.Authorize(a.StartLogin("/"))
		// A browser that never logged in, and one with its own login under way.
		wantError(t, "callback in a fresh browser", other.Callback(cb), http.StatusBadRequest, "invalid_state")
		cb2 := a.Authorize(a.StartLogin("/"))
		other.StartLogin("/")
		wantError(t, "callback in another browser with its own binding", other.Callback(cb2), http.StatusBadRequest, "invalid_state")
		// The state is spent by the failed attempt (deleted before anything else).
		wantError(t, "rightful browser after the attempt", a.Callback(cb2), http.StatusBadRequest, "invalid_state")
	})

	t.Run("several tabs of one browser", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		first, second := b.StartLogin("/a"), b.StartLogin("/b")
		cb2 := b.Callback(b.Authorize(second))
		cb1 := b.Callback(b.Authorize(first))
		for _, cb := range []*flowtest.Response{cb1, cb2} {
			wantStatus(t, "callback of a tab", b.Exchange(flowtest.ExchangeCode(t, cb)), http.StatusOK)
		}
	})

	t.Run("expires", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		old := b.StartLogin("/")
		env.Clock.Advance(oidcflow.StateTTL - time.Minute)
		fresh := b.StartLogin("/") // renews the browser binding
		env.Clock.Advance(2 * time.Minute)
		wantError(t, "state older than StateTTL", b.Callback(b.Authorize(old)), http.StatusBadRequest, "invalid_state")
		wantStatus(t, "fresh state", b.Callback(b.Authorize(fresh)), http.StatusFound)
	})

	t.Run("malformed or unknown", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		b.StartLogin("/")
		for _, q := range []string{"code=x", "code=x&state=short", "code=x&state=" + strings.Repeat("A", 43), "code=x&state=" + strings.Repeat("%", 43)} {
			wantError(t, q, b.Navigate("/auth/callback?"+q), http.StatusBadRequest, "invalid_state")
		}
	})
}

// TestCallbackProviderError: a provider error is reported, never turned into a session.
func TestCallbackProviderError(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	b := env.NewBrowser()
	for _, tc := range []struct {
		err    string
		status int
		code   string
	}{
		{"access_denied", http.StatusForbidden, "access_denied"},
		{"server_error", http.StatusBadGateway, "provider_error"},
	} {
		state := b.StartLogin("/").Query().Get("state")
		resp := b.Navigate("/auth/callback?error=" + tc.err + "&error_description=nope&state=" + state)
		wantError(t, tc.err, resp, tc.status, tc.code)
		if len(resp.Cookies()) != 0 {
			t.Errorf("%s: callback set cookies %v", tc.err, resp.Header.Values("Set-Cookie"))
		}
	}
	// Without a valid state the provider's word is not even considered.
	wantError(t, "error without state", b.Navigate("/auth/callback?error=access_denied"), http.StatusBadRequest, "invalid_state")
}

// TestTokenEndpointFailure: the provider refuses the code exchange (authgate
// configured with the wrong client secret) → 502, no panic, no session.
func TestTokenEndpointFailure(t *testing.T) {
	t.Parallel()
	wrong := "wrong-client-secret-0123456789abcdef"
	env := flowtest.New(t, flowtest.Options{ClientSecret: wrong})
	b := env.NewBrowser()
	resp := b.Callback(b.Authorize(b.StartLogin("/")))
	wantError(t, "callback", resp, http.StatusBadGateway, "token_exchange_failed")
	if resp.Header.Get("Location") != "" || len(resp.Cookies()) != 0 {
		t.Errorf("failed callback redirected or set cookies: %v", resp.Header)
	}
	if strings.Contains(env.Logs.String(), wrong) {
		t.Error("the client secret is in the log")
	}
	if env.Provider.Stats().Token["authorization_code"] != 1 {
		t.Errorf("token endpoint stats %v", env.Provider.Stats().Token)
	}
}

// TestExchangeCode attacks the exchange code (§2.4, §9).
func TestExchangeCode(t *testing.T) {
	t.Parallel()
	// login runs a login up to the exchange and returns the code.
	login := func(b *flowtest.Browser) string {
		t.Helper()
		return flowtest.ExchangeCode(t, b.Callback(b.Authorize(b.StartLogin("/"))))
	}
	body := func(code string) string { return `{"code":"` + code + `"}` }

	t.Run("single use", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		code := login(b)
		wantStatus(t, "first redemption", b.Exchange(code), http.StatusOK)
		second := b.Exchange(code)
		wantError(t, "second redemption", second, http.StatusUnauthorized, "invalid_exchange_code")
		if len(second.Cookies()) != 0 {
			t.Error("a refused redemption set cookies")
		}
	})

	t.Run("bound to the browser, and the stranger does not burn it", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		a, stranger := env.NewBrowser(), env.NewBrowser()
		code := login(a)
		wantError(t, "stranger without binding", stranger.Exchange(code), http.StatusUnauthorized, "invalid_exchange_code")
		stranger.StartLogin("/") // now with a binding of its own
		wantError(t, "stranger with its own binding", stranger.Exchange(code), http.StatusUnauthorized, "invalid_exchange_code")
		wantStatus(t, "rightful browser afterwards", a.Exchange(code), http.StatusOK)
	})

	t.Run("concurrent redemptions", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		code := login(b)
		const n = 20
		statuses := make([]int, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				resp, err := b.Client.Do(b.NewRequest(http.MethodPost, "/auth/exchange", strings.NewReader(body(code)),
					"Content-Type", "application/json", "Origin", env.URL))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusUnauthorized:
			default:
				t.Errorf("unexpected status %d", s)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent redemptions succeeded, want exactly 1 (%v)", ok, n, statuses)
		}
	})

	t.Run("expires after 60s", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		code := login(b)
		env.Clock.Advance(oidcflow.ExchangeTTL + time.Second)
		wantError(t, "expired code", b.Exchange(code), http.StatusUnauthorized, "invalid_exchange_code")
	})

	t.Run("refused requests", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		code := login(b)
		same := []string{"Origin", env.URL}
		for _, tc := range []struct {
			name, method, ctype, body string
			header                    []string
			status                    int
			code                      string
		}{
			{"malformed JSON", "POST", "application/json", `{"code":`, same, 400, "invalid_request"},
			{"JSON of the wrong shape", "POST", "application/json", `["` + code + `"]`, same, 400, "invalid_request"},
			{"form post", "POST", "application/x-www-form-urlencoded", "code=" + code, same, 415, "unsupported_media_type"},
			{"text/plain (simple CORS request)", "POST", "text/plain", body(code), same, 415, "unsupported_media_type"},
			{"no content type", "POST", "", body(code), same, 415, "unsupported_media_type"},
			{"foreign Origin", "POST", "application/json", body(code), []string{"Origin", "https://evil.example"}, 403, "cross_origin"},
			{"null Origin", "POST", "application/json", body(code), []string{"Origin", "null"}, 403, "cross_origin"},
			{"cross-site fetch without Origin", "POST", "application/json", body(code), []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross_origin"},
			{"GET", "GET", "", "", nil, 405, "method_not_allowed"},
			{"unknown code", "POST", "application/json", body(strings.Repeat("A", 43)), same, 401, "invalid_exchange_code"},
			{"malformed code", "POST", "application/json", body("../../etc"), same, 401, "invalid_exchange_code"},
			{"huge body", "POST", "application/json", `{"code":"` + strings.Repeat("A", 1<<20) + `"}`, same, 400, "invalid_request"},
		} {
			req := b.NewRequest(tc.method, "/auth/exchange", strings.NewReader(tc.body), tc.header...)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp := b.Do(req)
			wantError(t, tc.name, resp, tc.status, tc.code)
			if tc.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST")
			}
			if len(resp.Cookies()) != 0 {
				t.Errorf("%s: refused exchange set cookies", tc.name)
			}
		}
		// None of that spent the code.
		wantStatus(t, "code after refused attempts", b.Exchange(code), http.StatusOK)
	})
}

// TestFrontendURL: the SPA pattern sends the browser to the app's own page,
// which redeems the code from its origin (§2.3).
func TestFrontendURL(t *testing.T) {
	t.Parallel()
	front := "http://app.example.test"
	env := flowtest.New(t, flowtest.Options{FrontendURL: front})
	b := env.NewBrowser()
	cb := b.Callback(b.Authorize(b.StartLogin("/orders/7")))
	wantStatus(t, "callback", cb, http.StatusFound)
	loc, err := url.Parse(cb.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != front+"/auth/callback" {
		t.Fatalf("callback sends the browser to %s, want %s/auth/callback", loc, front)
	}
	if loc.Query().Get("redirect") != "/orders/7" {
		t.Errorf("return path lost: %s", loc)
	}
	code := loc.Query().Get("exchange")

	// The app's page is another origin: its fetch() with a JSON body is
	// preflighted, and its answer is readable only with CORS headers for
	// exactly that origin, with credentials.
	preflight := func(origin string) *flowtest.Response {
		return b.Do(b.NewRequest(http.MethodOptions, "/auth/exchange", nil, "Origin", origin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"))
	}
	pf := preflight(front)
	if pf.StatusCode/100 != 2 || pf.Header.Get("Access-Control-Allow-Origin") != front ||
		pf.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(pf.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(pf.Header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Errorf("preflight from the frontend: %d %v", pf.StatusCode, pf.Header)
	}
	if evil := preflight("http://evil.example.test"); evil.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from a foreign origin allowed: %v", evil.Header)
	}
	ex := func(origin string) *flowtest.Response {
		return b.Post("/auth/exchange", "application/json", `{"code":"`+code+`"}`, "Origin", origin, "Sec-Fetch-Site", "same-site")
	}
	wantError(t, "exchange from a foreign origin", ex("http://evil.example.test"), http.StatusForbidden, "cross_origin")
	ok := ex(front)
	wantStatus(t, "exchange from the frontend", ok, http.StatusOK)
	if ok.Header.Get("Access-Control-Allow-Origin") != front || ok.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("exchange answer not readable by the frontend: %v", ok.Header)
	}
	wantStatus(t, "session", b.Get("/auth/session", api...), http.StatusOK)

	var out struct {
		LogoutURL string `json:"logoutUrl"`
	}
	flowtest.JSON(t, b.Post("/auth/logout", "", "", "Origin", front).Body, &out)
	lu, _ := url.Parse(out.LogoutURL)
	if got := lu.Query().Get("post_logout_redirect_uri"); got != front+"/" {
		t.Errorf("post_logout_redirect_uri %q, want %q", got, front+"/")
	}
}

// TestStoreUnavailable: with the store down, login and exchange answer 503
// store_unavailable while requests with a valid token keep flowing (§7).
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	mem := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	sw := &flowtest.SwitchStore{Store: mem}
	env := flowtest.New(t, flowtest.Options{Store: sw})
	b := env.NewBrowser()
	b.LoginAs("")
	pending := env.NewBrowser()
	cb := pending.Authorize(pending.StartLogin("/"))
	code := flowtest.ExchangeCode(t, pending.Callback(pending.Authorize(pending.StartLogin("/"))))
	bearer := env.AccessToken("carol", nil)

	sw.Down.Store(true)
	wantError(t, "login", b.Navigate("/auth/login?rd=/"), http.StatusServiceUnavailable, "store_unavailable")
	wantError(t, "callback", pending.Callback(cb), http.StatusServiceUnavailable, "store_unavailable")
	wantError(t, "exchange", pending.Exchange(code), http.StatusServiceUnavailable, "store_unavailable")
	wantStatus(t, "proxied request with a session cookie", b.Get("/data", api...), http.StatusOK)
	if env.Upstream.Last().Header.Get("X-Role") != "admin" {
		t.Errorf("upstream identity %v", env.Upstream.Last().Header)
	}
	wantStatus(t, "proxied request with a bearer token", env.NewBrowser().Get("/data", "Authorization", "Bearer "+bearer), http.StatusOK)
	wantStatus(t, "session", b.Get("/auth/session", api...), http.StatusOK)
	wantStatus(t, "refresh (the lock is lost, not the session)", b.Fetch("/auth/refresh", ""), http.StatusOK)
	wantStatus(t, "proxied request after refresh", b.Get("/data", api...), http.StatusOK)

	// Back up: the code survived the outage.
	sw.Down.Store(false)
	wantStatus(t, "exchange after recovery", pending.Exchange(code), http.StatusOK)
}
