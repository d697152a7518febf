package deploy

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/authgate/config"
)

// blueprint is the decoded deploy/authentik/blueprint.yaml.
type blueprint struct {
	doc     obj
	context obj
	entries []obj
}

func loadBlueprint(t *testing.T) *blueprint {
	t.Helper()
	data, err := os.ReadFile("authentik/blueprint.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := decodeTagged(data)
	if err != nil {
		t.Fatalf("blueprint: %v", err)
	}
	b := &blueprint{doc: v.(obj), context: mapping(v, "context")}
	for _, e := range list(v, "entries") {
		b.entries = append(b.entries, e.(obj))
	}
	return b
}

func (b *blueprint) models(model string) []obj {
	var out []obj
	for _, e := range b.entries {
		if str(e, "model") == model {
			out = append(out, e)
		}
	}
	return out
}

func (b *blueprint) one(t *testing.T, model string) obj {
	t.Helper()
	m := b.models(model)
	if len(m) != 1 {
		t.Fatalf("%d entries of %s, want 1", len(m), model)
	}
	return m[0]
}

// envRef is an !Env reference: the variable and its default (nil: required).
type envRef struct {
	Name    string
	Default any
}

// envRefs returns the !Env references of the blueprint.
func (b *blueprint) envRefs() map[string]envRef {
	refs := map[string]envRef{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case Tagged:
			if x.Tag == "!Env" {
				switch a := x.Value.(type) {
				case string:
					refs[a] = envRef{Name: a}
				case []any:
					refs[str(a[0])] = envRef{Name: str(a[0]), Default: a[1]}
				}
			}
			walk(x.Value)
		case obj:
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(b.doc)
	return refs
}

// resolve evaluates the blueprint tags that name values (!Context, !Env,
// !Format) with env, the way Authentik's worker would.
func (b *blueprint) resolve(t *testing.T, v any, env map[string]string) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case Tagged:
		switch x.Tag {
		case "!Context":
			c, ok := b.context[str(x.Value)]
			if !ok {
				t.Fatalf("!Context %v: no such context key", x.Value)
			}
			return b.resolve(t, c, env)
		case "!Env":
			switch a := x.Value.(type) {
			case string:
				if v, ok := env[a]; ok {
					return v
				}
				t.Fatalf("!Env %s is required and not set", a)
			case []any:
				if v, ok := env[str(a[0])]; ok {
					return v
				}
				return str(a[1])
			}
		case "!Format":
			args := list(x.Value)
			var vals []any
			for _, a := range args[1:] {
				vals = append(vals, b.resolve(t, a, env))
			}
			return fmt.Sprintf(str(args[0]), vals...)
		}
	}
	t.Fatalf("cannot resolve %v", v)
	return ""
}

func TestBlueprintParses(t *testing.T) {
	b := loadBlueprint(t)
	if n, _ := integer(b.doc, "version"); n != 1 {
		t.Errorf("version %v, want 1", get(b.doc, "version"))
	}
	if str(b.doc, "metadata", "name") == "" {
		t.Error("metadata.name is required")
	}
	ids := map[string]bool{}
	for _, e := range b.entries {
		if str(e, "model") == "" {
			t.Errorf("entry without model: %v", e)
		}
		if id := str(e, "id"); id != "" {
			if ids[id] {
				t.Errorf("duplicate id %s", id)
			}
			ids[id] = true
		}
	}
	// Every !KeyOf names an entry id, every !Context a context key, and
	// every !Find is [model, [field, value]].
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case Tagged:
			switch x.Tag {
			case "!KeyOf":
				if !ids[str(x.Value)] {
					t.Errorf("!KeyOf %v: no entry has that id", x.Value)
				}
			case "!Context":
				if _, ok := b.context[str(x.Value)]; !ok {
					t.Errorf("!Context %v: no such context key", x.Value)
				}
			case "!Find":
				a := list(x.Value)
				if len(a) != 2 || !strings.Contains(str(a[0]), ".") || len(list(a[1])) != 2 {
					t.Errorf("!Find %v: want [app.model, [field, value]]", x.Value)
				}
			case "!Env", "!Format":
			default:
				t.Errorf("unexpected tag %s", x.Tag)
			}
			walk(x.Value)
		case obj:
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(b.doc)
}

