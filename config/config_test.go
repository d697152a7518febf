package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/identity"
)

const (
	clientSecret = "cs-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	cookieSecret = "ck-0123456789abcdefghijklmnopqrstuvwxyz" // 39 bytes
)

// seedEnv is a complete configuration in the seed's environment names.
func seedEnv() map[string]string {
	return map[string]string{
		"AUTHENTIK_URL":           "https://auth.example.com",
		"AUTHENTIK_INTERNAL_URL":  "http://authentik-server:9000",
		"AUTHENTIK_CLIENT_ID":     "ecosire-api",
		"AUTHENTIK_CLIENT_SECRET": clientSecret,
		"API_URL":                 "https://api.example.com/api",
		"FRONTEND_URL":            "https://app.example.com",
		"COOKIE_SECRET":           cookieSecret,
		"NODE_ENV":                "production",
	}
}

// fakeEnv is a fake environment; Load must never read the process's.
func fakeEnv(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

// with returns a copy of env with kv applied; an empty value deletes the name.
func with(env map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

// load runs Load with env, an optional YAML file and flag arguments.
func load(t testing.TB, env map[string]string, yamlFile string, args ...string) (*Config, error) {
	t.Helper()
	fs := Flags("authgate")
	if yamlFile != "" {
		path := filepath.Join(t.TempDir(), "authgate.yaml")
		if err := os.WriteFile(path, []byte(yamlFile), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(Source{Flags: fs, Env: fakeEnv(env)})
}

func mustLoad(t testing.TB, env map[string]string, yamlFile string, args ...string) *Config {
	t.Helper()
	c, err := load(t, env, yamlFile, args...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func problems(t testing.TB, err error) []string {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want *config.Error", err, err)
	}
	return ce.Problems
}

func TestSeedEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Config // only the string fields compared below
		prod bool
	}{
		{
			name: "seed",
			env:  seedEnv(),
			want: Config{
				Issuer:       "https://auth.example.com/application/o/ecosire-api/",
				PublicBase:   "https://auth.example.com",
				InternalBase: "http://authentik-server:9000",
				ClientID:     "ecosire-api", ClientSecret: clientSecret,
				AuthPrefix:            "/api/auth",
				RedirectURL:           "https://api.example.com/api/auth/callback",
				FrontendURL:           "https://app.example.com",
				PostLogoutRedirectURL: "https://app.example.com/",
			},
			prod: true,
		},
		{
			name: "slug override, trailing slashes, no internal URL",
			env: with(seedEnv(), "AUTHENTIK_APP_SLUG", "my-app", "AUTHENTIK_URL", "https://auth.example.com/",
				"AUTHENTIK_INTERNAL_URL", "", "API_URL", "https://api.example.com/", "FRONTEND_URL", "https://app.example.com/"),
			want: Config{
				Issuer:       "https://auth.example.com/application/o/my-app/",
				PublicBase:   "https://auth.example.com",
				InternalBase: "https://auth.example.com",
				ClientID:     "ecosire-api", ClientSecret: clientSecret,
				AuthPrefix:            "/auth",
				RedirectURL:           "https://api.example.com/auth/callback",
				FrontendURL:           "https://app.example.com",
				PostLogoutRedirectURL: "https://app.example.com/",
			},
			prod: true,
		},
		{
			name: "Authentik under a path, no frontend, not production",
			env: with(seedEnv(), "AUTHENTIK_URL", "https://example.com/authentik", "FRONTEND_URL", "",
				"NODE_ENV", "development", "API_URL", "http://localhost:8080"),
			want: Config{
				Issuer:       "https://example.com/authentik/application/o/ecosire-api/",
				PublicBase:   "https://example.com/authentik",
				InternalBase: "http://authentik-server:9000",
				ClientID:     "ecosire-api", ClientSecret: clientSecret,
				AuthPrefix:            "/auth",
				RedirectURL:           "http://localhost:8080/auth/callback",
				PostLogoutRedirectURL: "http://localhost:8080/",
			},
		},
		{
			name: "generic provider aliases",
			env: with(seedEnv(), "AUTHENTIK_URL", "", "AUTHENTIK_INTERNAL_URL", "", "AUTHENTIK_CLIENT_ID", "", "AUTHENTIK_CLIENT_SECRET", "",
				"OIDC_ISSUER_URL", "https://hydra.example.com/", "OIDC_INTERNAL_URL", "http://hydra:4444",
				"OIDC_CLIENT_ID", "hydra-client", "OIDC_CLIENT_SECRET", clientSecret),
			want: Config{
				Issuer:       "https://hydra.example.com/",
				PublicBase:   "https://hydra.example.com",
				InternalBase: "http://hydra:4444",
				ClientID:     "hydra-client", ClientSecret: clientSecret,
				AuthPrefix:            "/api/auth",
				RedirectURL:           "https://api.example.com/api/auth/callback",
				FrontendURL:           "https://app.example.com",
				PostLogoutRedirectURL: "https://app.example.com/",
			},
			prod: true,
		},
		{
			name: "generic issuer with a path and no internal URL",
			env: with(seedEnv(), "AUTHENTIK_URL", "", "AUTHENTIK_INTERNAL_URL", "",
				"OIDC_ISSUER_URL", "https://kc.example.com:8443/realms/main"),
			want: Config{
				Issuer:       "https://kc.example.com:8443/realms/main",
				PublicBase:   "https://kc.example.com:8443",
				InternalBase: "https://kc.example.com:8443",
				ClientID:     "ecosire-api", ClientSecret: clientSecret,
				AuthPrefix:            "/api/auth",
				RedirectURL:           "https://api.example.com/api/auth/callback",
				FrontendURL:           "https://app.example.com",
				PostLogoutRedirectURL: "https://app.example.com/",
			},
			prod: true,
		},
		{
			name: "AUTHENTIK_CLIENT_* win over OIDC_CLIENT_*; empty values count as unset",
			env: with(seedEnv(), "OIDC_CLIENT_ID", "other", "OIDC_CLIENT_SECRET", "other-secret",
				"AUTHENTIK_CLIENT_SECRET", "", "NODE_ENV", "production"),
			want: Config{
				Issuer:       "https://auth.example.com/application/o/ecosire-api/",
				PublicBase:   "https://auth.example.com",
				InternalBase: "http://authentik-server:9000",
				ClientID:     "ecosire-api", ClientSecret: "other-secret",
				AuthPrefix:            "/api/auth",
				RedirectURL:           "https://api.example.com/api/auth/callback",
				FrontendURL:           "https://app.example.com",
				PostLogoutRedirectURL: "https://app.example.com/",
			},
			prod: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, tc.env, "")
			got := []string{c.Issuer, c.PublicBase, c.InternalBase, c.ClientID, c.ClientSecret, c.AuthPrefix, c.RedirectURL, c.FrontendURL, c.PostLogoutRedirectURL}
			want := []string{tc.want.Issuer, tc.want.PublicBase, tc.want.InternalBase, tc.want.ClientID, tc.want.ClientSecret, tc.want.AuthPrefix, tc.want.RedirectURL, tc.want.FrontendURL, tc.want.PostLogoutRedirectURL}
			names := []string{"Issuer", "PublicBase", "InternalBase", "ClientID", "ClientSecret", "AuthPrefix", "RedirectURL", "FrontendURL", "PostLogoutRedirectURL"}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s = %q, want %q", names[i], got[i], want[i])
				}
			}
			if c.Production != tc.prod {
				t.Errorf("Production = %v, want %v", c.Production, tc.prod)
			}
			if c.Authentik != (tc.env["AUTHENTIK_URL"] != "") {
				t.Errorf("Authentik = %v", c.Authentik)
			}
			if c.APIURL == nil || c.APIURL.String() != strings.TrimRight(tc.env["API_URL"], "/") {
				t.Errorf("APIURL = %v", c.APIURL)
			}
			if string(c.CookieSecret) != cookieSecret {
				t.Errorf("CookieSecret = %q", c.CookieSecret)
			}
		})
	}
}

