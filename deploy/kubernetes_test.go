package deploy

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/authgate/authgate/config"
)

// sidecarWant is what a rendered sidecar deployment must look like.
type sidecarWant struct {
	replicas int
	redis    bool // REDIS_URL must be set (several replicas share state)
	// externalSecret: the Secret is not rendered (an existing one), so its
	// names cannot be checked.
	externalSecret bool
}

// sidecar is the authgate Pod found among rendered objects.
type sidecar struct {
	deployment obj
	podSpec    obj
	authgate   obj
	app        obj
	env        map[string]string // ConfigMap + Secret + container env, as authgate sees it
	envSource  map[string]string // name → "ConfigMap" or "Secret"
}

func byKind(objs []obj, kind string) []obj {
	var out []obj
	for _, o := range objs {
		if str(o, "kind") == kind {
			out = append(out, o)
		}
	}
	return out
}

func byName(objs []obj, kind, name string) obj {
	for _, o := range byKind(objs, kind) {
		if str(o, "metadata", "name") == name {
			return o
		}
	}
	return nil
}

func containerByName(pod obj, name string) obj {
	for _, c := range list(pod, "containers") {
		if str(c, "name") == name {
			return c.(obj)
		}
	}
	return nil
}

// portNumber resolves a port reference (number or container port name).
func portNumber(c obj, ref any) int {
	switch p := ref.(type) {
	case int:
		return p
	case string:
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
		for _, cp := range list(c, "ports") {
			if str(cp, "name") == p {
				n, _ := integer(cp, "containerPort")
				return n
			}
		}
	}
	return -1
}

