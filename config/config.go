// Package config loads authgate's settings from the environment, a YAML file and
// flags (in that order; flags win), checks them, and derives what the rest of
// authgate needs (issuer, internal base, redirect URI, cookie and header names).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/authgate/authgate/identity"
)

// RouteRule requires one of Roles or Groups for paths under Prefix.
type RouteRule struct {
	Prefix string   `mapstructure:"prefix" yaml:"prefix"`
	Roles  []string `mapstructure:"roles" yaml:"roles"`
	Groups []string `mapstructure:"groups" yaml:"groups"`
}

// Headers are the identity header names set upstream (and stripped inbound).
type Headers struct {
	Sub, OrgID, Role, Email, Name, Groups string
}

// All returns every identity header name.
func (h Headers) All() []string {
	return []string{h.Sub, h.OrgID, h.Role, h.Email, h.Name, h.Groups}
}

// Config is the validated configuration.
type Config struct {
	// Issuer is the public issuer tokens must carry, exactly.
	Issuer string
	// PublicBase is the provider's public origin (or Authentik base URL) and
	// InternalBase the base that replaces it for server-to-server calls; both
	// are equal when no internal URL is configured.
	PublicBase, InternalBase string
	Authentik                bool
	ClientID, ClientSecret   string

	APIURL      *url.URL // public base of /auth/*
	AuthPrefix  string   // path prefix of the auth endpoints, e.g. "/auth" or "/api/auth"
	RedirectURL string   // ${api_url}/auth/callback
	FrontendURL string
	// PostLogoutRedirectURL is sent to the end-session endpoint.
	PostLogoutRedirectURL string

	CookieSecret []byte
	Production   bool
	Dev          bool

	UpstreamURL *url.URL
	ListenAddr  string
	AdminAddr   string
	// AdminPprof serves net/http/pprof on the admin listener.
	AdminPprof bool
	RedisURL   string
	// RedisWaitReplicas makes store writes wait for that many replicas.
	RedisWaitReplicas int
	Scopes            []string

	CookieName, RefreshCookieName, CookieDomain string
	CookieMaxAge                                time.Duration
	PassAuthCookies                             bool

	Headers        Headers
	RoleRules      []identity.RoleRule
	DefaultRole    string
	PublicRoutes   []string
	RouteRules     []RouteRule
	TrustedProxies []netip.Prefix
	// RedirectHosts are the hosts absolute return URLs may name (always
	// including the api_url host).
	RedirectHosts []string

	AllowHS256             bool
	TokenCacheEntries      int
	RateLimitPerMinute     int
	RateLimitBurst         int
	JWKSMinRefetchInterval time.Duration
	TokenLeeway            time.Duration

	LogLevel, LogFormat string

	// Session lifecycle (lifecycle.go): logout, revocation, provisioning.
	PostLogoutRedirectURLs []string
	RevocationTTL          time.Duration
	Provision              Provision
}

// Error lists every problem found, one per line, each naming its key.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// Flags returns a flag set with one flag per key plus --config.
func Flags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.String("config", "", "YAML configuration file")
	for _, k := range keys {
		fs.String(k.Flag(), "", k.Help)
	}
	return fs
}

// Source is where Load reads from. Env is a lookup so tests need not touch the
// process environment.
type Source struct {
	Flags *pflag.FlagSet // parsed; may be nil
	Env   func(string) (string, bool)
	// Dev relaxes what `authgate dev` provides itself (cookie secret, provider).
	Dev bool
}

