package deploy

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/testtools"
)

const chart = "helm/authgate"

// helm runs the real helm binary (v3.22.0, built by scripts/build-tools.sh).
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := testtools.Path("helm")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	// No repositories, no plugins, no cache outside the test.
	dir := t.TempDir()
	cmd.Env = []string{"HOME=" + dir, "HELM_CACHE_HOME=" + dir + "/cache", "HELM_CONFIG_HOME=" + dir + "/config", "HELM_DATA_HOME=" + dir + "/data", "PATH=/usr/bin:/bin"}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// secretValues are the --set flags every render needs (the chart refuses to
// render without a client secret and a cookie secret).
var secretValues = []string{
	"--set", "secret.values.AUTHENTIK_CLIENT_SECRET=test-client-secret",
	"--set", "secret.values.COOKIE_SECRET=0123456789abcdef0123456789abcdef-test",
}

func helmTemplate(t *testing.T, args ...string) []obj {
	t.Helper()
	out, err := helm(t, append([]string{"template", "web", chart}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, out)
	}
	return decodeAll(t, "helm template", []byte(out))
}

func TestHelmSidecar(t *testing.T) {
	objs := helmTemplate(t, secretValues...)
	s := checkSidecar(t, objs, sidecarWant{replicas: 1})
	if len(byKind(objs, "PodDisruptionBudget")) != 0 {
		t.Error("a PodDisruptionBudget for one replica blocks node drains")
	}
	if got := str(s.authgate, "image"); got != "ghcr.io/authgate/authgate:0.1.0" {
		t.Errorf("image %q: the tag defaults to the chart's appVersion", got)
	}
	ann := mapping(s.deployment, "spec", "template", "metadata", "annotations")
	if str(ann, "prometheus.io/port") != "9090" || str(ann, "checksum/config") == "" {
		t.Errorf("pod annotations %v", ann)
	}
	// The kustomize base and the chart describe the same Pod.
	base := checkSidecar(t, kustomize(t, "kubernetes/base"), sidecarWant{replicas: 1})
	for _, name := range []string{"AUTHENTIK_URL", "AUTHENTIK_INTERNAL_URL", "AUTHENTIK_CLIENT_ID", "API_URL", "UPSTREAM_URL", "LISTEN_ADDR", "ADMIN_ADDR", "NODE_ENV"} {
		if s.env[name] != base.env[name] {
			t.Errorf("%s: chart %q, kustomize base %q", name, s.env[name], base.env[name])
		}
	}
}

func TestHelmRedisHA(t *testing.T) {
	objs := helmTemplate(t, append([]string{"-f", chart + "/values-redis-ha.yaml"}, secretValues...)...)
	s := checkSidecar(t, objs, sidecarWant{replicas: 3, redis: true})
	if s.envSource["REDIS_URL"] != "Secret" {
		t.Errorf("REDIS_URL from a %s", s.envSource["REDIS_URL"])
	}
	pdb := byKind(objs, "PodDisruptionBudget")
	if n, _ := integer(pdb[0], "spec", "minAvailable"); n != 2 {
		t.Errorf("PodDisruptionBudget minAvailable %d, want 2", n)
	}
	tsc := list(s.podSpec, "topologySpreadConstraints")
	if len(tsc) != 1 || str(tsc[0], "labelSelector", "matchLabels", "app.kubernetes.io/instance") != "web" {
		t.Errorf("topologySpreadConstraints %v", tsc)
	}
}

func TestHelmExistingSecret(t *testing.T) {
	objs := helmTemplate(t, "--set", "secret.existingSecret=my-authgate", "-f", chart+"/values-redis-ha.yaml", "--set", "redis.url=")
	if len(byKind(objs, "Secret")) != 0 {
		t.Error("a Secret was rendered although secret.existingSecret is set")
	}
	s := checkSidecar(t, objs, sidecarWant{replicas: 3, redis: true, externalSecret: true})
	if got := str(s.authgate, "envFrom", 1, "secretRef", "name"); got != "my-authgate" {
		t.Errorf("secretRef %q", got)
	}
}

// The chart refuses what cannot work, naming the value to change.
func TestHelmRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"replicas without redis", append([]string{"--set", "replicaCount=2"}, secretValues...), "redis.enabled"},
		{"redis without url", append([]string{"--set", "redis.enabled=true"}, secretValues...), "redis.url"},
		{"no client secret", []string{"--set", "secret.values.COOKIE_SECRET=0123456789abcdef0123456789abcdef"}, "AUTHENTIK_CLIENT_SECRET"},
		{"short cookie secret", []string{"--set", "secret.values.AUTHENTIK_CLIENT_SECRET=x", "--set", "secret.values.COOKIE_SECRET=short"}, "COOKIE_SECRET"},
		{"upstream set by hand", append([]string{"--set", "config.UPSTREAM_URL=http://elsewhere"}, secretValues...), "config.UPSTREAM_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helm(t, append([]string{"template", "web", chart}, tc.args...)...)
			if err == nil {
				t.Fatalf("helm template succeeded:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("error does not name %s:\n%s", tc.want, out)
			}
		})
	}
}

func TestHelmLint(t *testing.T) {
	for _, extra := range [][]string{nil, {"-f", chart + "/values-redis-ha.yaml"}} {
		args := append([]string{"lint", "--strict", chart}, extra...)
		if out, err := helm(t, append(args, secretValues...)...); err != nil {
			t.Errorf("helm %v: %v\n%s", args, err, out)
		}
	}
}
