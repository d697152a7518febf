package config

// key is one setting: its YAML/viper name, the environment names that set it
// (first wins), its flag, its default and its help text. The README's
// configuration reference is generated from this table (see TestReadmeListsEveryKey),
// so the three forms cannot drift apart.
type key struct {
	Name    string
	Env     []string
	Default any
	Help    string
	Secret  bool
}

// Flag returns the flag spelling of the key: snake_case becomes kebab-case.
func (k key) Flag() string {
	b := []byte(k.Name)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

var keys = []key{
	{Name: "authentik_url", Env: []string{"AUTHENTIK_URL"}, Help: "Public base URL of Authentik (what browsers see). The issuer is ${authentik_url}/application/o/${authentik_app_slug}/."},
	{Name: "authentik_internal_url", Env: []string{"AUTHENTIK_INTERNAL_URL"}, Help: "Base URL for server-to-server calls to Authentik (discovery, token, JWKS). Default: authentik_url."},
	{Name: "authentik_app_slug", Env: []string{"AUTHENTIK_APP_SLUG"}, Help: "Authentik application slug. Default: client_id."},
	{Name: "oidc_issuer_url", Env: []string{"OIDC_ISSUER_URL"}, Help: "Generic provider: the full public issuer URL (instead of authentik_url)."},
	{Name: "oidc_internal_url", Env: []string{"OIDC_INTERNAL_URL"}, Help: "Generic provider: internal base (scheme://host:port) for server-to-server calls."},
	{Name: "client_id", Env: []string{"AUTHENTIK_CLIENT_ID", "OIDC_CLIENT_ID"}, Help: "OAuth2 client id (required)."},
	{Name: "client_secret", Env: []string{"AUTHENTIK_CLIENT_SECRET", "OIDC_CLIENT_SECRET"}, Help: "OAuth2 client secret (required; confidential client).", Secret: true},
	{Name: "api_url", Env: []string{"API_URL"}, Help: "Public base URL under which browsers reach authgate's /auth/* (redirect_uri is ${api_url}/auth/callback). Required."},
	{Name: "frontend_url", Env: []string{"FRONTEND_URL"}, Help: "Where the browser lands after login. When set, the callback redirects to ${frontend_url}/auth/callback?exchange=CODE (SPA pattern) instead of the built-in /auth/complete page."},
	{Name: "cookie_secret", Env: []string{"COOKIE_SECRET"}, Help: "At least 32 bytes; keys cookie encryption. Required (except in `authgate dev`).", Secret: true},
	{Name: "production", Env: []string{"AUTHGATE_PRODUCTION"}, Default: false, Help: "Production mode: Secure cookies with __Host-/__Secure- prefixes, https api_url required. NODE_ENV=production also turns it on."},
	{Name: "upstream_url", Env: []string{"UPSTREAM_URL"}, Help: "The protected app (proxy mode). Empty: forward-auth only."},
	{Name: "listen_addr", Env: []string{"LISTEN_ADDR"}, Default: ":8080", Help: "Proxy listener."},
	{Name: "admin_addr", Env: []string{"ADMIN_ADDR"}, Default: ":9090", Help: "Admin listener (/healthz, /readyz, /metrics)."},
	{Name: "admin_pprof", Env: []string{"AUTHGATE_ADMIN_PPROF"}, Default: false, Help: "Serve Go's profiler (/debug/pprof/) on the admin listener, to diagnose CPU or memory under real load. Off by default: keep the admin listener private either way."},
	{Name: "redis_url", Env: []string{"REDIS_URL"}, Help: "redis://, rediss://, redis-sentinel://h1:p1,h2:p2/master or redis-cluster://h1:p1,h2:p2. Empty: in-memory store (one instance only)."},
	{Name: "redis_wait_replicas", Env: []string{"AUTHGATE_REDIS_WAIT_REPLICAS"}, Default: 0, Help: "With Redis replication (Sentinel): every state and exchange-code write waits until this many replicas have it (Redis WAIT) and fails with 503 otherwise, so a failover never loses a code already handed to a browser. Logins then need that many live replicas: run one more than this number. 0: asynchronous replication only."},
	{Name: "scopes", Env: []string{"AUTHGATE_SCOPES"}, Default: []string{"openid", "email", "profile", "organization", "offline_access"}, Help: "Scopes requested at login (space or comma separated). offline_access is what makes Authentik issue refresh tokens."},
	{Name: "cookie_name", Env: []string{"AUTHGATE_COOKIE_NAME"}, Default: "authgate_auth", Help: "Access-token cookie base name (prefixed __Host- in production)."},
	{Name: "refresh_cookie_name", Env: []string{"AUTHGATE_REFRESH_COOKIE_NAME"}, Default: "authgate_refresh", Help: "Refresh-token cookie base name (path ${api_url path}/auth/refresh; prefixed __Secure- in production)."},
	{Name: "cookie_domain", Env: []string{"AUTHGATE_COOKIE_DOMAIN"}, Help: "Cookie Domain attribute for SSO across sub-domains. Empty: host-only cookies."},
	{Name: "cookie_max_age", Env: []string{"AUTHGATE_COOKIE_MAX_AGE"}, Default: "168h", Help: "Lifetime of the session cookies (the refresh token's useful life)."},
	{Name: "header_user_sub", Env: []string{"AUTHGATE_HEADER_USER_SUB"}, Default: "X-User-Sub", Help: "Upstream header carrying sub."},
	{Name: "header_org_id", Env: []string{"AUTHGATE_HEADER_ORG_ID"}, Default: "X-Org-Id", Help: "Upstream header carrying organizationId (falls back to sub)."},
	{Name: "header_role", Env: []string{"AUTHGATE_HEADER_ROLE"}, Default: "X-Role", Help: "Upstream header carrying the mapped role."},
	{Name: "header_user_email", Env: []string{"AUTHGATE_HEADER_USER_EMAIL"}, Default: "X-User-Email", Help: "Upstream header carrying email."},
	{Name: "header_user_name", Env: []string{"AUTHGATE_HEADER_USER_NAME"}, Default: "X-User-Name", Help: "Upstream header carrying name."},
	{Name: "header_user_groups", Env: []string{"AUTHGATE_HEADER_USER_GROUPS"}, Default: "X-User-Groups", Help: "Upstream header carrying groups (comma separated)."},
	{Name: "role_rules", Env: []string{"AUTHGATE_ROLE_RULES"}, Help: "Ordered group→role mapping, first match wins. Env/flag form: \"group=role,group=role\". Default: ecosire-admins=admin,ecosire-support=support."},
	{Name: "default_role", Env: []string{"AUTHGATE_DEFAULT_ROLE"}, Default: "user", Help: "Role of users no rule matches."},
	{Name: "public_routes", Env: []string{"AUTHGATE_PUBLIC_ROUTES"}, Default: []string{}, Help: "Paths served without authentication (comma separated). \"/x\" matches exactly; \"/x/\" matches the subtree. Matched on the cleaned, decoded path."},
	{Name: "route_rules", Env: []string{"AUTHGATE_ROUTE_RULES"}, Help: "Per-route requirements. Env/flag form: \"/admin/=role:admin;/support/=group:ecosire-support|role:admin\" (any listed role or group passes). Unmatched routes need only a valid login."},
	{Name: "allowed_redirect_hosts", Env: []string{"AUTHGATE_ALLOWED_REDIRECT_HOSTS"}, Default: []string{}, Help: "Hosts that absolute return URLs may point at (multi-app SSO): \"app.example.com\" exactly, \".example.com\" any sub-domain at a dot boundary. The api_url host is always allowed."},
	{Name: "trusted_proxies", Env: []string{"AUTHGATE_TRUSTED_PROXIES"}, Default: []string{"127.0.0.0/8", "::1/128"}, Help: "CIDRs whose X-Forwarded-*/X-Original-*/Forwarded headers are believed."},
	{Name: "allow_hs256", Env: []string{"AUTHGATE_ALLOW_HS256"}, Default: false, Help: "Accept HS256 tokens keyed with the client secret (Authentik providers without a signing key). Off by default."},
	{Name: "post_logout_redirect_url", Env: []string{"AUTHGATE_POST_LOGOUT_REDIRECT_URL"}, Help: "Sent to the provider's end_session_endpoint. Default: frontend_url, else api_url."},
	{Name: "post_logout_redirect_urls", Env: []string{"AUTHGATE_POST_LOGOUT_REDIRECT_URLS"}, Default: []string{}, Help: "Allow-list of other URLs an app may ask for with /auth/logout?post_logout_redirect_uri= (exact match, comma separated). post_logout_redirect_url is always allowed; each must also be registered at the provider."},
	{Name: "revocation_ttl", Env: []string{"AUTHGATE_REVOCATION_TTL"}, Help: "How long a logout (local or back-channel) is remembered; must cover the longest time a token of the session can be presented, refresh tokens included. Default: cookie_max_age, at least 24h."},
	{Name: "provision_postgres_url", Env: []string{"AUTHGATE_PROVISION_POSTGRES_URL"}, Help: "PostgreSQL URL (postgres://user:pass@host:5432/db?sslmode=verify-full) of the user table upserted on every login. Empty: no PostgreSQL sink.", Secret: true},
	{Name: "provision_postgres_table", Env: []string{"AUTHGATE_PROVISION_POSTGRES_TABLE"}, Default: "users", Help: "Table (or schema.table) of the login upsert; needs a primary or unique key on the id column."},
	{Name: "provision_postgres_columns", Env: []string{"AUTHGATE_PROVISION_POSTGRES_COLUMNS"}, Help: "Column of each field (id, email, name, organizationId, lastLoginAt). Env/flag form: \"id=user_id,organizationId=org_id\"; a field mapped to - is not written; id and lastLoginAt are required. Default: the field names."},
	{Name: "provision_webhook_url", Env: []string{"AUTHGATE_PROVISION_WEBHOOK_URL"}, Help: "URL that receives a signed JSON POST on every login. Empty: no webhook."},
	{Name: "provision_webhook_secret", Env: []string{"AUTHGATE_PROVISION_WEBHOOK_SECRET"}, Help: "HMAC-SHA256 key of the webhook signature (X-Authgate-Signature), at least 32 bytes. Required with provision_webhook_url.", Secret: true},
	{Name: "provision_webhook_timeout", Env: []string{"AUTHGATE_PROVISION_WEBHOOK_TIMEOUT"}, Default: "5s", Help: "Timeout of one webhook attempt."},
	{Name: "provision_webhook_retries", Env: []string{"AUTHGATE_PROVISION_WEBHOOK_RETRIES"}, Default: 3, Help: "Retries after a failed webhook attempt (network error, timeout, 408, 429, 5xx), with exponential backoff."},
	{Name: "provision_required", Env: []string{"AUTHGATE_PROVISION_REQUIRED"}, Default: false, Help: "Refuse the login (502 provisioning_failed) when a provisioning sink fails. Off: sinks run in the background and failures are counted and logged."},
	{Name: "pass_auth_cookies", Env: []string{"AUTHGATE_PASS_AUTH_COOKIES"}, Default: false, Help: "Forward authgate's own cookies to the upstream (off: they are removed)."},
	{Name: "rate_limit_per_minute", Env: []string{"AUTHGATE_RATE_LIMIT_PER_MINUTE"}, Default: 120, Help: "Per-client sustained rate of /auth/login, /auth/callback and /auth/exchange (each writes to the store); 0 disables."},
	{Name: "rate_limit_burst", Env: []string{"AUTHGATE_RATE_LIMIT_BURST"}, Default: 60, Help: "Per-client burst for the same endpoints."},
	{Name: "token_cache_entries", Env: []string{"AUTHGATE_TOKEN_CACHE_ENTRIES"}, Default: 100000, Help: "Verified-token cache size; -1 disables the cache."},
	{Name: "token_leeway", Env: []string{"AUTHGATE_TOKEN_LEEWAY"}, Default: "30s", Help: "Clock-skew leeway for exp/nbf/iat (at most 60s)."},
	{Name: "jwks_min_refetch_interval", Env: []string{"AUTHGATE_JWKS_MIN_REFETCH_INTERVAL"}, Default: "12s", Help: "Minimum time between JWKS refetches caused by unknown key ids."},
	{Name: "log_level", Env: []string{"AUTHGATE_LOG_LEVEL"}, Default: "info", Help: "debug, info, warn or error."},
	{Name: "log_format", Env: []string{"AUTHGATE_LOG_FORMAT"}, Default: "json", Help: "json or text."},
}