func addrPort(t *testing.T, addr, def string) int {
	t.Helper()
	if addr == "" {
		addr = def
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// checkSidecar runs every agreement check on rendered objects (from kustomize
// files or from helm template) and returns the Pod it found.
func checkSidecar(t *testing.T, objs []obj, want sidecarWant) *sidecar {
	t.Helper()
	deps := byKind(objs, "Deployment")
	var s sidecar
	for _, d := range deps {
		pod := mapping(d, "spec", "template", "spec")
		if containerByName(pod, "authgate") != nil {
			if s.deployment != nil {
				t.Fatal("two Deployments with an authgate container")
			}
			s.deployment, s.podSpec, s.authgate = d, pod, containerByName(pod, "authgate")
		}
	}
	if s.deployment == nil {
		t.Fatal("no Deployment with a container named authgate")
	}
	containers := list(s.podSpec, "containers")
	if len(containers) != 2 {
		t.Fatalf("the Pod has %d containers; the sidecar pattern is the app and authgate", len(containers))
	}
	for _, c := range containers {
		if str(c, "name") != "authgate" {
			s.app = c.(obj)
		}
	}
	if n, _ := integer(s.deployment, "spec", "replicas"); n != want.replicas {
		t.Errorf("replicas = %d, want %d", n, want.replicas)
	}

	// The environment authgate gets, and where each name comes from.
	s.env, s.envSource = map[string]string{}, map[string]string{}
	for _, ef := range list(s.authgate, "envFrom") {
		if name := str(ef, "configMapRef", "name"); name != "" {
			cm := byName(objs, "ConfigMap", name)
			if cm == nil {
				t.Fatalf("envFrom names ConfigMap %q, which is not rendered", name)
			}
			for k, v := range mapping(cm, "data") {
				s.env[k], s.envSource[k] = str(v), "ConfigMap"
			}
		}
		if name := str(ef, "secretRef", "name"); name != "" {
			sec := byName(objs, "Secret", name)
			if sec == nil {
				t.Logf("envFrom names Secret %q, not rendered here (an existing Secret)", name)
				continue
			}
			for k, v := range mapping(sec, "stringData") {
				s.env[k], s.envSource[k] = str(v), "Secret"
			}
			for k := range mapping(sec, "data") {
				s.envSource[k] = "Secret"
			}
		}
	}
	for _, e := range list(s.authgate, "env") {
		s.env[str(e, "name")], s.envSource[str(e, "name")] = str(e, "value"), "env"
	}

	known := config.EnvNames()
	secret := config.SecretEnvNames()
	for name, src := range s.envSource {
		if !slices.Contains(known, name) {
			t.Errorf("%s sets %s, which authgate does not read (config/keys.go)", src, name)
		}
		if slices.Contains(secret, name) && src != "Secret" {
			t.Errorf("%s is a secret but comes from a %s", name, src)
		}
	}
	required := []string{"AUTHENTIK_CLIENT_ID", "API_URL", "UPSTREAM_URL"}
	if !want.externalSecret {
		required = append(required, "AUTHENTIK_CLIENT_SECRET", "COOKIE_SECRET")
	}
	for _, name := range required {
		if _, ok := s.envSource[name]; !ok {
			t.Errorf("%s is not set", name)
		}
	}
	if _, ok := s.envSource["AUTHENTIK_URL"]; !ok {
		if _, ok := s.envSource["OIDC_ISSUER_URL"]; !ok {
			t.Error("neither AUTHENTIK_URL nor OIDC_ISSUER_URL is set")
		}
	}
	if _, ok := s.envSource["REDIS_URL"]; ok != want.redis && !want.externalSecret {
		t.Errorf("REDIS_URL set = %v, want %v", ok, want.redis)
	}
	if want.replicas > 1 && !want.redis {
		t.Error("several replicas without REDIS_URL: logins would fail across replicas")
	}

	// The configuration loads, as authgate itself would load it.
	if _, ok := s.envSource["COOKIE_SECRET"]; ok {
		if _, err := config.Load(config.Source{Env: func(k string) (string, bool) { v, ok := s.env[k]; return v, ok }}); err != nil {
			t.Errorf("authgate would refuse this configuration: %v", err)
		}
	}

	// Ports: listeners, probes and Service agree.
	httpPort := portNumber(s.authgate, "http")
	adminPort := portNumber(s.authgate, "admin")
	if got := addrPort(t, s.env["LISTEN_ADDR"], ":8080"); got != httpPort {
		t.Errorf("LISTEN_ADDR port %d, container port http %d", got, httpPort)
	}
	if got := addrPort(t, s.env["ADMIN_ADDR"], ":9090"); got != adminPort {
		t.Errorf("ADMIN_ADDR port %d, container port admin %d", got, adminPort)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := str(s.authgate, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %q, want %q", probe, got, path)
		}
		if got := portNumber(s.authgate, get(s.authgate, probe, "httpGet", "port")); got != adminPort {
			t.Errorf("%s port %d, want the admin port %d", probe, got, adminPort)
		}
	}
	appPorts := map[int]bool{}
	for _, p := range list(s.app, "ports") {
		n, _ := integer(p, "containerPort")
		appPorts[n] = true
	}
	if u, err := url.Parse(s.env["UPSTREAM_URL"]); err != nil || u.Hostname() != "127.0.0.1" {
		t.Errorf("UPSTREAM_URL %q must be the app in the same Pod, on 127.0.0.1", s.env["UPSTREAM_URL"])
	} else if p, _ := strconv.Atoi(u.Port()); !appPorts[p] {
		t.Errorf("UPSTREAM_URL port %s is not the app container's port %v", u.Port(), appPorts)
	}

	labels := mapping(s.deployment, "spec", "template", "metadata", "labels")
	services := 0
	for _, svc := range byKind(objs, "Service") {
		sel := mapping(svc, "spec", "selector")
		matches := len(sel) > 0
		for k, v := range sel {
			if str(labels, k) != str(v) {
				matches = false
			}
		}
		if !matches {
			continue
		}
		services++
		for _, p := range list(svc, "spec", "ports") {
			if got := portNumber(s.authgate, get(p, "targetPort")); got != httpPort {
				t.Errorf("Service %s targets port %v (%d), want authgate's proxy port %d: the app must be reachable only through authgate",
					str(svc, "metadata", "name"), get(p, "targetPort"), got, httpPort)
			}
		}
	}
	if services != 1 {
		t.Errorf("%d Services select the Pod, want 1", services)
	}
	for _, np := range byKind(objs, "NetworkPolicy") {
		for _, rule := range list(np, "spec", "ingress") {
			for _, p := range list(rule, "ports") {
				if n := portNumber(s.authgate, get(p, "port")); appPorts[n] || n < 0 {
					t.Errorf("NetworkPolicy %s admits port %v: only authgate's ports may be reachable", str(np, "metadata", "name"), get(p, "port"))
				}
			}
		}
	}

	// Hardening.
	if get(s.podSpec, "securityContext", "runAsNonRoot") != true {
		t.Error("Pod securityContext.runAsNonRoot is not true")
	}
	for _, c := range []obj{s.authgate, s.app} {
		name := str(c, "name")
		sc := mapping(c, "securityContext")
		if get(sc, "allowPrivilegeEscalation") != false {
			t.Errorf("%s: allowPrivilegeEscalation is not false", name)
		}
		if get(sc, "readOnlyRootFilesystem") != true {
			t.Errorf("%s: readOnlyRootFilesystem is not true", name)
		}
		if !slices.Contains(list(sc, "capabilities", "drop"), any("ALL")) {
			t.Errorf("%s: capabilities.drop lacks ALL", name)
		}
	}
	uid, ok := integer(s.authgate, "securityContext", "runAsUser")
	if !ok {
		uid, ok = integer(s.podSpec, "securityContext", "runAsUser")
	}
	if !ok || uid == 0 {
		t.Errorf("authgate runAsUser = %d (set %v), want the image's non-root 65532", uid, ok)
	}
	for _, r := range []string{"cpu", "memory"} {
		if str(s.authgate, "resources", "requests", r) == "" {
			t.Errorf("authgate has no %s request", r)
		}
	}
	if str(s.authgate, "resources", "limits", "memory") == "" {
		t.Error("authgate has no memory limit")
	}
	if want.replicas > 1 && len(byKind(objs, "PodDisruptionBudget")) == 0 {
		t.Error("several replicas without a PodDisruptionBudget")
	}
	return &s
}

// kustomize builds a kustomization the way the files here need: resources
// (files and directories), then strategic-merge patches by path.
func kustomize(t *testing.T, dir string) []obj {
	t.Helper()
	k := readYAML(t, filepath.Join(dir, "kustomization.yaml"))
	if len(k) != 1 || str(k[0], "kind") != "Kustomization" {
		t.Fatalf("%s: not one Kustomization", dir)
	}
	var objs []obj
	for _, r := range list(k[0], "resources") {
		p := filepath.Join(dir, str(r))
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: resource %s: %v", dir, r, err)
		}
		if st.IsDir() {
			objs = append(objs, kustomize(t, p)...)
		} else {
			objs = append(objs, readYAML(t, p)...)
		}
	}
	for _, p := range list(k[0], "patches") {
		path := str(p, "path")
		if path == "" {
			t.Fatalf("%s: only path patches are understood by this test", dir)
		}
		for _, patch := range readYAML(t, filepath.Join(dir, path)) {
			target := byName(objs, str(patch, "kind"), str(patch, "metadata", "name"))
			if target == nil {
				t.Fatalf("%s: patch %s targets %s %s, which the resources do not have", dir, path, str(patch, "kind"), str(patch, "metadata", "name"))
			}
			merge(target, patch)
		}
	}
	return objs
}

func TestKustomizeBase(t *testing.T) {
	objs := kustomize(t, "kubernetes/base")
	s := checkSidecar(t, objs, sidecarWant{replicas: 1})
	if s.env["NODE_ENV"] != "production" {
		t.Error("the base is a production deployment: NODE_ENV=production")
	}
}

func TestKustomizeRedisOverlay(t *testing.T) {
	objs := kustomize(t, "kubernetes/overlays/redis-ha")
	s := checkSidecar(t, objs, sidecarWant{replicas: 3, redis: true})
	u, err := url.Parse(s.env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	// The URL names a Service the overlay creates, on a port it exposes.
	svc := byName(objs, "Service", u.Hostname())
	if svc == nil {
		t.Fatalf("REDIS_URL host %q is not a Service of the overlay", u.Hostname())
	}
	port, _ := integer(svc, "spec", "ports", 0, "port")
	if strconv.Itoa(port) != u.Port() {
		t.Errorf("REDIS_URL port %s, Service port %d", u.Port(), port)
	}
	if s.envSource["REDIS_URL"] != "Secret" {
		t.Errorf("REDIS_URL comes from a %s; it may carry a password", s.envSource["REDIS_URL"])
	}
}
