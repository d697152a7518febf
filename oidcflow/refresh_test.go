package oidcflow_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/flowtest"
)

// TestRefresh covers §2.6 and Authentik's refresh rules (§3).
func TestRefresh(t *testing.T) {
	t.Parallel()

	t.Run("keeps the old refresh token when none is rotated in", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{OmitRotatedRefresh: true})
		b := env.NewBrowser()
		b.LoginAs("")
		before := b.Session()
		wantStatus(t, "refresh", b.Fetch("/auth/refresh", ""), http.StatusOK)
		after := b.Session()
		if after.Refresh != before.Refresh {
			t.Fatalf("refresh cookie changed to %q although the provider sent no new refresh token", after.Refresh)
		}
		if after.Access == before.Access || after.Access == "" {
			t.Fatal("access token not renewed")
		}
		// The kept token still works, at authgate and at the provider.
		env.Clock.Advance(time.Minute)
		wantStatus(t, "second refresh", b.Fetch("/auth/refresh", ""), http.StatusOK)
		if got := env.Provider.Stats().Token["refresh_token"]; got != 2 {
			t.Errorf("provider saw %d refresh grants, want 2", got)
		}
	})

	t.Run("concurrent refreshes of one session make one grant", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		b.LoginAs("")
		old := b.Session()
		// Every request carries the same refresh cookie, as concurrent
		// requests of one page do (the browser's jar would hand a late
		// request the already rotated cookie).
		cookie := env.Jar.Refresh.Name + "=" + old.Sealed[env.Jar.Refresh.Name]
		client := &http.Client{Transport: b.Client.Transport}
		const n = 8
		resps := make([]*http.Response, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				req := b.NewRequest(http.MethodPost, "/auth/refresh", nil, "Origin", env.URL, "Cookie", cookie)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				resps[i] = resp
			})
		}
		close(start)
		wg.Wait()
		if got := env.Provider.Stats().Token["refresh_token"]; got != 1 {
			t.Fatalf("provider saw %d refresh grants for one session, want 1 (Authentik would end the session)", got)
		}
		var access, refresh string
		for i, resp := range resps {
			if resp == nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("refresh %d: %v", i, resp)
			}
			a, r := "", ""
			for _, c := range resp.Cookies() {
				switch c.Name {
				case env.Jar.Auth.Name:
					a = env.Open(env.Jar.Auth, c.Value)
				case env.Jar.Refresh.Name:
					r = env.Open(env.Jar.Refresh, c.Value)
				}
			}
			if a == "" || r == "" {
				t.Fatalf("refresh %d set no session cookies", i)
			}
			if i == 0 {
				access, refresh = a, r
			} else if a != access || r != refresh {
				t.Errorf("refresh %d got other tokens than refresh 0", i)
			}
		}
		if refresh == old.Refresh || access == old.Access {
			t.Error("tokens not renewed")
		}
		// The browser stores the answer; its session goes on.
		for _, c := range resps[0].Cookies() {
			b.SetCookie(c)
		}
		wantStatus(t, "request after refresh", b.Get("/x", api...), http.StatusOK)
		wantStatus(t, "refresh after that", b.Fetch("/auth/refresh", ""), http.StatusOK)
	})

	t.Run("bad refresh cookie", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		wantError(t, "no cookie", b.Fetch("/auth/refresh", ""), http.StatusUnauthorized, "invalid_refresh_token")
		b.SetCookie(&http.Cookie{Name: env.Jar.Refresh.Name, Value: "garbage", Path: "/auth/refresh"})
		resp := b.Fetch("/auth/refresh", "")
		wantError(t, "garbage cookie", resp, http.StatusUnauthorized, "invalid_refresh_token")
		if c := setCookies(resp)[env.Jar.Refresh.Name]; c == nil || c.MaxAge >= 0 {
			t.Error("the unreadable refresh cookie was not cleared")
		}
		// A sealed access-token cookie moved into the refresh cookie does not open.
		b2 := env.NewBrowser()
		b2.LoginAs("")
		moved := b2.Session().Sealed[env.Jar.Auth.Name]
		b.SetCookie(&http.Cookie{Name: env.Jar.Refresh.Name, Value: moved, Path: "/auth/refresh"})
		wantError(t, "access cookie as refresh cookie", b.Fetch("/auth/refresh", ""), http.StatusUnauthorized, "invalid_refresh_token")
		if env.Provider.Stats().Token["refresh_token"] != 0 {
			t.Error("a bad cookie reached the provider")
		}
		wantError(t, "cross-origin refresh", b2.Post("/auth/refresh", "", "", "Origin", "https://evil.example"), http.StatusForbidden, "cross_origin")
	})

	t.Run("revoked refresh token ends the session", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		b.LoginAs("")
		// Someone else used the refresh token first: the provider rotated it away.
		if st := providerRefresh(t, env, b.Session().Refresh); st != http.StatusOK {
			t.Fatalf("provider refresh: %d", st)
		}
		resp := b.Fetch("/auth/refresh", "")
		wantError(t, "refresh with a rotated-away token", resp, http.StatusUnauthorized, "invalid_refresh_token")
		set := setCookies(resp)
		for _, name := range []string{env.Jar.Auth.Name, env.Jar.Refresh.Name} {
			if c := set[name]; c == nil || c.MaxAge >= 0 {
				t.Errorf("%s not cleared after the provider refused the refresh", name)
			}
		}
	})

	t.Run("browser navigation", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		b.LoginAs("")
		old := b.Session()
		resp := b.Navigate("/auth/refresh?rd=" + url.QueryEscape("/x?y=1"))
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/x?y=1" {
			t.Fatalf("GET /auth/refresh: %d Location %q, want 302 /x?y=1", resp.StatusCode, resp.Header.Get("Location"))
		}
		if s := b.Session(); s.Access == old.Access || s.Refresh == old.Refresh {
			t.Error("GET /auth/refresh did not renew the cookies")
		}
		for _, rd := range []string{"//evil.example", "https://evil.example", "/\\evil"} {
			r := b.Navigate("/auth/refresh?rd=" + url.QueryEscape(rd))
			if loc := r.Header.Get("Location"); r.StatusCode != http.StatusFound || loc != "/" {
				t.Errorf("rd %q: %d Location %q, want 302 /", rd, r.StatusCode, loc)
			}
		}
		// Without a session the navigation ends at the login.
		fresh := env.NewBrowser()
		r := fresh.Navigate("/auth/refresh?rd=%2Fy")
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusFound || !strings.Contains(loc, "/auth/login?rd=%2Fy") {
			t.Errorf("refresh without session: %d Location %q", r.StatusCode, loc)
		}
	})

	t.Run("expired access token", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{})
		b := env.NewBrowser()
		b.LoginAs("")
		env.Clock.Advance(6 * time.Minute) // access tokens live 5 min, leeway 30 s

		api := b.Get("/api/items", api...)
		wantError(t, "API call with an expired token", api, http.StatusUnauthorized, "token_expired")
		if ch := api.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate %q", ch)
		}

		nav := b.Navigate("/page?a=b")
		want := env.URL + "/auth/refresh?rd=" + url.QueryEscape("/page?a=b")
		if nav.StatusCode != http.StatusFound || nav.Header.Get("Location") != want {
			t.Fatalf("navigation with an expired token: %d Location %q, want 302 %s", nav.StatusCode, nav.Header.Get("Location"), want)
		}
		back := b.Navigate(nav.Header.Get("Location"))
		if back.StatusCode != http.StatusFound || back.Header.Get("Location") != "/page?a=b" {
			t.Fatalf("refresh: %d Location %q", back.StatusCode, back.Header.Get("Location"))
		}
		wantStatus(t, "page after refresh", b.Navigate("/page?a=b"), http.StatusOK)
		if env.Upstream.Last().RequestURI != "/page?a=b" {
			t.Errorf("upstream got %q", env.Upstream.Last().RequestURI)
		}
	})
}

