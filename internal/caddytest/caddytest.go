// Package caddytest runs a real Caddy (built by scripts/build-tools.sh, found
// through internal/testtools) on a Caddyfile, as a test process:
//
//	c := caddytest.Start(t, "../../deploy/caddy/Caddyfile", map[string]string{
//		"SITE_ADDRESS": "http://127.0.0.1:8081", ...}, "127.0.0.1:8081")
//
// The Caddyfile is used as it is: addresses come in through the environment
// ({$VAR} placeholders). Caddy's admin endpoint, config autosave and data
// directory are moved to a free port and a temporary directory so parallel
// runs never share them. Caddy's log is printed when the test fails.
package caddytest

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testproc"
	"github.com/authgate/authgate/internal/testtools"
)

// Server is a running Caddy.
type Server struct {
	proc *testproc.Process
}

// Log returns Caddy's output so far.
func (s *Server) Log() string { return s.proc.Output() }

// Start validates caddyfile with env, runs it until the test ends and waits
// until every address in wait accepts connections. A missing Caddy fails the
// test (run scripts/build-tools.sh caddy); it is never skipped.
func Start(t testing.TB, caddyfile string, env map[string]string, wait ...string) *Server {
	t.Helper()
	bin, abs := locate(t, caddyfile)
	home := t.TempDir()
	environ := []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"CADDY_ADMIN=" + testproc.FreeAddr(t),
	}
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	validate := exec.Command(bin, "validate", "--config", abs, "--adapter", "caddyfile")
	validate.Env = environ
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("caddytest: %s rejected: %v\n%s", caddyfile, err, out)
	}
	cmd := exec.Command(bin, "run", "--config", abs, "--adapter", "caddyfile")
	cmd.Env = environ
	s := &Server{proc: testproc.Run(t, cmd, testproc.Options{Label: "caddy log"})}
	for _, addr := range wait {
		if err := s.proc.WaitListening(addr, 15*time.Second); err != nil {
			t.Fatalf("caddytest: %v\n%s", err, s.Log())
		}
	}
	return s
}

// Adapt returns the JSON configuration Caddy makes of caddyfile with env,
// so a test can check what a Caddyfile amounts to.
func Adapt(t testing.TB, caddyfile string, env map[string]string) []byte {
	t.Helper()
	bin, abs := locate(t, caddyfile)
	cmd := exec.Command(bin, "adapt", "--config", abs, "--adapter", "caddyfile")
	home := t.TempDir()
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("caddytest: adapt %s: %v\n%s", caddyfile, err, stderr.String())
	}
	return out
}

// locate returns the Caddy binary and caddyfile's absolute path.
func locate(t testing.TB, caddyfile string) (bin, abs string) {
	t.Helper()
	bin, err := testtools.Path("caddy")
	if err != nil {
		t.Fatal(err)
	}
	abs, err = filepath.Abs(caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	return bin, abs
}