// Load reads and validates the configuration.
func Load(src Source) (*Config, error) {
	if src.Env == nil {
		src.Env = os.LookupEnv
	}
	v := viper.New()
	for _, k := range keys {
		if k.Default != nil {
			v.SetDefault(k.Name, k.Default)
		}
	}
	var problems []string

	// Environment first (lowest of the three), so a file or flag overrides it.
	envMap := map[string]any{}
	for _, k := range keys {
		for _, name := range k.Env {
			if val, ok := src.Env(name); ok && val != "" {
				envMap[k.Name] = val
				break
			}
		}
	}
	if val, ok := src.Env("NODE_ENV"); ok && val == "production" {
		if _, set := envMap["production"]; !set {
			envMap["production"] = "true"
		}
	}
	if err := v.MergeConfigMap(envMap); err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}

	if src.Flags != nil {
		if f := src.Flags.Lookup("config"); f != nil && f.Value.String() != "" {
			if err := mergeFile(v, f.Value.String()); err != nil {
				return nil, &Error{Problems: []string{err.Error()}}
			}
		}
		for _, k := range keys {
			if f := src.Flags.Lookup(k.Flag()); f != nil && f.Changed {
				v.Set(k.Name, f.Value.String())
			}
		}
	}

	c := &Config{Dev: src.Dev}
	r := reader{v: v}
	c.ClientID = r.str("client_id")
	c.ClientSecret = r.str("client_secret")
	c.FrontendURL = strings.TrimRight(r.str("frontend_url"), "/")
	c.Production = r.boolean("production")
	c.ListenAddr = r.str("listen_addr")
	c.AdminAddr = r.str("admin_addr")
	c.AdminPprof = r.boolean("admin_pprof")
	c.RedisURL = r.str("redis_url")
	c.RedisWaitReplicas = r.integer("redis_wait_replicas")
	c.Scopes = r.list("scopes")
	c.CookieName = r.str("cookie_name")
	c.RefreshCookieName = r.str("refresh_cookie_name")
	c.CookieDomain = r.str("cookie_domain")
	c.CookieMaxAge = r.duration("cookie_max_age")
	c.PassAuthCookies = r.boolean("pass_auth_cookies")
	c.Headers = Headers{
		Sub: r.str("header_user_sub"), OrgID: r.str("header_org_id"), Role: r.str("header_role"),
		Email: r.str("header_user_email"), Name: r.str("header_user_name"), Groups: r.str("header_user_groups"),
	}
	c.DefaultRole = r.str("default_role")
	c.PublicRoutes = r.list("public_routes")
	c.AllowHS256 = r.boolean("allow_hs256")
	c.TokenCacheEntries = r.integer("token_cache_entries")
	c.RateLimitPerMinute = r.integer("rate_limit_per_minute")
	c.RateLimitBurst = r.integer("rate_limit_burst")
	c.JWKSMinRefetchInterval = r.duration("jwks_min_refetch_interval")
	c.TokenLeeway = r.duration("token_leeway")
	c.LogLevel = r.str("log_level")
	c.LogFormat = r.str("log_format")
	c.RoleRules = r.roleRules("role_rules")
	c.RouteRules = r.routeRules("route_rules")
	c.TrustedProxies = r.prefixes("trusted_proxies")
	c.RedirectHosts = r.list("allowed_redirect_hosts")
	c.readLifecycle(&r)
	if s := r.str("cookie_secret"); s != "" {
		c.CookieSecret = []byte(s)
	}
	problems = append(problems, r.problems...)
	problems = append(problems, c.derive(r)...)
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

func mergeFile(v *viper.Viper, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// yaml's type errors quote the start of the offending value: when
			// --config points at a secret file by mistake, that is the secret.
			return fmt.Errorf("config file %s: must be a YAML mapping of settings (key: value)", path)
		}
		return fmt.Errorf("config file %s: not valid YAML: %s", path, strings.ReplaceAll(err.Error(), "\n", " "))
	}
	var unknown []string
	for name := range top {
		if lookup(name) == nil {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config file %s: unknown key(s): %s", path, strings.Join(unknown, ", "))
	}
	v.SetConfigType("yaml")
	if err := v.MergeConfig(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

func lookup(name string) *key {
	for i := range keys {
		if keys[i].Name == name {
			return &keys[i]
		}
	}
	return nil
}

// describe names a key in all the forms a user may have set it.
func describe(name string) string {
	k := lookup(name)
	if k == nil || len(k.Env) == 0 {
		return name
	}
	return fmt.Sprintf("%s (%s)", name, strings.Join(k.Env, "/"))
}