func TestProductionSwitch(t *testing.T) {
	base := with(seedEnv(), "NODE_ENV", "")
	tests := []struct {
		env  []string
		want bool
	}{
		{nil, false},
		{[]string{"NODE_ENV", "production"}, true},
		{[]string{"NODE_ENV", "Production"}, false}, // Node's convention is the exact lower-case word
		{[]string{"NODE_ENV", "development"}, false},
		{[]string{"AUTHGATE_PRODUCTION", "true"}, true},
		{[]string{"AUTHGATE_PRODUCTION", "1"}, true},
		{[]string{"AUTHGATE_PRODUCTION", "false", "NODE_ENV", "production"}, false}, // the explicit setting wins
	}
	for _, tc := range tests {
		c := mustLoad(t, with(base, tc.env...), "")
		if c.Production != tc.want {
			t.Errorf("%v: Production = %v, want %v", tc.env, c.Production, tc.want)
		}
	}
	// The flag overrides NODE_ENV too.
	if c := mustLoad(t, with(base, "NODE_ENV", "production"), "", "--production=false"); c.Production {
		t.Error("--production=false did not override NODE_ENV=production")
	}
}

func TestPrecedence(t *testing.T) {
	env := with(seedEnv(), "AUTHGATE_DEFAULT_ROLE", "from-env", "AUTHGATE_SCOPES", "openid env", "AUTHGATE_LOG_LEVEL", "warn")
	file := "default_role: from-file\nscopes: [openid, file]\n"
	tests := []struct {
		name      string
		file      string
		args      []string
		role      string
		scopes    string
		logLevel  string
		clientID  string
		listenAdr string
	}{
		{"env only", "", nil, "from-env", "openid env", "warn", "ecosire-api", ":8080"},
		{"file over env", file, nil, "from-file", "openid file", "warn", "ecosire-api", ":8080"},
		{"flag over file", file, []string{"--default-role", "from-flag", "--scopes", "openid,flag"}, "from-flag", "openid flag", "warn", "ecosire-api", ":8080"},
		{"flag over env", "", []string{"--default-role=from-flag", "--client-id=flag-client", "--listen-addr=:7000"}, "from-flag", "openid env", "warn", "flag-client", ":7000"},
		{"file over default", "listen_addr: \":7001\"\n", nil, "from-env", "openid env", "warn", "ecosire-api", ":7001"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, env, tc.file, tc.args...)
			if c.DefaultRole != tc.role {
				t.Errorf("DefaultRole = %q, want %q", c.DefaultRole, tc.role)
			}
			if got := strings.Join(c.Scopes, " "); got != tc.scopes {
				t.Errorf("Scopes = %q, want %q", got, tc.scopes)
			}
			if c.LogLevel != tc.logLevel {
				t.Errorf("LogLevel = %q, want %q", c.LogLevel, tc.logLevel)
			}
			if c.ClientID != tc.clientID {
				t.Errorf("ClientID = %q, want %q", c.ClientID, tc.clientID)
			}
			if c.ListenAddr != tc.listenAdr {
				t.Errorf("ListenAddr = %q, want %q", c.ListenAddr, tc.listenAdr)
			}
		})
	}
}

