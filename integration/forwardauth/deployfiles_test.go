package forwardauth_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/authgate/authgate/internal/caddytest"
	"github.com/authgate/authgate/internal/nginxtest"
)

// The deploy files must name the endpoints and headers authgate uses. Nginx
// and Caddy run for real in the other tests; Traefik and Envoy cannot, so
// their files are read here and held against authgate's names.

// spellings returns every way a client can spell an identity header that
// some server folds into it: each "-" as "-", "_" or ".", in two letter cases.
func spellings(name string) []string {
	parts := strings.Split(name, "-")
	out := []string{""}
	for i, p := range parts {
		var next []string
		for _, prefix := range out {
			if i == 0 {
				next = append(next, p)
				continue
			}
			for _, sep := range []string{"-", "_", "."} {
				next = append(next, prefix+sep+p)
			}
		}
		out = next
	}
	for _, s := range slices.Clone(out) {
		out = append(out, strings.ToLower(s))
	}
	return out
}

type traefikConfig struct {
	HTTP struct {
		Routers map[string]struct {
			Rule        string   `yaml:"rule"`
			Service     string   `yaml:"service"`
			Middlewares []string `yaml:"middlewares"`
		} `yaml:"routers"`
		Middlewares map[string]struct {
			ForwardAuth *struct {
				Address                  string   `yaml:"address"`
				TrustForwardHeader       *bool    `yaml:"trustForwardHeader"`
				AuthResponseHeaders      []string `yaml:"authResponseHeaders"`
				AuthResponseHeadersRegex string   `yaml:"authResponseHeadersRegex"`
			} `yaml:"forwardAuth"`
		} `yaml:"middlewares"`
		Services map[string]struct {
			LoadBalancer struct {
				Servers []struct {
					URL string `yaml:"url"`
				} `yaml:"servers"`
			} `yaml:"loadBalancer"`
		} `yaml:"services"`
	} `yaml:"http"`
}

func TestTraefikDynamicConfig(t *testing.T) {
	var cfg traefikConfig
	dec := yaml.NewDecoder(strings.NewReader(readFile(t, "../../deploy/traefik/dynamic.yml")))
	dec.KnownFields(true) // a misspelt option would be silently ignored by Traefik
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("dynamic.yml: %v", err)
	}
	fa := cfg.HTTP.Middlewares["authgate"].ForwardAuth
	if fa == nil {
		t.Fatal("no forwardAuth middleware named authgate")
	}
	addr, err := url.Parse(fa.Address)
	if err != nil || addr.Path != "/auth/forward" {
		t.Errorf("forwardAuth address %q: want authgate's /auth/forward", fa.Address)
	}
	if fa.TrustForwardHeader == nil || *fa.TrustForwardHeader {
		t.Error("trustForwardHeader must be set, to false")
	}
	if !slices.Equal(fa.AuthResponseHeaders, identityHeaders) {
		t.Errorf("authResponseHeaders %q, want %q", fa.AuthResponseHeaders, identityHeaders)
	}
	// Traefik matches authResponseHeadersRegex with Go's regexp against
	// canonicalised header names, so this is what it deletes and copies.
	re, err := regexp.Compile(fa.AuthResponseHeadersRegex)
	if err != nil {
		t.Fatalf("authResponseHeadersRegex: %v", err)
	}
	for _, h := range identityHeaders {
		for _, s := range spellings(h) {
			for _, key := range []string{s, canonical(s)} {
				if !re.MatchString(key) {
					t.Errorf("authResponseHeadersRegex misses %q", key)
				}
			}
		}
	}
	for _, other := range []string{"X-User-Agent", "X-Forwarded-User", "X-Roles", "X-User-Subject", "X-Org", "Authorization"} {
		if re.MatchString(other) {
			t.Errorf("authResponseHeadersRegex matches %q", other)
		}
	}
	// /auth/ goes to authgate untouched; everything else through the middleware.
	var authRouter, appRouter bool
	for name, r := range cfg.HTTP.Routers {
		switch {
		case strings.Contains(r.Rule, "PathPrefix(`/auth/`)"):
			authRouter = len(r.Middlewares) == 0 && r.Service == "authgate"
		case slices.Contains(r.Middlewares, "authgate"):
			appRouter = r.Service == "app"
		default:
			t.Errorf("router %s neither serves /auth/ nor uses the authgate middleware", name)
		}
	}
	if !authRouter || !appRouter {
		t.Errorf("routers: /auth/ to authgate without middleware %v, app behind the middleware %v", authRouter, appRouter)
	}
	servers := cfg.HTTP.Services["authgate"].LoadBalancer.Servers
	if len(servers) != 1 || !strings.HasPrefix(fa.Address, servers[0].URL+"/") {
		t.Errorf("forwardAuth address %q is not the authgate service %v", fa.Address, servers)
	}
}

