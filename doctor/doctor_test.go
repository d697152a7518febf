package doctor

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/devprovider"
	"github.com/authgate/authgate/internal/hydratest"
)

const testSecret = "doctor-test-client-secret-0123456789"

// provider serves an embedded provider (Authentik's URL layout).
func provider(t *testing.T, o devprovider.Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	o.BaseURL = srv.URL
	o.Slug, o.ClientID = "authgate", "authgate-test"
	if o.ClientSecret == "" {
		o.ClientSecret = testSecret
	}
	o.RedirectURIs = []string{"http://127.0.0.1:8080/auth/callback"}
	p, err := devprovider.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p
	return srv
}

func load(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	base := map[string]string{
		"AUTHENTIK_APP_SLUG":      "authgate",
		"AUTHENTIK_CLIENT_ID":     "authgate-test",
		"AUTHENTIK_CLIENT_SECRET": testSecret,
		"API_URL":                 "http://127.0.0.1:8080",
		"COOKIE_SECRET":           "0123456789abcdef0123456789abcdef",
	}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := config.Load(config.Source{Env: func(k string) (string, bool) { v, ok := base[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runDoctor(t *testing.T, cfg *config.Config, o Options) *Report {
	t.Helper()
	o.Timeout = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := Run(ctx, cfg, o)
	var buf bytes.Buffer
	r.Write(&buf)
	t.Logf("report:\n%s", buf.String())
	return r
}

func want(t *testing.T, r *Report, name string, status Status, detail ...string) Check {
	t.Helper()
	c, ok := r.Find(name)
	if !ok {
		t.Fatalf("no %q check", name)
	}
	if c.Status != status {
		t.Errorf("%s: %v (%s; fix: %s), want %v", name, c.Status, c.Detail, c.Fix, status)
	}
	for _, d := range detail {
		if !strings.Contains(c.Detail+" "+c.Fix, d) {
			t.Errorf("%s: %q does not mention %q", name, c.Detail+" fix: "+c.Fix, d)
		}
	}
	return c
}

func TestHealthyAuthentikLayout(t *testing.T) {
	p := provider(t, devprovider.Options{})
	r := runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": p.URL}), Options{})
	if r.Failed() {
		t.Error("a correct configuration failed")
	}
	want(t, r, CheckPublicDiscovery, OK)
	want(t, r, CheckInternalDiscovery, Skip)
	want(t, r, CheckIssuer, OK)
	want(t, r, CheckSigningKeys, OK, "RS256")
	want(t, r, CheckClient, OK, "invalid_grant")
	want(t, r, CheckScopes, OK)
	want(t, r, CheckRedirectURI, OK, "http://127.0.0.1:8080/auth/callback")
	want(t, r, CheckClockSkew, OK)
	var buf bytes.Buffer
	r.Write(&buf)
	if lines := strings.Count(buf.String(), "\n"); lines != len(r.Checks)+2 {
		t.Errorf("%d lines for %d checks: one line per check, plus header and summary", lines, len(r.Checks))
	}
}

// invalid_client is explained with Authentik's secret mismatch and the reset.
func TestWrongSecretAuthentik(t *testing.T) {
	p := provider(t, devprovider.Options{})
	r := runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": p.URL, "AUTHENTIK_CLIENT_SECRET": "not-the-secret"}), Options{})
	if !r.Failed() {
		t.Error("a wrong client secret did not fail")
	}
	c := want(t, r, CheckClient, Fail, "invalid_client", "AUTHENTIK_CLIENT_SECRET", "hash mismatch", "ak shell")
	if strings.Contains(c.Detail+c.Fix, "not-the-secret") {
		t.Error("the report prints the client secret")
	}
}

func TestInternalURL(t *testing.T) {
	p := provider(t, devprovider.Options{})
	// The same provider on a second address, as an in-cluster Service.
	internal := httptest.NewServer(p.Config.Handler)
	t.Cleanup(internal.Close)

	r := runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": p.URL, "AUTHENTIK_INTERNAL_URL": internal.URL}), Options{})
	want(t, r, CheckPublicDiscovery, OK)
	want(t, r, CheckInternalDiscovery, OK, internal.URL)
	want(t, r, CheckClient, OK)
	if r.Failed() {
		t.Error("failed")
	}

	// The public URL unreachable from here is only a warning: browsers use it.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	r = runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": deadURL, "AUTHENTIK_INTERNAL_URL": internal.URL}), Options{})
	want(t, r, CheckPublicDiscovery, Warn)
	want(t, r, CheckInternalDiscovery, OK)

	// The internal URL unreachable is a failure.
	r = runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": p.URL, "AUTHENTIK_INTERNAL_URL": deadURL}), Options{})
	want(t, r, CheckInternalDiscovery, Fail, "AUTHENTIK_INTERNAL_URL")
	if !r.Failed() {
		t.Error("did not fail")
	}
}

func TestIssuerMismatch(t *testing.T) {
	p := provider(t, devprovider.Options{})
	// The provider names http://127.0.0.1:port; authgate is told localhost.
	r := runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": strings.Replace(p.URL, "127.0.0.1", "localhost", 1)}), Options{})
	want(t, r, CheckIssuer, Fail, p.URL+"/application/o/authgate/", "AUTHENTIK_URL")
	// The other checks still run against the provider's own issuer.
	want(t, r, CheckSigningKeys, OK)
	want(t, r, CheckClient, OK)

	r = runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": p.URL, "AUTHENTIK_APP_SLUG": "other-app"}), Options{})
	want(t, r, CheckPublicDiscovery, Fail, "404", "AUTHENTIK_APP_SLUG")
}

func TestHS256Provider(t *testing.T) {
	p := provider(t, devprovider.Options{Alg: "HS256"})
	r := runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": p.URL}), Options{})
	want(t, r, CheckSigningKeys, Fail, "HS256", "Signing Key", "AUTHGATE_ALLOW_HS256")
	r = runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": p.URL, "AUTHGATE_ALLOW_HS256": "true"}), Options{})
	want(t, r, CheckSigningKeys, Warn, "HS256")
	if r.Failed() {
		t.Error("HS256 with allow_hs256 on is a warning, not a failure")
	}
}

func TestScopesAndRedirect(t *testing.T) {
	p := provider(t, devprovider.Options{})
	r := runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": p.URL, "AUTHGATE_SCOPES": "openid email profile groups"}), Options{})
	want(t, r, CheckScopes, Warn, "offline_access", "groups")
	r = runDoctor(t, load(t, map[string]string{"AUTHENTIK_URL": p.URL, "API_URL": "http://app.example.com"}), Options{})
	want(t, r, CheckRedirectURI, Warn, "https")
}

func TestClockSkew(t *testing.T) {
	p := provider(t, devprovider.Options{})
	cfg := load(t, map[string]string{"AUTHENTIK_URL": p.URL})
	r := runDoctor(t, cfg, Options{Now: func() time.Time { return time.Now().Add(5 * time.Minute) }})
	want(t, r, CheckClockSkew, Fail, "ahead of", "token_leeway")
	r = runDoctor(t, cfg, Options{Now: func() time.Time { return time.Now().Add(-10 * time.Second) }})
	want(t, r, CheckClockSkew, Warn, "behind")
}

// Against the real provider of the core tests (Ory Hydra), right and wrong secret.
func TestHydra(t *testing.T) {
	h := hydratest.Start(t, hydratest.Options{})
	id, secret := h.CreateClient(t, hydratest.Client{RedirectURIs: []string{"http://127.0.0.1:8080/auth/callback"}})
	env := map[string]string{
		"AUTHENTIK_APP_SLUG": "", "AUTHENTIK_CLIENT_ID": "", "AUTHENTIK_CLIENT_SECRET": "",
		"OIDC_ISSUER_URL":    h.IssuerURL(),
		"OIDC_CLIENT_ID":     id,
		"OIDC_CLIENT_SECRET": secret,
	}
	r := runDoctor(t, load(t, env), Options{})
	want(t, r, CheckPublicDiscovery, OK)
	want(t, r, CheckIssuer, OK)
	want(t, r, CheckSigningKeys, OK, "RS256")
	want(t, r, CheckClient, OK, "invalid_grant")
	want(t, r, CheckClockSkew, OK)
	if r.Failed() {
		t.Error("Hydra with the right secret failed")
	}

	env["OIDC_CLIENT_SECRET"] = "wrong-" + secret
	r = runDoctor(t, load(t, env), Options{})
	c := want(t, r, CheckClient, Fail, "invalid_client", "OIDC_CLIENT_SECRET")
	if strings.Contains(c.Fix, "Authentik") {
		t.Errorf("Authentik advice for a generic provider: %s", c.Fix)
	}
	if !r.Failed() {
		t.Error("Hydra with a wrong secret did not fail")
	}
}