// TestFileAlone: a YAML file can carry a whole configuration without any environment.
func TestFileAlone(t *testing.T) {
	c := mustLoad(t, nil, `
authentik_url: https://auth.example.com
authentik_app_slug: app
client_id: cid
client_secret: `+clientSecret+`
api_url: https://api.example.com
cookie_secret: `+cookieSecret+`
production: true
token_cache_entries: -1
jwks_min_refetch_interval: 30s
cookie_max_age: 24h
allow_hs256: true
`)
	if c.Issuer != "https://auth.example.com/application/o/app/" || !c.Production || c.TokenCacheEntries != -1 ||
		c.JWKSMinRefetchInterval != 30*time.Second || c.CookieMaxAge != 24*time.Hour || !c.AllowHS256 {
		t.Fatalf("config = %+v", c)
	}
}

func TestProcessEnvironmentIgnored(t *testing.T) {
	t.Setenv("AUTHENTIK_CLIENT_ID", "from-process")
	t.Setenv("AUTHGATE_DEFAULT_ROLE", "from-process")
	t.Setenv("AUTHGATE_CLIENT_ID", "from-process")
	t.Setenv("CLIENT_ID", "from-process")
	c := mustLoad(t, seedEnv(), "")
	if c.ClientID != "ecosire-api" || c.DefaultRole != "user" {
		t.Fatalf("the process environment leaked in: client %q, role %q", c.ClientID, c.DefaultRole)
	}
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, with(seedEnv(), "NODE_ENV", ""), "")
	checks := []struct {
		name      string
		got, want any
	}{
		{"Scopes", c.Scopes, []string{"openid", "email", "profile", "organization", "offline_access"}},
		{"Headers", c.Headers, Headers{Sub: "X-User-Sub", OrgID: "X-Org-Id", Role: "X-Role", Email: "X-User-Email", Name: "X-User-Name", Groups: "X-User-Groups"}},
		{"TrustedProxies", c.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
		{"ListenAddr", c.ListenAddr, ":8080"},
		{"AdminAddr", c.AdminAddr, ":9090"},
		{"CookieName", c.CookieName, "authgate_auth"},
		{"RefreshCookieName", c.RefreshCookieName, "authgate_refresh"},
		{"CookieMaxAge", c.CookieMaxAge, 168 * time.Hour},
		{"DefaultRole", c.DefaultRole, "user"},
		{"RoleRules", c.RoleRules, identity.DefaultRules},
		{"RouteRules", len(c.RouteRules), 0},
		{"PublicRoutes", len(c.PublicRoutes), 0},
		{"TokenCacheEntries", c.TokenCacheEntries, 100000},
		{"JWKSMinRefetchInterval", c.JWKSMinRefetchInterval, 12 * time.Second},
		{"LogLevel", c.LogLevel, "info"},
		{"LogFormat", c.LogFormat, "json"},
		{"AllowHS256", c.AllowHS256, false},
		{"PassAuthCookies", c.PassAuthCookies, false},
		{"Production", c.Production, false},
		{"UpstreamURL", c.UpstreamURL == nil, true},
		{"RedisURL", c.RedisURL, ""},
		{"CookieDomain", c.CookieDomain, ""},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if !contains(c.Scopes, "offline_access") {
		t.Error("default scopes lack offline_access: Authentik would issue no refresh token")
	}
	// The default rules are a copy: changing them must not change identity.DefaultRules.
	c.RoleRules[0].Role = "changed"
	if identity.DefaultRules[0].Role == "changed" {
		t.Error("RoleRules aliases identity.DefaultRules")
	}
}

func TestListsFromEnvironment(t *testing.T) {
	env := with(seedEnv(),
		"AUTHGATE_ROLE_RULES", "admins=admin, staff = support ,x=y",
		"AUTHGATE_ROUTE_RULES", "/admin/=role:admin;/x=group:g|role:r; ;/support/=group:ecosire-support|role:admin",
		"AUTHGATE_PUBLIC_ROUTES", "/healthz, /public/",
		"AUTHGATE_SCOPES", "openid email,profile",
		"AUTHGATE_TRUSTED_PROXIES", "10.0.0.0/8 192.168.1.7,fd00::/8",
		"UPSTREAM_URL", "http://app:3000",
	)
	c := mustLoad(t, env, "")
	wantRoles := []identity.RoleRule{{Group: "admins", Role: "admin"}, {Group: "staff", Role: "support"}, {Group: "x", Role: "y"}}
	if !reflect.DeepEqual(c.RoleRules, wantRoles) {
		t.Errorf("RoleRules = %+v, want %+v", c.RoleRules, wantRoles)
	}
	wantRoutes := []RouteRule{
		{Prefix: "/admin/", Roles: []string{"admin"}},
		{Prefix: "/x", Roles: []string{"r"}, Groups: []string{"g"}},
		{Prefix: "/support/", Roles: []string{"admin"}, Groups: []string{"ecosire-support"}},
	}
	if !reflect.DeepEqual(c.RouteRules, wantRoutes) {
		t.Errorf("RouteRules = %+v, want %+v", c.RouteRules, wantRoutes)
	}
	if got := strings.Join(c.PublicRoutes, " "); got != "/healthz /public/" {
		t.Errorf("PublicRoutes = %q", got)
	}
	if got := strings.Join(c.Scopes, " "); got != "openid email profile" {
		t.Errorf("Scopes = %q", got)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8")}
	if !reflect.DeepEqual(c.TrustedProxies, wantProxies) {
		t.Errorf("TrustedProxies = %v", c.TrustedProxies)
	}
	if c.UpstreamURL == nil || c.UpstreamURL.Host != "app:3000" {
		t.Errorf("UpstreamURL = %v", c.UpstreamURL)
	}
}

func TestListsFromYAML(t *testing.T) {
	c := mustLoad(t, seedEnv(), `
role_rules:
  - group: admins
    role: admin
  - {group: staff, role: support}
route_rules:
  - prefix: /admin/
    roles: [admin]
  - prefix: /support/
    groups: [ecosire-support]
    roles: [admin, support]
public_routes:
  - /healthz
  - /public/
trusted_proxies: [10.1.2.0/24, "2001:db8::1"]
scopes: [openid, email]
`)
	wantRoles := []identity.RoleRule{{Group: "admins", Role: "admin"}, {Group: "staff", Role: "support"}}
	if !reflect.DeepEqual(c.RoleRules, wantRoles) {
		t.Errorf("RoleRules = %+v", c.RoleRules)
	}
	wantRoutes := []RouteRule{
		{Prefix: "/admin/", Roles: []string{"admin"}},
		{Prefix: "/support/", Roles: []string{"admin", "support"}, Groups: []string{"ecosire-support"}},
	}
	if !reflect.DeepEqual(c.RouteRules, wantRoutes) {
		t.Errorf("RouteRules = %+v, want %+v", c.RouteRules, wantRoutes)
	}
	if !reflect.DeepEqual(c.PublicRoutes, []string{"/healthz", "/public/"}) {
		t.Errorf("PublicRoutes = %q", c.PublicRoutes)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("2001:db8::1/128")}
	if !reflect.DeepEqual(c.TrustedProxies, wantProxies) {
		t.Errorf("TrustedProxies = %v", c.TrustedProxies)
	}
	if !reflect.DeepEqual(c.Scopes, []string{"openid", "email"}) {
		t.Errorf("Scopes = %q", c.Scopes)
	}
}

// TestOneProblemPerMistake: each bad setting yields exactly one line, and the
// line names the key so the user knows what to change.
func TestOneProblemPerMistake(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		file string
		args []string
		key  string // must appear in the single problem line
	}{
		{name: "missing client secret", env: with(seedEnv(), "AUTHENTIK_CLIENT_SECRET", ""), key: "client_secret"},
		{name: "missing client id", env: with(seedEnv(), "AUTHENTIK_CLIENT_ID", ""), key: "client_id"},
		{name: "missing cookie secret", env: with(seedEnv(), "COOKIE_SECRET", ""), key: "cookie_secret"},
		{name: "short cookie secret", env: with(seedEnv(), "COOKIE_SECRET", strings.Repeat("k", 31)), key: "cookie_secret"},
		{name: "missing provider", env: with(seedEnv(), "AUTHENTIK_URL", ""), key: "authentik_url"},
		{name: "missing api_url", env: with(seedEnv(), "API_URL", ""), key: "api_url"},
		{name: "api_url without scheme", env: with(seedEnv(), "API_URL", "api.example.com/api"), key: "api_url"},
		{name: "api_url with query", env: with(seedEnv(), "API_URL", "https://api.example.com/?x=1"), key: "api_url"},
		{name: "api_url with user info", env: with(seedEnv(), "API_URL", "https://u:p@api.example.com"), key: "api_url"},
		{name: "api_url unparsable", env: with(seedEnv(), "API_URL", "https://api example.com"), key: "api_url"},
		{name: "authentik_url with fragment", env: with(seedEnv(), "AUTHENTIK_URL", "https://auth.example.com/#x"), key: "authentik_url"},
		{name: "authentik_url javascript scheme", env: with(seedEnv(), "AUTHENTIK_URL", "javascript:alert(1)"), key: "authentik_url"},
		{name: "authentik_internal_url malformed", env: with(seedEnv(), "AUTHENTIK_INTERNAL_URL", "authentik-server:9000"), key: "authentik_internal_url"},
		{name: "frontend_url malformed", env: with(seedEnv(), "FRONTEND_URL", "ftp://app.example.com"), key: "frontend_url"},
		{name: "upstream_url malformed", env: with(seedEnv(), "UPSTREAM_URL", "app:3000"), key: "upstream_url"},
		{name: "post_logout_redirect_url malformed", env: with(seedEnv(), "AUTHGATE_POST_LOGOUT_REDIRECT_URL", "/bye"), key: "post_logout_redirect_url"},
		{name: "oidc_issuer_url malformed", env: with(seedEnv(), "AUTHENTIK_URL", "", "OIDC_ISSUER_URL", "hydra.example.com"), key: "oidc_issuer_url"},
		{name: "oidc_internal_url with a path", env: with(seedEnv(), "AUTHENTIK_URL", "", "OIDC_ISSUER_URL", "https://hydra.example.com/", "OIDC_INTERNAL_URL", "http://hydra:4444/x"), key: "oidc_internal_url"},
		{name: "both authentik_url and oidc_issuer_url", env: with(seedEnv(), "OIDC_ISSUER_URL", "https://hydra.example.com/"), key: "authentik_url"},
		{name: "slug with a slash", env: with(seedEnv(), "AUTHENTIK_APP_SLUG", "a/b"), key: "authentik_app_slug"},
		{name: "unknown key in the file", env: seedEnv(), file: "client_id: x\nclient_secrte: y\n", key: "client_secrte"},
		{name: "file not a mapping", env: seedEnv(), file: "- a\n- b\n", key: "config file"},
		{name: "file not YAML", env: seedEnv(), file: "a: [b\n", key: "config file"},
		{name: "http api_url in production", env: with(seedEnv(), "API_URL", "http://api.example.com"), key: "api_url"},
		{name: "invalid header name", env: with(seedEnv(), "AUTHGATE_HEADER_ROLE", "X Role"), key: "header_role"},
		{name: "header name with colon", env: with(seedEnv(), "AUTHGATE_HEADER_USER_EMAIL", "X-Email:"), key: "header_user_email"},
		{name: "two headers the same", env: with(seedEnv(), "AUTHGATE_HEADER_USER_NAME", "x-user-sub"), key: "header_user_name"},
		{name: "scopes without openid", env: with(seedEnv(), "AUTHGATE_SCOPES", "email profile"), key: "scopes"},
		{name: "scopes from file without openid", env: seedEnv(), file: "scopes: [email]\n", key: "scopes"},
		{name: "route rule without kind", env: with(seedEnv(), "AUTHGATE_ROUTE_RULES", "/admin/=admin"), key: "route_rules"},
		{name: "route rule without =", env: with(seedEnv(), "AUTHGATE_ROUTE_RULES", "/admin/"), key: "route_rules"},
		{name: "route rule relative prefix", env: with(seedEnv(), "AUTHGATE_ROUTE_RULES", "admin/=role:admin"), key: "route_rules"},
		{name: "route rule empty role", env: with(seedEnv(), "AUTHGATE_ROUTE_RULES", "/admin/=role:"), key: "route_rules"},
		{name: "route rule in file without requirement", env: seedEnv(), file: "route_rules:\n  - prefix: /admin/\n", key: "route_rules"},
		{name: "route rule in file with unknown field", env: seedEnv(), file: "route_rules:\n  - prefix: /admin/\n    role: [admin]\n    roles: [admin]\n", key: "route_rules"},
		{name: "route rule in file with non-string role", env: seedEnv(), file: "route_rules:\n  - prefix: /admin/\n    roles: [admin, [x]]\n", key: "route_rules"},
		{name: "route rule in file with roles as a string", env: seedEnv(), file: "route_rules:\n  - prefix: /admin/\n    roles: admin\n", key: "route_rules"},
		{name: "role rule without =", env: with(seedEnv(), "AUTHGATE_ROLE_RULES", "admins"), key: "role_rules"},
		{name: "role rule in file missing role", env: seedEnv(), file: "role_rules:\n  - group: admins\n", key: "role_rules"},
		{name: "bad CIDR", env: with(seedEnv(), "AUTHGATE_TRUSTED_PROXIES", "10.0.0.0/33"), key: "trusted_proxies"},
		{name: "bad CIDR in file", env: seedEnv(), file: "trusted_proxies: [10.0.0.0/8, localhost]\n", key: "trusted_proxies"},
		{name: "bad duration", env: with(seedEnv(), "AUTHGATE_COOKIE_MAX_AGE", "7 days"), key: "cookie_max_age"},
		{name: "negative duration", env: with(seedEnv(), "AUTHGATE_COOKIE_MAX_AGE", "-1h"), key: "cookie_max_age"},
		{name: "duration without unit in file", env: seedEnv(), file: "cookie_max_age: 3600\n", key: "cookie_max_age"},
		{name: "refetch interval too short", env: with(seedEnv(), "AUTHGATE_JWKS_MIN_REFETCH_INTERVAL", "100ms"), key: "jwks_min_refetch_interval"},
		{name: "bad integer", env: with(seedEnv(), "AUTHGATE_TOKEN_CACHE_ENTRIES", "lots"), key: "token_cache_entries"},
		{name: "bad boolean", env: with(seedEnv(), "AUTHGATE_ALLOW_HS256", "maybe"), key: "allow_hs256"},
		{name: "bad boolean flag", env: seedEnv(), args: []string{"--pass-auth-cookies=perhaps"}, key: "pass_auth_cookies"},
		{name: "bad log level", env: with(seedEnv(), "AUTHGATE_LOG_LEVEL", "verbose"), key: "log_level"},
		{name: "bad log format", env: with(seedEnv(), "AUTHGATE_LOG_FORMAT", "xml"), key: "log_format"},
		{name: "public route without slash", env: with(seedEnv(), "AUTHGATE_PUBLIC_ROUTES", "healthz"), key: "public_routes"},
		{name: "prefixed cookie name", env: with(seedEnv(), "AUTHGATE_COOKIE_NAME", "__Host-x"), key: "cookie_name"},
		{name: "list where a value is expected", env: seedEnv(), file: "default_role: [a, b]\n", key: "default_role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.env, tc.file, tc.args...)
			if err == nil {
				t.Fatal("Load accepted the configuration")
			}
			p := problems(t, err)
			if len(p) != 1 {
				t.Fatalf("%d problems, want 1:\n  %s", len(p), strings.Join(p, "\n  "))
			}
			if !strings.Contains(p[0], tc.key) {
				t.Errorf("problem %q does not name %q", p[0], tc.key)
			}
			if strings.Contains(p[0], "\n") {
				t.Errorf("problem spans lines: %q", p[0])
			}
			if !strings.Contains(err.Error(), p[0]) {
				t.Errorf("Error() = %q lacks the problem", err.Error())
			}
		})
	}
}

