package deploy

import (
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/authgate/config"
)

const composeFile = "compose/docker-compose.yml"

// composeVars are the values a user puts into .env (see .env.example).
var composeVars = map[string]string{
	"PG_PASS":                      "pg-password",
	"AUTHENTIK_SECRET_KEY":         "authentik-secret-key",
	"AUTHENTIK_BOOTSTRAP_PASSWORD": "bootstrap-password",
	"AUTHGATE_CLIENT_SECRET":       "client-secret-from-env",
	"COOKIE_SECRET":                "0123456789abcdef0123456789abcdef-compose",
}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate expands ${VAR}, ${VAR:-default} and ${VAR:?message} as
// docker compose does; a missing required variable fails the test.
func interpolate(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	s = strings.ReplaceAll(s, "$$", "\x00")
	s = interpolation.ReplaceAllStringFunc(s, func(m string) string {
		p := interpolation.FindStringSubmatch(m)
		v, ok := vars[p[1]]
		switch p[2] {
		case ":-", "-":
			if !ok || (p[2] == ":-" && v == "") {
				return p[3]
			}
		case ":?", "?":
			if !ok || (p[2] == ":?" && v == "") {
				t.Errorf("compose: %s is required (%s)", p[1], p[3])
			}
		}
		return v
	})
	return strings.ReplaceAll(s, "\x00", "$")
}

// loadCompose reads the compose file with .env values interpolated.
func loadCompose(t *testing.T, vars map[string]string) obj {
	t.Helper()
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	docs := decodeAll(t, composeFile, []byte(interpolate(t, string(data), vars)))
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	return docs[0]
}

func serviceEnv(t *testing.T, svc any) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch e := get(svc, "environment").(type) {
	case obj:
		for k, v := range e {
			env[k] = str(v)
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(str(kv), "=")
			env[k] = v
		}
	}
	return env
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t, composeVars)
	services := mapping(c, "services")
	for _, name := range []string{"postgresql", "redis", "server", "worker", "authgate", "authgate-redis", "app"} {
		if services[name] == nil {
			t.Errorf("service %s missing", name)
		}
	}
	// Authentik as Authentik documents it: one image, "server" and "worker",
	// on PostgreSQL and Redis.
	server, worker := services["server"], services["worker"]
	if str(server, "image") != str(worker, "image") || !strings.Contains(str(server, "image"), "goauthentik/server") {
		t.Errorf("server image %q, worker image %q", str(server, "image"), str(worker, "image"))
	}
	if str(server, "command") != "server" || str(worker, "command") != "worker" {
		t.Errorf("commands %q / %q", str(server, "command"), str(worker, "command"))
	}
	ae := serviceEnv(t, worker)
	if ae["AUTHENTIK_POSTGRESQL__HOST"] != "postgresql" || ae["AUTHENTIK_REDIS__HOST"] != "redis" {
		t.Errorf("Authentik's database and Redis hosts: %q, %q", ae["AUTHENTIK_POSTGRESQL__HOST"], ae["AUTHENTIK_REDIS__HOST"])
	}
	if ae["AUTHENTIK_POSTGRESQL__PASSWORD"] != serviceEnv(t, services["postgresql"])["POSTGRES_PASSWORD"] {
		t.Error("Authentik's database password differs from PostgreSQL's")
	}
	for _, s := range []string{"server", "worker"} {
		for _, dep := range []string{"postgresql", "redis"} {
			if str(services[s], "depends_on", dep, "condition") != "service_healthy" {
				t.Errorf("%s does not wait for %s to be healthy", s, dep)
			}
		}
	}
	// The demo app is reachable only through authgate.
	if get(services["app"], "ports") != nil {
		t.Error("the demo app publishes a port: it must be reachable only through authgate")
	}
}

