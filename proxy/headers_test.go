package proxy_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/flowtest"
)

var identityHeaders = []string{"X-User-Sub", "X-Org-Id", "X-Role", "X-User-Email", "X-User-Name", "X-User-Groups"}

// fold is how servers that fold "_" into "-" see a header name.
func fold(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }

// TestIdentityHeaderSpoofing (§5): whatever spelling a client uses, its copy
// of an identity header never reaches the upstream, and authgate's own value
// always does when the request is authenticated — also when the client lists
// the header in Connection: (golang/go#50580).
func TestIdentityHeaderSpoofing(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{PublicRoutes: "/public/"})
	b := env.NewBrowser()
	b.LoginAs("carol")
	want := map[string]string{ // carol: no organization, so org falls back to sub
		"X-Role": "user", "X-User-Email": "carol@example.com", "X-User-Name": "Carol User", "X-User-Groups": "staff",
	}
	var sub string
	{
		var who struct{ Sub string }
		flowtest.JSON(t, b.Get("/auth/session", api...).Body, &who)
		sub = who.Sub
		want["X-User-Sub"], want["X-Org-Id"] = sub, sub
	}
	bearer := "Bearer " + env.AccessToken("carol", nil)

	spoofs := []struct {
		name   string
		header []string
	}{
		{"canonical", []string{"X-User-Sub", "evil", "X-Role", "admin", "X-Org-Id", "org-evil"}},
		{"lower case", []string{"x-user-sub", "evil", "x-role", "admin", "x-org-id", "org-evil"}},
		{"upper case", []string{"X-USER-SUB", "evil", "X-ROLE", "admin"}},
		{"underscores", []string{"X_User_Sub", "evil", "X_Role", "admin", "x_org_id", "org-evil", "X_USER_EMAIL", "evil@example.com"}},
		{"mixed underscores and dashes", []string{"X-User_Sub", "evil", "x_user-groups", "ecosire-admins"}},
		{"duplicates", []string{"X-User-Sub", "evil", "X-User-Sub", "evil2", "x-user-sub", "evil3", "X-Role", "admin", "X-Role", "admin"}},
		{"every header", []string{"X-User-Sub", "evil", "X-Org-Id", "e", "X-Role", "admin", "X-User-Email", "e@e", "X-User-Name", "Eve", "X-User-Groups", "ecosire-admins"}},
		{"Connection names them", []string{"Connection", "X-User-Sub, X-Role", "X-User-Sub", "evil", "X-Role", "admin"}},
		{"Connection names all, in odd case", []string{"Connection", "x-user-sub, X-ORG-ID, x_role, X-User-Email, X-User-Name, X-User-Groups"}},
		{"empty values", []string{"X-User-Sub", "", "X-Role", ""}},
	}
	for _, sp := range spoofs {
		for _, auth := range []struct {
			name   string
			header []string
			path   string
		}{
			{"cookie", []string{"Cookie", sessionCookie(b)}, "/app"},
			{"bearer", []string{"Authorization", bearer}, "/app"},
			{"no session, public route", nil, "/public/x"},
		} {
			t.Run(sp.name+"/"+auth.name, func(t *testing.T) {
				before := env.Upstream.Count()
				resp, body := rawRequest(t, env, "GET", auth.path, append(append([]string{}, auth.header...), sp.header...)...)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				if env.Upstream.Count() != before+1 {
					t.Fatal("request did not reach the upstream")
				}
				seen := env.Upstream.Last().Header
				// No spelling of an identity header other than authgate's own.
				for k, vs := range seen {
					if !slices.ContainsFunc(identityHeaders, func(h string) bool { return fold(h) == fold(k) }) {
						continue
					}
					if auth.header == nil {
						t.Errorf("unauthenticated request reached the upstream with %s: %q", k, vs)
						continue
					}
					if !slices.Contains(identityHeaders, k) {
						t.Errorf("upstream got the client's spelling %s: %q", k, vs)
					}
				}
				if auth.header == nil {
					return
				}
				for _, h := range identityHeaders {
					if got := seen.Values(h); len(got) != 1 || got[0] != want[h] {
						t.Errorf("upstream %s = %q, want [%q]", h, got, want[h])
					}
				}
			})
		}
	}
}

// TestAuthCookiesNotForwarded (§5): authgate's cookies are removed, every
// other cookie reaches the upstream byte for byte.
func TestAuthCookiesNotForwarded(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	b := env.NewBrowser()
	b.LoginAs("")
	j := env.Jar
	session := sessionCookie(b)
	for _, tc := range []struct {
		name   string
		cookie []string // one Cookie field each
		want   []string
	}{
		{"only other cookies, untouched", []string{`a=1;b=2;  c="q x"`}, []string{`a=1;b=2;  c="q x"`}},
		{"mixed", []string{`theme=dark; ` + session + `; sid="quoted value"; ` + j.Refresh.Name + `=r; ` + j.ID.Name + `=i; empty=; ` + j.Login.Name + `=l; t=a%20b`},
			[]string{`theme=dark; sid="quoted value"; empty=; t=a%20b`}},
		{"authgate cookie first and last", []string{session + "; x=1; " + j.Login.Name + "=l"}, []string{"x=1"}},
		{"only authgate cookies", []string{session + "; " + j.ID.Name + "=i"}, nil},
		{"padded names", []string{"y=2; " + session + ";  " + j.Refresh.Name + " =r"}, []string{"y=2"}},
		{"two Cookie fields", []string{"a=1; " + session, j.Refresh.Name + "=r; b=2"}, []string{"a=1", "b=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			for _, c := range tc.cookie {
				hdr = append(hdr, "Cookie", c)
			}
			if !strings.Contains(strings.Join(tc.cookie, ";"), session) {
				hdr = append(hdr, "Authorization", "Bearer "+env.AccessToken("alice", nil))
			}
			resp, body := rawRequest(t, env, "GET", "/page", hdr...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			seen := env.Upstream.Last()
			if got := seen.Header.Values("Cookie"); !slices.Equal(got, tc.want) {
				t.Errorf("upstream Cookie = %q, want %q", got, tc.want)
			}
			if seen.Header.Get("X-Role") != "admin" {
				t.Errorf("request was not authenticated: %v", seen.Header)
			}
		})
	}
}