func TestProblemNamesEnvironmentForm(t *testing.T) {
	_, err := load(t, with(seedEnv(), "AUTHENTIK_CLIENT_SECRET", ""), "")
	p := problems(t, err)
	if len(p) != 1 || !strings.Contains(p[0], "AUTHENTIK_CLIENT_SECRET") || !strings.Contains(p[0], "OIDC_CLIENT_SECRET") {
		t.Fatalf("problem %q should name the environment variables too", p)
	}
}

func TestSeveralProblems(t *testing.T) {
	env := with(seedEnv(),
		"AUTHENTIK_CLIENT_SECRET", "",
		"COOKIE_SECRET", "short",
		"API_URL", "http://api.example.com", // production
		"AUTHGATE_HEADER_ROLE", "X Role",
		"AUTHGATE_TRUSTED_PROXIES", "10.0.0.0/33",
		"AUTHGATE_COOKIE_MAX_AGE", "soon",
	)
	_, err := load(t, env, "")
	p := problems(t, err)
	want := []string{"client_secret", "cookie_secret", "api_url", "header_role", "trusted_proxies", "cookie_max_age"}
	if len(p) != len(want) {
		t.Fatalf("%d problems, want %d:\n  %s", len(p), len(want), strings.Join(p, "\n  "))
	}
	for _, key := range want {
		n := 0
		for _, line := range p {
			if strings.HasPrefix(line, key+" ") || strings.HasPrefix(line, key+":") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d lines start with %s, want 1:\n  %s", n, key, strings.Join(p, "\n  "))
		}
	}
	if lines := strings.Count(err.Error(), "\n"); lines != len(want) {
		t.Errorf("Error() has %d line breaks, want %d: %q", lines, len(want), err.Error())
	}
}