func TestComposeAuthgateConfig(t *testing.T) {
	c := loadCompose(t, composeVars)
	services := mapping(c, "services")
	ag := services["authgate"]
	env := serviceEnv(t, ag)
	known := config.EnvNames()
	for name := range env {
		if !slices.Contains(known, name) {
			t.Errorf("authgate service sets %s, which authgate does not read (config/keys.go)", name)
		}
	}
	cfg, err := config.Load(config.Source{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatalf("authgate would refuse the compose configuration: %v", err)
	}
	if str(ag, "build", "context") == "" || str(ag, "build", "dockerfile") != "Dockerfile" {
		t.Error("authgate is not built from this repository's Dockerfile")
	} else if _, err := os.Stat(filepath.Join("compose", str(ag, "build", "context"), "Dockerfile")); err != nil {
		t.Errorf("build context: %v", err)
	}

	published := func(svc any) map[string]string { // container port → host port
		out := map[string]string{}
		for _, p := range list(svc, "ports") {
			parts := strings.Split(str(p), ":")
			out[parts[len(parts)-1]] = parts[len(parts)-2]
		}
		return out
	}
	// Browsers reach Authentik at AUTHENTIK_URL: the server's published port.
	pub, _ := url.Parse(env["AUTHENTIK_URL"])
	if published(services["server"])["9000"] != pub.Port() || pub.Hostname() != "localhost" {
		t.Errorf("AUTHENTIK_URL %s is not the server's published port %v", pub, published(services["server"]))
	}
	// authgate reaches it over the compose network.
	in, _ := url.Parse(env["AUTHENTIK_INTERNAL_URL"])
	if services[in.Hostname()] == nil || in.Hostname() != "server" || in.Port() != "9000" {
		t.Errorf("AUTHENTIK_INTERNAL_URL %s is not the server service", in)
	}
	// API_URL is authgate's published listener.
	api, _ := url.Parse(env["API_URL"])
	listen := strings.TrimPrefix(env["LISTEN_ADDR"], ":")
	if published(ag)[listen] != api.Port() {
		t.Errorf("API_URL %s: authgate's listener %s is published as %v", api, listen, published(ag))
	}
	admin := strings.TrimPrefix(env["ADMIN_ADDR"], ":")
	for _, p := range list(ag, "ports") {
		if strings.HasSuffix(str(p), ":"+admin) && !strings.HasPrefix(str(p), "127.0.0.1:") {
			t.Errorf("admin port published beyond loopback: %v", p)
		}
	}
	// UPSTREAM_URL is the demo app on the port it listens on.
	up, _ := url.Parse(env["UPSTREAM_URL"])
	if up.Hostname() != "app" || !slices.Contains(list(services["app"], "command"), any(up.Port())) {
		t.Errorf("UPSTREAM_URL %s is not the app service (%v)", up, get(services["app"], "command"))
	}
	// REDIS_URL is authgate's own Redis, which it waits for.
	ru, _ := url.Parse(env["REDIS_URL"])
	if ru.Hostname() != "authgate-redis" || services["authgate-redis"] == nil {
		t.Errorf("REDIS_URL %s is not the authgate-redis service", ru)
	}
	if str(ag, "depends_on", "authgate-redis", "condition") != "service_healthy" {
		t.Error("authgate does not wait for its Redis")
	}
	if cfg.Issuer != "http://localhost:9000/application/o/"+env["AUTHENTIK_APP_SLUG"]+"/" {
		t.Errorf("issuer %s", cfg.Issuer)
	}
}

// The worker applies the blueprint, configured with the values authgate uses.
func TestComposeBlueprint(t *testing.T) {
	c := loadCompose(t, composeVars)
	services := mapping(c, "services")
	worker := services["worker"]
	var mounted bool
	for _, v := range list(worker, "volumes") {
		parts := strings.Split(str(v), ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[1], "/blueprints/custom/") {
			continue
		}
		mounted = true
		if path.Ext(parts[1]) != ".yaml" {
			t.Errorf("blueprint mounted as %s: Authentik discovers *.yaml", parts[1])
		}
		src := filepath.Join("compose", parts[0])
		if abs, _ := filepath.Abs(src); abs != mustAbs(t, "authentik/blueprint.yaml") {
			t.Errorf("blueprint mount source %s is not deploy/authentik/blueprint.yaml", parts[0])
		}
		if len(parts) < 3 || parts[2] != "ro" {
			t.Errorf("blueprint mount %v should be read-only", v)
		}
	}
	if !mounted {
		t.Fatal("the worker does not mount a blueprint into /blueprints/custom")
	}

	we := serviceEnv(t, worker)
	ae := serviceEnv(t, services["authgate"])
	b := loadBlueprint(t)
	for name, ref := range b.envRefs() {
		if _, ok := we[name]; !ok && ref.Default == nil {
			t.Errorf("the blueprint needs %s, which the worker's environment lacks", name)
		}
	}
	pairs := map[string]string{
		"AUTHGATE_BLUEPRINT_CLIENT_ID":     "AUTHENTIK_CLIENT_ID",
		"AUTHGATE_BLUEPRINT_CLIENT_SECRET": "AUTHENTIK_CLIENT_SECRET",
		"AUTHGATE_BLUEPRINT_APP_SLUG":      "AUTHENTIK_APP_SLUG",
		"AUTHGATE_BLUEPRINT_API_URL":       "API_URL",
	}
	for bp, ag := range pairs {
		if _, ok := b.envRefs()[bp]; !ok {
			t.Errorf("the blueprint does not read %s", bp)
		}
		if we[bp] != ae[ag] {
			t.Errorf("worker %s=%q, authgate %s=%q: Authentik and authgate would disagree", bp, we[bp], ag, ae[ag])
		}
	}
	if ae["AUTHENTIK_CLIENT_SECRET"] != composeVars["AUTHGATE_CLIENT_SECRET"] {
		t.Error("the client secret is not taken from .env")
	}

	// .env.example lists every variable the file requires.
	example, err := os.ReadFile("compose/.env.example")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(composeFile)
	for _, m := range interpolation.FindAllStringSubmatch(string(raw), -1) {
		if strings.HasSuffix(m[2], "?") && !strings.Contains(string(example), "\n"+m[1]+"=") && !strings.HasPrefix(string(example), m[1]+"=") {
			t.Errorf(".env.example does not list the required %s", m[1])
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
