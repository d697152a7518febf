package oidcflow_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/flowtest"
)

// wantError checks an error answer: status and {"error": code}.
func wantError(t *testing.T, what string, resp *flowtest.Response, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, resp.StatusCode, status, resp.Body)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("%s: body is not JSON: %q", what, resp.Body)
	}
	if body.Error != code {
		t.Fatalf("%s: error %q, want %q", what, body.Error, code)
	}
}

func wantStatus(t *testing.T, what string, resp *flowtest.Response, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, resp.StatusCode, status, resp.Body)
	}
}

// setCookies indexes a response's Set-Cookie fields by name.
func setCookies(resp *flowtest.Response) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		m[c.Name] = c
	}
	return m
}

// attrs describes a cookie without its value.
func attrs(c *http.Cookie) string {
	v := *c
	v.Value = ""
	return v.String()
}

// claims decodes a JWT's payload without verifying it.
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// providerRefresh presents a refresh token straight to the provider's token
// endpoint, as an attacker holding it would.
func providerRefresh(t *testing.T, env *flowtest.Env, rt string) int {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, _ := http.NewRequest(http.MethodPost, env.Provider.TokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(env.Provider.ClientID(), env.Provider.ClientSecret())
	// The provider's public URL may be the only one it serves on.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// api is what fetch() from the app sends.
var api = []string{"Accept", "application/json", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Site", "same-origin"}