// TestLogout covers the remaining logout paths (§2.7).
func TestLogout(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	b := env.NewBrowser()
	b.LoginAs("")
	wantError(t, "cross-origin logout", b.Post("/auth/logout", "", "", "Origin", "https://evil.example"), http.StatusForbidden, "cross_origin")
	wantStatus(t, "session survives a refused logout", b.Get("/auth/session", api...), http.StatusOK)

	resp := b.Navigate("/auth/logout")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, env.Provider.EndSessionURL()+"?") {
		t.Fatalf("GET /auth/logout: %d Location %q", resp.StatusCode, loc)
	}
	if !strings.Contains(loc, "id_token_hint=") || !strings.Contains(loc, "post_logout_redirect_uri=") {
		t.Errorf("logout Location %q lacks id_token_hint or post_logout_redirect_uri", loc)
	}
	wantStatus(t, "session after logout", b.Get("/auth/session", api...), http.StatusUnauthorized)

	// Without an ID token there is no hint, so no redirect URI either
	// (Authentik refuses post_logout_redirect_uri without id_token_hint).
	var out struct {
		LogoutURL string `json:"logoutUrl"`
	}
	flowtest.JSON(t, env.NewBrowser().Fetch("/auth/logout", "").Body, &out)
	if strings.Contains(out.LogoutURL, "post_logout_redirect_uri") || strings.Contains(out.LogoutURL, "id_token_hint") {
		t.Errorf("logout without session: %q", out.LogoutURL)
	}
}