// TestErrorsNeverContainSecrets: configuration errors end up in logs and
// container events; they must not carry the secrets.
func TestErrorsNeverContainSecrets(t *testing.T) {
	bad := with(seedEnv(), "API_URL", "not a url", "AUTHGATE_SCOPES", "email")
	tests := []struct {
		name string
		env  map[string]string
		file string
		args []string
	}{
		{name: "other problems", env: bad},
		{name: "short cookie secret", env: with(bad, "COOKIE_SECRET", "tiny-secret-value")},
		{name: "secrets in the file", env: with(bad, "AUTHENTIK_CLIENT_SECRET", "", "COOKIE_SECRET", ""),
			file: "client_secret: " + clientSecret + "\ncookie_secret: " + cookieSecret + "\nlog_level: loud\n"},
		{name: "secrets in a broken file", env: seedEnv(),
			file: "client_secret: " + clientSecret + "\ncookie_secret: [" + cookieSecret + "\n"},
		{name: "secret as a list", env: with(seedEnv(), "AUTHENTIK_CLIENT_SECRET", ""),
			file: "client_secret: [" + clientSecret + "]\ncookie_secret: {" + cookieSecret + ": x}\n"},
		{name: "secret next to an unknown key", env: seedEnv(),
			file: "client_secret: " + clientSecret + "\nclientsecret: " + clientSecret + "\n"},
		// --config pointed at a secret file by mistake: the content is the secret.
		{name: "config file is the client secret", env: seedEnv(), file: clientSecret + "\n"},
		{name: "config file is the cookie secret", env: seedEnv(), file: cookieSecret},
		{name: "secrets in flags", env: with(bad, "AUTHENTIK_CLIENT_SECRET", "", "COOKIE_SECRET", ""),
			args: []string{"--client-secret", clientSecret, "--cookie-secret", cookieSecret[:20]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.env, tc.file, tc.args...)
			if err == nil {
				t.Fatal("Load accepted the configuration")
			}
			msg := err.Error()
			for _, s := range []string{clientSecret, cookieSecret, cookieSecret[:20], "tiny-secret-value"} {
				// Even a prefix identifies a secret: check the first 7 bytes too.
				for _, frag := range []string{s, s[:7]} {
					if strings.Contains(msg, frag) {
						t.Fatalf("error contains secret material %q:\n%s", frag, msg)
					}
				}
			}
		})
	}
}