// TestForwardedHeaders (§5): X-Forwarded-*, X-Original-* and Forwarded are
// believed only from trusted proxies; from anyone else the upstream sees
// authgate's own values and none of the client's.
func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	client := []string{
		"X-Forwarded-For", "203.0.113.7",
		"X-Forwarded-Host", "app.example.com",
		"X-Forwarded-Proto", "https",
		"X-Forwarded-Port", "443",
		"X-Forwarded-Prefix", "/admin",
		"Forwarded", "for=203.0.113.7;host=evil.example;proto=https",
		"X-Original-URL", "/admin/secret",
		"X-Original-Forwarded-For", "203.0.113.7",
		"X-Real-IP", "203.0.113.7",
		"X_Forwarded_For", "203.0.113.8",
		"x-original-uri", "/admin/secret",
		"X-Rewrite-URL", "/admin/secret",
	}
	t.Run("trusted peer", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{PublicRoutes: "/public/"}) // loopback trusted by default
		resp, body := rawRequest(t, env, "GET", "/public/x", client...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		h := env.Upstream.Last().Header
		for name, want := range map[string]string{
			"X-Forwarded-For":   "203.0.113.7, 127.0.0.1",
			"X-Forwarded-Host":  "app.example.com",
			"X-Forwarded-Proto": "https",
			"X-Original-Url":    "/admin/secret",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
	})
	t.Run("untrusted peer", func(t *testing.T) {
		t.Parallel()
		env := flowtest.New(t, flowtest.Options{PublicRoutes: "/public/", TrustedProxies: "10.0.0.0/8"})
		bearer := "Bearer " + env.AccessToken("alice", nil)
		for _, path := range []string{"/public/x", "/app"} {
			resp, body := rawRequest(t, env, "GET", path, append([]string{"Authorization", bearer}, client...)...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
			}
			seen := env.Upstream.Last()
			h := seen.Header
			for name, want := range map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Host":  seen.Host,
				"X-Forwarded-Proto": "http",
			} {
				if got := h.Values(name); len(got) != 1 || got[0] != want {
					t.Errorf("%s: %s = %q, want [%q]", path, name, got, want)
				}
			}
			for k, vs := range h {
				for _, v := range vs {
					if strings.Contains(v, "203.0.113") || strings.Contains(v, "evil.example") || strings.Contains(v, "/admin") || v == "443" {
						t.Errorf("%s: the client's %s: %q reached the upstream", path, k, v)
					}
				}
			}
		}
	})
}

// TestIdentityHeaderInTrailer: an identity header sent as a chunked-body
// trailer (which some servers merge into the headers) never reaches the
// upstream.
func TestIdentityHeaderInTrailer(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{})
	tok := env.AccessToken("carol", nil)
	conn, err := net.Dial("tcp", env.Server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /app HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n"+
		"Trailer: X-User-Sub, X-Role\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nX-User-Sub: evil\r\nX-Role: admin\r\nx_user_email: e@e\r\n\r\n", tok)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	seen := env.Upstream.Last()
	if seen.Body != "hello" {
		t.Fatalf("upstream body %q", seen.Body)
	}
	for _, h := range []http.Header{seen.Header, seen.Trailer} {
		for k, vs := range h {
			for _, v := range vs {
				if v == "evil" || v == "e@e" || (fold(k) == "x-role" && v != "user") {
					t.Errorf("client trailer reached the upstream: %s: %s", k, v)
				}
			}
		}
	}
	if seen.Header.Get("X-Role") != "user" {
		t.Errorf("X-Role = %q", seen.Header.Get("X-Role"))
	}
}

// TestConfiguredHeaderNames (§5): renamed identity headers are stripped and
// set under their configured names, in every spelling.
func TestConfiguredHeaderNames(t *testing.T) {
	t.Parallel()
	env := flowtest.New(t, flowtest.Options{Env: map[string]string{
		"AUTHGATE_HEADER_ROLE": "X-Auth-Role", "AUTHGATE_HEADER_USER_SUB": "X-Auth-User",
	}})
	resp, body := rawRequest(t, env, "GET", "/x", "Authorization", "Bearer "+env.AccessToken("carol", nil),
		"X_Auth_Role", "admin", "x-auth-user", "evil", "X-AUTH-ROLE", "admin", "Connection", "X-Auth-Role")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	h := env.Upstream.Last().Header
	if got := h.Values("X-Auth-Role"); len(got) != 1 || got[0] != "user" {
		t.Errorf("X-Auth-Role = %q", got)
	}
	if got := h.Values("X-Auth-User"); len(got) != 1 || got[0] == "evil" || got[0] == "" {
		t.Errorf("X-Auth-User = %q", got)
	}
	for k := range h {
		if f := fold(k); (f == "x-auth-role" || f == "x-auth-user") && k != "X-Auth-Role" && k != "X-Auth-User" {
			t.Errorf("client spelling %s reached the upstream", k)
		}
	}
}
