package attack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/evilop"
	"github.com/authgate/authgate/internal/gateproc"
)

// binDir holds the authgate binary, built on first use: only the tests that
// need what the command alone sets up (its http.Server limits, its exit on a
// start-up refusal) pay for the build.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "authgate-attack-")
	if err != nil {
		return "", err
	}
	binDir = dir
	return gateproc.Build(dir)
})

func authgateBinary(t *testing.T) string {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// binaryEnv configures the binary against op.
func binaryEnv(op *evilop.Provider, addr, upstream string) map[string]string {
	return map[string]string{
		"OIDC_ISSUER_URL":    op.Issuer,
		"OIDC_CLIENT_ID":     op.ClientID,
		"OIDC_CLIENT_SECRET": op.ClientSecret,
		"API_URL":            "http://" + addr,
		"UPSTREAM_URL":       upstream,
		"COOKIE_SECRET":      randomString(32),
	}
}

// TestHeaderSizeLimit: the command's listener refuses a request whose header
// block is over 64 KiB with 431 before any handler runs, and serves one
// just under it normally.
func TestHeaderSizeLimit(t *testing.T) {
	t.Parallel()
	bin := authgateBinary(t)
	op := evilop.Start(t, evilop.Options{Key: keys().ec})
	up := newUpstream(t)
	addr := gateproc.FreeAddr(t)
	g := gateproc.Start(t, bin, addr, binaryEnv(op, addr, up.URL))
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"100 KiB cookie", []string{"Cookie", "a=" + strings.Repeat("x", 100<<10)}, http.StatusRequestHeaderFieldsTooLarge},
		{"128 headers of 1 KiB", manyHeaders(128, 1<<10), http.StatusRequestHeaderFieldsTooLarge},
		{"100 KiB bearer token", []string{"Authorization", "Bearer " + strings.Repeat("x", 100<<10)}, http.StatusRequestHeaderFieldsTooLarge},
		{"32 KiB cookie", []string{"Cookie", "a=" + strings.Repeat("x", 32<<10)}, http.StatusUnauthorized},
		{"20 KiB bearer token", []string{"Authorization", "Bearer " + strings.Repeat("x", 20<<10)}, http.StatusUnauthorized},
	} {
		resp, body := raw(t, g.Addr, "GET /app HTTP/1.1", append([]string{"Accept", "application/json"}, tc.header...)...)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %.80s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	if up.Count() != 0 {
		t.Errorf("%d requests reached the upstream", up.Count())
	}
}

func manyHeaders(n, size int) []string {
	var h []string
	for i := 0; i < n; i++ {
		h = append(h, fmt.Sprintf("X-Filler-%d", i), strings.Repeat("y", size))
	}
	return h
}

// TestBinaryRefusesIssuerMismatch is rp-discovery-issuer-not-matching-config
// on the command: it exits non-zero at once with a line naming the issuers
// and the settings to check, instead of retrying discovery forever.
func TestBinaryRefusesIssuerMismatch(t *testing.T) {
	t.Parallel()
	bin := authgateBinary(t)
	op := evilop.Start(t, evilop.Options{Key: keys().ec})
	op.SetScenario(evilop.Scenario{Discovery: func(doc map[string]any) { doc["issuer"] = "https://evil.example/" }})
	addr := gateproc.FreeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LISTEN_ADDR=" + addr, "ADMIN_ADDR=" + gateproc.FreeAddr(t)}
	for k, v := range binaryEnv(op, addr, "http://127.0.0.1:9") {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("authgate still running after %s:\n%s", time.Since(start), out)
	}
	if err == nil {
		t.Fatalf("authgate exited 0:\n%s", out)
	}
	for _, want := range []string{"issuer", "https://evil.example/", "OIDC_ISSUER_URL"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
}