func TestDevMode(t *testing.T) {
	c, err := Load(Source{Env: fakeEnv(nil), Dev: true})
	if err != nil {
		t.Fatalf("dev with an empty environment: %v", err)
	}
	if !c.Dev || c.Production {
		t.Fatalf("Dev = %v, Production = %v", c.Dev, c.Production)
	}
	// Dev still checks what is given.
	_, err = Load(Source{Env: fakeEnv(map[string]string{"COOKIE_SECRET": "short"}), Dev: true})
	if p := problems(t, err); len(p) != 1 || !strings.Contains(p[0], "cookie_secret") {
		t.Fatalf("problems = %q", p)
	}
}

func TestFlags(t *testing.T) {
	fs := Flags("authgate")
	if fs.Lookup("config") == nil {
		t.Error("no --config flag")
	}
	for _, k := range keys {
		f := fs.Lookup(k.Flag())
		if f == nil {
			t.Errorf("no flag for %s", k.Name)
			continue
		}
		if strings.Contains(f.Name, "_") || f.Usage == "" {
			t.Errorf("flag %q: usage %q", f.Name, f.Usage)
		}
	}
	if got := (key{Name: "jwks_min_refetch_interval"}).Flag(); got != "jwks-min-refetch-interval" {
		t.Errorf("Flag() = %q", got)
	}
	// Missing --config file is one clear problem.
	fs = Flags("authgate")
	if err := fs.Parse([]string{"--config", filepath.Join(t.TempDir(), "absent.yaml")}); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Source{Flags: fs, Env: fakeEnv(seedEnv())})
	if p := problems(t, err); len(p) != 1 || !strings.Contains(p[0], "config file") {
		t.Fatalf("problems = %q", p)
	}
}

