package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authgate/authgate/devprovider"
)

// `authgate doctor` exit status: 0 healthy, 1 a check failed, 2 the
// configuration does not load.
func TestDoctorCommand(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()
	secret := randomString(32)
	p, err := devprovider.New(devprovider.Options{BaseURL: srv.URL, Slug: "authgate", ClientID: "authgate-test", ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p

	env := map[string]string{
		"AUTHENTIK_URL":           srv.URL,
		"AUTHENTIK_APP_SLUG":      "authgate",
		"AUTHENTIK_CLIENT_ID":     "authgate-test",
		"AUTHENTIK_CLIENT_SECRET": secret,
		"API_URL":                 "http://127.0.0.1:8080",
		"COOKIE_SECRET":           randomString(32),
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	doctor := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"doctor"}, args...), lookup, &out, &errOut)
		return code, out.String() + errOut.String()
	}

	code, out := doctor()
	if code != 0 || !strings.Contains(out, "all checks passed") {
		t.Errorf("healthy: exit %d\n%s", code, out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, env["COOKIE_SECRET"]) {
		t.Error("doctor prints a secret")
	}
	// A flag wins over the environment, as for serve.
	code, out = doctor("--client-secret", "wrong-secret")
	if code != 1 || !strings.Contains(out, "FAIL  client credentials") || !strings.Contains(out, "fix:") {
		t.Errorf("wrong secret: exit %d\n%s", code, out)
	}
	delete(env, "API_URL")
	code, out = doctor()
	if code != 2 || !strings.Contains(out, "api_url") {
		t.Errorf("invalid configuration: exit %d\n%s", code, out)
	}
}