// canonical is Go's canonical form of a header name, as Traefik sees it.
func canonical(s string) string {
	b := []byte(strings.ToLower(s))
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		upper = c == '-'
	}
	return string(b)
}

func TestEnvoyConfig(t *testing.T) {
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, "../../deploy/envoy/envoy.yaml")), &cfg); err != nil {
		t.Fatalf("envoy.yaml: %v", err)
	}
	lower := make([]string, len(identityHeaders))
	for i, h := range identityHeaders {
		lower[i] = strings.ToLower(h)
	}
	hcm := find(cfg, func(m map[string]any) bool {
		return m["@type"] == "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	})
	if hcm == nil {
		t.Fatal("no http_connection_manager")
	}
	if a := dig(hcm, "common_http_protocol_options", "headers_with_underscores_action"); a != "DROP_HEADER" && a != "REJECT_REQUEST" {
		t.Errorf("headers_with_underscores_action %v: X_User_Sub would reach the app", a)
	}
	filters, _ := hcm["http_filters"].([]any)
	var names []string
	for _, f := range filters {
		names = append(names, dig(f, "name").(string))
	}
	if want := []string{"envoy.filters.http.header_mutation", "envoy.filters.http.ext_authz", "envoy.filters.http.router"}; !slices.Equal(names, want) {
		t.Fatalf("http_filters %q, want %q (client copies removed before ext_authz sets authgate's)", names, want)
	}
	var removed []string
	for _, m := range asList(dig(filters[0], "typed_config", "mutations", "request_mutations")) {
		removed = append(removed, dig(m, "remove").(string))
	}
	if !slices.Equal(removed, lower) {
		t.Errorf("header_mutation removes %q, want %q", removed, lower)
	}
	authz := dig(filters[1], "typed_config").(map[string]any)
	if authz["@type"] != "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz" {
		t.Errorf("ext_authz @type %v", authz["@type"])
	}
	if authz["failure_mode_allow"] != false {
		t.Errorf("failure_mode_allow %v, want false (fail closed)", authz["failure_mode_allow"])
	}
	if p := dig(authz, "http_service", "path_prefix"); p != "/auth/envoy" {
		t.Errorf("path_prefix %v, want /auth/envoy", p)
	}
	allowed := exacts(dig(authz, "allowed_headers", "patterns"))
	for _, h := range []string{"cookie", "authorization", "accept", "sec-fetch-mode", "x-requested-with", "x-forwarded-proto"} {
		if !slices.Contains(allowed, h) {
			t.Errorf("allowed_headers lacks %s", h)
		}
	}
	if up := exacts(dig(authz, "http_service", "authorization_response", "allowed_upstream_headers", "patterns")); !slices.Equal(up, lower) {
		t.Errorf("allowed_upstream_headers %q, want %q", up, lower)
	}
	cluster := dig(authz, "http_service", "server_uri", "cluster")
	clusters := map[string]bool{}
	for _, c := range asList(dig(cfg, "static_resources", "clusters")) {
		clusters[dig(c, "name").(string)] = true
	}
	if !clusters[cluster.(string)] {
		t.Errorf("ext_authz cluster %v is not defined", cluster)
	}
	// /auth/ reaches authgate without ext_authz; everything else is checked.
	routes := asList(find(hcm, func(m map[string]any) bool { _, ok := m["routes"]; return ok })["routes"])
	if len(routes) != 2 || dig(routes[0], "match", "prefix") != "/auth/" || dig(routes[0], "route", "cluster") != cluster ||
		dig(routes[0], "typed_per_filter_config", "envoy.filters.http.ext_authz", "disabled") != true ||
		dig(routes[1], "match", "prefix") != "/" || dig(routes[1], "typed_per_filter_config") != nil {
		t.Errorf("routes %v", routes)
	}
}

func TestCaddyfileAmountsToTheDocumentedForm(t *testing.T) {
	env := map[string]string{"SITE_ADDRESS": "http://app.example.test:8081", "AUTHGATE_UPSTREAM": "127.0.0.1:8080", "APP_UPSTREAM": "127.0.0.1:3000"}
	var cfg map[string]any
	if err := json.Unmarshal(caddytest.Adapt(t, "../../deploy/caddy/Caddyfile", env), &cfg); err != nil {
		t.Fatal(err)
	}
	// Every handler in the order Caddy runs them (subroutes flattened).
	var handlers []map[string]any
	var walk func(routes any)
	walk = func(routes any) {
		for _, r := range asList(routes) {
			for _, h := range asList(dig(r, "handle")) {
				h := h.(map[string]any)
				handlers = append(handlers, h)
				if h["handler"] == "subroute" {
					walk(h["routes"])
				}
			}
		}
	}
	servers, _ := dig(cfg, "apps", "http", "servers").(map[string]any)
	for _, srv := range servers {
		walk(dig(srv, "routes"))
	}
	authIdx, appIdx := -1, -1
	var deleted []string
	for i, h := range handlers {
		if h["handler"] == "headers" && authIdx < 0 {
			for _, d := range asList(dig(h, "request", "delete")) {
				deleted = append(deleted, d.(string))
			}
		}
		if h["handler"] != "reverse_proxy" {
			continue
		}
		switch {
		case dig(h, "rewrite", "uri") == "/auth/forward":
			authIdx = i
			if dig(h, "rewrite", "method") != "GET" || dig(h, "upstreams", 0, "dial") != env["AUTHGATE_UPSTREAM"] {
				t.Errorf("forward_auth: %v", h)
			}
			var copied []string
			for _, r := range asList(dig(h, "handle_response", 0, "routes")) {
				for _, hh := range asList(dig(r, "handle")) {
					if set, ok := dig(hh, "request", "set").(map[string]any); ok {
						for k := range set {
							copied = append(copied, k)
						}
					}
				}
			}
			slices.Sort(copied)
			want := slices.Sorted(slices.Values(identityHeaders))
			if !slices.Equal(copied, want) {
				t.Errorf("copy_headers %q, want %q", copied, want)
			}
		case dig(h, "upstreams", 0, "dial") == env["APP_UPSTREAM"]:
			appIdx = i
		}
	}
	if authIdx < 0 || appIdx < authIdx {
		t.Fatalf("forward_auth at %d, app proxy at %d: the app must come after forward_auth", authIdx, appIdx)
	}
	for _, want := range append(slices.Clone(identityHeaders), "*_*", "*.*") {
		if !slices.Contains(deleted, want) {
			t.Errorf("client copies of %s are not deleted before forward_auth (deleted: %q)", want, deleted)
		}
	}
	if !bytes.Contains(caddytest.Adapt(t, "../../deploy/caddy/Caddyfile", env), []byte(`"path":["/auth/*"]`)) {
		t.Error("no /auth/* route to authgate")
	}
}

func TestNginxExampleConfigIsValid(t *testing.T) {
	nginxtest.Check(t, "../../deploy/nginx/nginx.conf")
}

// find returns the first map in v, depth first, that satisfies ok.
func find(v any, ok func(map[string]any) bool) map[string]any {
	switch v := v.(type) {
	case map[string]any:
		if ok(v) {
			return v
		}
		for _, sub := range v {
			if m := find(sub, ok); m != nil {
				return m
			}
		}
	case []any:
		for _, sub := range v {
			if m := find(sub, ok); m != nil {
				return m
			}
		}
	}
	return nil
}

// dig follows map keys and list indexes; nil when the path does not exist.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// exacts returns the "exact" values of a list of Envoy string matchers.
func exacts(patterns any) []string {
	var out []string
	for _, p := range asList(patterns) {
		if s, ok := dig(p, "exact").(string); ok {
			out = append(out, s)
		}
	}
	return out
}
