package config

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Provision configures user provisioning on login (package provision).
type Provision struct {
	PostgresURL   string
	PostgresTable string
	// PostgresColumns maps each field (ProvisionFields) to its column; a
	// field left out is not written.
	PostgresColumns map[string]string

	WebhookURL     string
	WebhookSecret  []byte
	WebhookTimeout time.Duration
	WebhookRetries int

	// Required refuses the login when a sink fails.
	Required bool
}

// Enabled reports whether any sink is configured.
func (p Provision) Enabled() bool { return p.PostgresURL != "" || p.WebhookURL != "" }

// ProvisionFields are the fields a provisioning sink writes, in column order.
var ProvisionFields = []string{"id", "email", "name", "organizationId", "lastLoginAt"}

// requiredFields cannot be left out of the upsert: id is its key, lastLoginAt
// the point of it.
var requiredFields = []string{"id", "lastLoginAt"}

// minRevocationTTL is the revocation_ttl default's floor.
const minRevocationTTL = 24 * time.Hour

// readLifecycle reads the logout, revocation and provisioning keys.
func (c *Config) readLifecycle(r *reader) {
	c.PostLogoutRedirectURLs = r.list("post_logout_redirect_urls")
	for _, u := range c.PostLogoutRedirectURLs {
		if _, err := absURL(u); err != nil {
			r.bad("post_logout_redirect_urls", "%v", err)
		}
	}

	// A revocation must outlive every token of the session it ends: the
	// refresh token in the session cookie lives as long as the cookie, and a
	// provider need not revoke offline_access refresh tokens at logout.
	c.RevocationTTL = max(c.CookieMaxAge, minRevocationTTL)
	if s := r.str("revocation_ttl"); s != "" {
		if d, err := time.ParseDuration(s); err != nil || d <= 0 {
			r.bad("revocation_ttl", "must be a positive duration like 24h")
		} else {
			c.RevocationTTL = d
		}
	}

	p := Provision{
		PostgresURL:    r.str("provision_postgres_url"),
		PostgresTable:  r.str("provision_postgres_table"),
		WebhookURL:     r.str("provision_webhook_url"),
		WebhookTimeout: r.duration("provision_webhook_timeout"),
		WebhookRetries: r.integer("provision_webhook_retries"),
		Required:       r.boolean("provision_required"),
	}
	if s := r.str("provision_webhook_secret"); s != "" {
		p.WebhookSecret = []byte(s)
	}
	p.PostgresColumns = r.columns("provision_postgres_columns")
	if p.PostgresURL != "" {
		if !strings.HasPrefix(p.PostgresURL, "postgres://") && !strings.HasPrefix(p.PostgresURL, "postgresql://") {
			// Never echo the value: it holds a password.
			r.bad("provision_postgres_url", "must be a postgres:// or postgresql:// URL")
		}
		if p.PostgresTable == "" {
			r.bad("provision_postgres_table", "required with provision_postgres_url")
		}
	}
	if p.WebhookURL != "" {
		if _, err := absURL(p.WebhookURL); err != nil {
			r.bad("provision_webhook_url", "%v", err)
		}
		if len(p.WebhookSecret) < 32 {
			r.bad("provision_webhook_secret", "required with provision_webhook_url: at least 32 random bytes")
		}
	}
	if p.WebhookRetries < 0 || p.WebhookRetries > 10 {
		r.bad("provision_webhook_retries", "must be between 0 and 10")
	}
	if p.Required && !p.Enabled() {
		r.bad("provision_required", "needs provision_postgres_url or provision_webhook_url")
	}
	c.Provision = p
}

// columns reads the field→column mapping: a map in YAML, "field=column,..."
// from the environment or a flag. Unlisted fields keep their own name as the
// column; "-" leaves a field out.
func (r *reader) columns(name string) map[string]string {
	cols := map[string]string{}
	for _, f := range ProvisionFields {
		cols[f] = f
	}
	set := func(field, col string) {
		field, col = strings.TrimSpace(field), strings.TrimSpace(col)
		// Case-insensitive: viper lower-cases the keys of YAML maps.
		known := ""
		for _, f := range ProvisionFields {
			if strings.EqualFold(f, field) {
				known = f
			}
		}
		if known == "" {
			r.bad(name, "unknown field %q (fields: %s)", field, strings.Join(ProvisionFields, ", "))
			return
		}
		field = known
		if col == "" {
			r.bad(name, "field %q: empty column (use - to leave it out)", field)
			return
		}
		cols[field] = col
	}
	switch x := r.v.Get(name).(type) {
	case nil:
	case string:
		if strings.TrimSpace(x) == "" {
			break
		}
		for _, pair := range strings.Split(x, ",") {
			f, col, ok := strings.Cut(pair, "=")
			if !ok {
				r.bad(name, "%q is not field=column", pair)
				continue
			}
			set(f, col)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s, ok := x[k].(string)
			if !ok {
				r.bad(name, "field %q: column must be a string", k)
				continue
			}
			set(k, s)
		}
	default:
		r.bad(name, "must be a map of field: column")
	}
	for _, f := range requiredFields {
		if cols[f] == "-" {
			r.bad(name, "field %q cannot be left out", f)
		}
	}
	for f, col := range cols {
		if col == "-" {
			delete(cols, f)
		} else if len(col) > 63 || strings.ContainsRune(col, 0) {
			r.bad(name, "field %q: %s", f, fmt.Sprintf("column %.20q is not a valid identifier", col))
		}
	}
	return cols
}