// TestKeysTable guards the table the README, flags and environment come from.
func TestKeysTable(t *testing.T) {
	seenName, seenEnv := map[string]bool{}, map[string]bool{}
	for _, k := range keys {
		if seenName[k.Name] {
			t.Errorf("duplicate key %s", k.Name)
		}
		seenName[k.Name] = true
		if len(k.Env) == 0 {
			t.Errorf("%s has no environment name", k.Name)
		}
		for _, e := range k.Env {
			if seenEnv[e] {
				t.Errorf("environment name %s used twice", e)
			}
			seenEnv[e] = true
		}
		if k.Help == "" {
			t.Errorf("%s has no help", k.Name)
		}
	}
	for _, name := range []string{"client_secret", "cookie_secret"} {
		if k := lookup(name); k == nil || !k.Secret {
			t.Errorf("%s is not marked Secret", name)
		}
	}
	// The seed's names are a contract (DESIGN §3).
	for _, e := range []string{"AUTHENTIK_URL", "AUTHENTIK_INTERNAL_URL", "AUTHENTIK_APP_SLUG", "AUTHENTIK_CLIENT_ID", "AUTHENTIK_CLIENT_SECRET",
		"API_URL", "FRONTEND_URL", "COOKIE_SECRET", "OIDC_ISSUER_URL", "OIDC_INTERNAL_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET",
		"UPSTREAM_URL", "LISTEN_ADDR", "ADMIN_ADDR", "REDIS_URL"} {
		if !seenEnv[e] {
			t.Errorf("environment name %s missing", e)
		}
	}
}

// TestReadmeListsEveryKey: the README's reference table names every key in all
// three forms (YAML, environment, flag), so the documentation cannot drift from
// the table the code reads.
func TestReadmeListsEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatalf("README.md must exist at the repository root and document every configuration key: %v", err)
	}
	readme := string(data)
	for _, k := range keys {
		forms := append([]string{"`" + k.Name + "`", "`--" + k.Flag() + "`"}, k.Env...)
		for _, f := range forms {
			if !strings.Contains(readme, f) {
				t.Errorf("README.md does not mention %s (key %s)", f, k.Name)
			}
		}
	}
	if !strings.Contains(readme, "NODE_ENV") {
		t.Error("README.md does not mention NODE_ENV=production")
	}
}