// The blueprint creates exactly what authgate's configuration expects of
// Authentik (DESIGN.md §3, README "Authentik setup").
func TestBlueprintMatchesConfig(t *testing.T) {
	b := loadBlueprint(t)
	const apiURL = "https://app.example.com/api"
	env := map[string]string{
		"AUTHGATE_BLUEPRINT_CLIENT_ID":     "ecosire-web",
		"AUTHGATE_BLUEPRINT_CLIENT_SECRET": "s3cret",
		"AUTHGATE_BLUEPRINT_APP_SLUG":      "ecosire-web",
		"AUTHGATE_BLUEPRINT_API_URL":       apiURL,
	}
	// authgate configured with the same values.
	cfg, err := config.Load(config.Source{Env: func(k string) (string, bool) {
		v, ok := map[string]string{
			"AUTHENTIK_URL":           "https://auth.example.com",
			"AUTHENTIK_CLIENT_ID":     env["AUTHGATE_BLUEPRINT_CLIENT_ID"],
			"AUTHENTIK_CLIENT_SECRET": env["AUTHGATE_BLUEPRINT_CLIENT_SECRET"],
			"AUTHENTIK_APP_SLUG":      env["AUTHGATE_BLUEPRINT_APP_SLUG"],
			"API_URL":                 apiURL,
			"COOKIE_SECRET":           "0123456789abcdef0123456789abcdef",
		}[k]
		return v, ok
	}})
	if err != nil {
		t.Fatal(err)
	}

	p := b.one(t, "authentik_providers_oauth2.oauth2provider")
	attrs := mapping(p, "attrs")
	if str(attrs, "client_type") != "confidential" {
		t.Errorf("client_type %q: authgate is a confidential client", str(attrs, "client_type"))
	}
	if got := b.resolve(t, get(attrs, "client_id"), env); got != cfg.ClientID {
		t.Errorf("client_id %q, authgate's AUTHENTIK_CLIENT_ID %q", got, cfg.ClientID)
	}
	if got := b.resolve(t, get(attrs, "client_secret"), env); got != cfg.ClientSecret {
		t.Errorf("client_secret is not the one authgate presents")
	}
	if ref, ok := b.envRefs()["AUTHGATE_BLUEPRINT_CLIENT_SECRET"]; !ok || ref.Default != nil {
		t.Error("the client secret must come from the environment, with no default in the file")
	}
	var redirects []string
	for _, r := range list(attrs, "redirect_uris") {
		if str(r, "matching_mode") != "strict" {
			t.Errorf("redirect URI %v: matching_mode must be strict (a regex invites open redirects)", r)
		}
		redirects = append(redirects, b.resolve(t, get(r, "url"), env))
	}
	if !slices.Contains(redirects, cfg.RedirectURL) {
		t.Errorf("redirect_uris %v lack authgate's redirect URI %s", redirects, cfg.RedirectURL)
	}
	for _, g := range []string{"authorization_code", "refresh_token"} {
		if !slices.Contains(list(attrs, "grant_types"), any(g)) {
			t.Errorf("grant_types lack %s", g)
		}
	}
	sk, ok := get(attrs, "signing_key").(Tagged)
	if !ok || sk.Tag != "!Find" || str(sk.Value, 0) != "authentik_crypto.certificatekeypair" {
		t.Errorf("signing_key %v: without one Authentik signs HS256 with the client secret", get(attrs, "signing_key"))
	}
	for _, flow := range []string{"authorization_flow", "invalidation_flow"} {
		if f, ok := get(attrs, flow).(Tagged); !ok || str(f.Value, 0) != "authentik_flows.flow" {
			t.Errorf("%s %v", flow, get(attrs, flow))
		}
	}

	// Scopes: the provider offers every scope authgate requests by default.
	sm := b.one(t, "authentik_providers_oauth2.scopemapping")
	if str(sm, "attrs", "scope_name") != "organization" {
		t.Errorf("scope mapping for %q, want organization", str(sm, "attrs", "scope_name"))
	}
	expr := str(sm, "attrs", "expression")
	for _, s := range []string{`"organizationId"`, `request.user.attributes.get("organizationId", str(request.user.pk))`, `"name": request.user.name`} {
		if !strings.Contains(expr, s) {
			t.Errorf("organization mapping expression lacks %s:\n%s", s, expr)
		}
	}
	var offered []string
	for _, pm := range list(attrs, "property_mappings") {
		tag := pm.(Tagged)
		switch tag.Tag {
		case "!KeyOf":
			if str(tag.Value) != str(sm, "id") {
				t.Errorf("property mapping !KeyOf %v is not the organization mapping", tag.Value)
			}
			offered = append(offered, str(sm, "attrs", "scope_name"))
		case "!Find":
			managed := str(tag.Value, 1, 1)
			const prefix = "goauthentik.io/providers/oauth2/scope-"
			if str(tag.Value, 1, 0) != "managed" || !strings.HasPrefix(managed, prefix) {
				t.Errorf("property mapping %v: want Authentik's managed scope mapping", tag)
			}
			offered = append(offered, strings.TrimPrefix(managed, prefix))
		}
	}
	for _, s := range cfg.Scopes {
		if !slices.Contains(offered, s) {
			t.Errorf("authgate requests scope %s, the provider does not offer it (offered %v)", s, offered)
		}
	}
	for _, s := range []string{"offline_access", "organization"} {
		if !slices.Contains(cfg.Scopes, s) {
			t.Errorf("authgate's default scopes lack %s", s)
		}
	}

	// The application's slug is authgate's AUTHENTIK_APP_SLUG, so the issuers agree.
	app := b.one(t, "authentik_core.application")
	slug := b.resolve(t, get(app, "attrs", "slug"), env)
	if want := "https://auth.example.com/application/o/" + slug + "/"; want != cfg.Issuer {
		t.Errorf("application issuer %s, authgate's %s", want, cfg.Issuer)
	}
	if pv, ok := get(app, "attrs", "provider").(Tagged); !ok || pv.Tag != "!KeyOf" || str(pv.Value) != str(p, "id") {
		t.Errorf("application provider %v is not the blueprint's provider", get(app, "attrs", "provider"))
	}

	// The groups of the default role mapping.
	var groups []string
	for _, g := range b.models("authentik_core.group") {
		groups = append(groups, str(g, "identifiers", "name"))
	}
	if len(cfg.RoleRules) == 0 {
		t.Fatal("no default role rules")
	}
	for _, r := range cfg.RoleRules {
		if !slices.Contains(groups, r.Group) {
			t.Errorf("role rule %s → %s: the blueprint does not create group %s", r.Group, r.Role, r.Group)
		}
	}
}
