package config

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authgate/authgate/internal/httptoken"
)

// derive checks cross-key rules and computes derived values. Each problem names
// the key to change.
func (c *Config) derive(r reader) []string {
	var p []string
	add := func(name, format string, args ...any) {
		p = append(p, fmt.Sprintf("%s: %s", describe(name), fmt.Sprintf(format, args...)))
	}

	authentikURL := strings.TrimRight(r.str("authentik_url"), "/")
	issuer := r.str("oidc_issuer_url")
	switch {
	case authentikURL != "" && issuer != "":
		add("oidc_issuer_url", "set either authentik_url or oidc_issuer_url, not both")
	case authentikURL != "":
		if _, err := absURL(authentikURL); err != nil {
			add("authentik_url", "%v", err)
			break
		}
		slug := r.str("authentik_app_slug")
		if slug == "" {
			slug = c.ClientID
		}
		// An empty slug means client_id is missing too; that problem is
		// reported once, under client_id.
		if slug != "" && strings.ContainsAny(slug, "/?#% ") {
			add("authentik_app_slug", "must be a plain slug (the default is client_id)")
		}
		c.Authentik = true
		// Authentik keeps the trailing slash in its issuer; tokens carry it.
		c.Issuer = authentikURL + "/application/o/" + slug + "/"
		c.PublicBase = authentikURL
		c.InternalBase = strings.TrimRight(r.str("authentik_internal_url"), "/")
		if c.InternalBase != "" {
			if _, err := absURL(c.InternalBase); err != nil {
				add("authentik_internal_url", "%v", err)
			}
		}
	case issuer != "":
		u, err := absURL(issuer)
		if err != nil {
			add("oidc_issuer_url", "%v", err)
			break
		}
		c.Issuer = issuer
		c.PublicBase = u.Scheme + "://" + u.Host
		c.InternalBase = strings.TrimRight(r.str("oidc_internal_url"), "/")
		if c.InternalBase != "" {
			iu, err := absURL(c.InternalBase)
			if err != nil {
				add("oidc_internal_url", "%v", err)
			} else if iu.Path != "" && iu.Path != "/" {
				add("oidc_internal_url", "must be scheme://host[:port] without a path")
			}
		}
	case !c.Dev:
		add("authentik_url", "required (or oidc_issuer_url for another provider)")
	}
	if c.InternalBase == "" {
		c.InternalBase = c.PublicBase
	}

	if c.ClientID == "" && !c.Dev {
		add("client_id", "required")
	}
	if c.ClientSecret == "" && !c.Dev {
		add("client_secret", "required")
	}

	apiURL := strings.TrimRight(r.str("api_url"), "/")
	if apiURL == "" && !c.Dev {
		add("api_url", "required: the public URL where browsers reach authgate")
	} else if apiURL != "" {
		u, err := absURL(apiURL)
		if err != nil {
			add("api_url", "%v", err)
		} else {
			c.APIURL = u
			c.RedirectHosts = append([]string{u.Host}, c.RedirectHosts...)
			c.AuthPrefix = strings.TrimRight(u.Path, "/") + "/auth"
			c.RedirectURL = apiURL + "/auth/callback"
			if c.Production && u.Scheme != "https" {
				add("api_url", "must be https in production (cookies are Secure)")
			}
		}
	}
	if c.FrontendURL != "" {
		if _, err := absURL(c.FrontendURL); err != nil {
			add("frontend_url", "%v", err)
		}
	}
	c.PostLogoutRedirectURL = r.str("post_logout_redirect_url")
	if c.PostLogoutRedirectURL == "" {
		if c.FrontendURL != "" {
			c.PostLogoutRedirectURL = c.FrontendURL + "/"
		} else if apiURL != "" {
			c.PostLogoutRedirectURL = apiURL + "/"
		}
	} else if _, err := absURL(c.PostLogoutRedirectURL); err != nil {
		add("post_logout_redirect_url", "%v", err)
	}

	switch {
	case len(c.CookieSecret) == 0 && !c.Dev:
		add("cookie_secret", "required: at least 32 random bytes (e.g. openssl rand -base64 32)")
	case len(c.CookieSecret) > 0 && len(c.CookieSecret) < 32:
		add("cookie_secret", "too short: %d bytes, need at least 32", len(c.CookieSecret))
	}

	if up := r.str("upstream_url"); up != "" {
		u, err := absURL(up)
		if err != nil {
			add("upstream_url", "%v", err)
		} else {
			c.UpstreamURL = u
		}
	}
	if len(c.Scopes) == 0 || !contains(c.Scopes, "openid") {
		add("scopes", "must include openid")
	}
	for _, name := range []string{c.CookieName, c.RefreshCookieName} {
		if !httptoken.Valid(name) || strings.HasPrefix(name, "__") {
			add("cookie_name", "%q is not a valid cookie name (prefixes are added automatically)", name)
		}
	}
	if c.CookieDomain != "" && c.Production {
		// A Domain attribute rules out the __Host- prefix; that is the user's choice.
		c.CookieDomain = strings.TrimPrefix(c.CookieDomain, ".")
	}
	seen := map[string]string{}
	for _, h := range []struct{ key, val string }{
		{"header_user_sub", c.Headers.Sub}, {"header_org_id", c.Headers.OrgID}, {"header_role", c.Headers.Role},
		{"header_user_email", c.Headers.Email}, {"header_user_name", c.Headers.Name}, {"header_user_groups", c.Headers.Groups},
	} {
		if !httptoken.Valid(h.val) {
			add(h.key, "%q is not a valid header name", h.val)
			continue
		}
		canon := http.CanonicalHeaderKey(strings.ReplaceAll(h.val, "_", "-"))
		if other, dup := seen[canon]; dup {
			add(h.key, "same header as %s", other)
		}
		seen[canon] = h.key
	}
	for _, route := range c.PublicRoutes {
		if !strings.HasPrefix(route, "/") {
			add("public_routes", "%q must start with /", route)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level", "must be debug, info, warn or error")
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		add("log_format", "must be json or text")
	}
	if c.TokenLeeway > 60*time.Second {
		add("token_leeway", "must be at most 60s")
	}
	if c.JWKSMinRefetchInterval > 0 && c.JWKSMinRefetchInterval < 1e9 {
		add("jwks_min_refetch_interval", "must be at least 1s")
	}
	return p
}

func absURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("malformed URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q must be an absolute http(s) URL", s)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q must be scheme://host[:port][/path] without user, query or fragment", s)
	}
	return u, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
