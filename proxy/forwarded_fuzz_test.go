package proxy_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/flowtest"
)

// FuzzForwardedDescription attacks the forward-auth parser: whatever a front
// proxy's description says (Nginx X-Original-URL/-URI/-Method, Traefik and
// Caddy X-Forwarded-Uri/-Host/-Method/-Proto, the Envoy path), authgate
// neither panics nor answers 200 without a valid token (no route is public
// here), never answers outside its documented statuses, and never hands back
// an identity header the client wrote.
func FuzzForwardedDescription(f *testing.F) {
	env := flowtest.New(f, flowtest.Options{})
	token := env.AccessToken("alice", nil)
	sub := subject(f, token)
	host := env.Server.Listener.Addr().String()
	for _, s := range []struct {
		flavour                           uint8
		withToken                         bool
		method, original, uri, fhost, pro string
	}{
		{0, true, "GET", "http://" + host + "/app?x=1", "", "", ""},
		{0, false, "GET", "http://" + host + "/public/x#/../../admin", "", "", ""},
		{0, false, "GET", "", "/admin", host, "https"},
		{0, true, "POST", "https://" + host + "/a%2F..%2Fb", "", "", ""},
		{0, false, "GET", "http://user:pw@" + host + "/", "", "", ""},
		{0, false, "G ET", "http://" + host + "/", "", "", ""},
		{1, true, "GET", "", "/app", host, "http"},
		{1, false, "GET", "", "/public/#x", host, "http"},
		{1, false, "DELETE", "", "//evil/admin", "evil.example", "ftp"},
		{1, true, "GET", "", "/x\r\nX-User-Sub: evil", host, "http"},
		{1, false, "GET", "", "/%2e%2e/admin", host + ":8080", "https"},
		{2, true, "PUT", "", "/envoy/path?q=1", "", ""},
		{2, false, "GET", "", "/x#/../../admin", "", ""},
		{2, false, "GET", "", "x", "", ""},
	} {
		f.Add(s.flavour, s.withToken, s.method, s.original, s.uri, s.fhost, s.pro)
	}
	endpoints := []string{"/auth/verify", "/auth/forward", "/auth/envoy"}
	f.Fuzz(func(t *testing.T, flavour uint8, withToken bool, method, original, uri, fhost, proto string) {
		fl := int(flavour) % len(endpoints)
		target := endpoints[fl]
		reqMethod := http.MethodGet
		if fl == 2 {
			target += uri
			if validMethod(method) {
				reqMethod = method
			}
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return // not a request line a server would parse
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Method, req.URL, req.RequestURI = reqMethod, u, target
		req.RemoteAddr = "127.0.0.1:40000" // a trusted proxy
		h := req.Header
		switch fl {
		case 0:
			set(h, "X-Original-Method", method)
			set(h, "X-Original-URL", original)
			set(h, "X-Original-URI", uri)
			set(h, "X-Forwarded-Host", fhost)
			set(h, "X-Forwarded-Proto", proto)
		case 1:
			set(h, "X-Forwarded-Method", method)
			set(h, "X-Forwarded-Uri", uri)
			set(h, "X-Forwarded-Host", fhost)
			set(h, "X-Forwarded-Proto", proto)
		case 2:
			set(h, "X-Forwarded-Proto", proto)
		}
		h.Set("X-User-Sub", "evil")
		h.Set("X-User_Sub", "evil")
		h.Set("Accept", "text/html")
		if withToken {
			h.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		env.Handler.ServeHTTP(rec, req)

		if fl == 2 && target != "/auth/envoy" && !strings.HasPrefix(target, "/auth/envoy/") && !strings.HasPrefix(target, "/auth/envoy?") {
			// "/auth/envoyx": not forward-auth at all, another auth path.
			if rec.Code/100 == 2 && !withToken {
				t.Fatalf("%d without a token for %s", rec.Code, target)
			}
			return
		}
		switch rec.Code {
		case http.StatusOK:
			if !withToken {
				t.Fatalf("200 without a token: %s %s %v", reqMethod, target, h)
			}
			if got := rec.Header().Values("X-User-Sub"); len(got) != 1 || got[0] != sub {
				t.Fatalf("200 with identity %q, want %q", got, sub)
			}
		case http.StatusFound, http.StatusSeeOther, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		default:
			t.Fatalf("status %d for %s %s %v: %s", rec.Code, reqMethod, target, h, rec.Body)
		}
		for name, vs := range rec.Header() {
			for _, v := range vs {
				if strings.Contains(v, "evil") && strings.HasPrefix(strings.ToLower(name), "x-user") {
					t.Fatalf("client identity header came back: %s: %s", name, v)
				}
			}
		}
		if fl == 0 && rec.Code != http.StatusOK && rec.Code != http.StatusUnauthorized && rec.Code != http.StatusForbidden {
			t.Fatalf("Nginx endpoint answered %d: auth_request understands 2xx/401/403 only", rec.Code)
		}
	})
}

func set(h http.Header, name, value string) {
	if value != "" {
		h.Set(name, value)
	}
}

func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// subject reads a JWT's sub without verifying it.
func subject(t testing.TB, jwt string) string {
	parts := strings.Split(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Sub == "" {
		t.Fatalf("token without sub: %v", err)
	}
	return c.Sub
}
