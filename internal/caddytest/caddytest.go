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
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testtools"
)

// Server is a running Caddy.
type Server struct {
	log *buffer
}

// Log returns Caddy's output so far.
func (s *Server) Log() string { return s.log.String() }

// Start validates caddyfile with env, runs it until the test ends and waits
// until every address in wait accepts connections. A missing Caddy fails the
// test (run scripts/build-tools.sh caddy); it is never skipped.
func Start(t testing.TB, caddyfile string, env map[string]string, wait ...string) *Server {
	t.Helper()
	bin, err := testtools.Path("caddy")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	environ := []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"CADDY_ADMIN=" + freeAddr(t),
	}
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	validate := exec.Command(bin, "validate", "--config", abs, "--adapter", "caddyfile")
	validate.Env = environ
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("caddytest: %s rejected: %v\n%s", caddyfile, err, out)
	}
	s := &Server{log: &buffer{}}
	cmd := exec.Command(bin, "run", "--config", abs, "--adapter", "caddyfile")
	cmd.Env = environ
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	setParentDeathSignal(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		t.Fatalf("caddytest: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("caddy log:\n%s", s.log.String())
		}
	})
	for _, addr := range wait {
		if err := waitListening(addr, done, 15*time.Second); err != nil {
			t.Fatalf("caddytest: %v\n%s", err, s.log.String())
		}
	}
	return s
}

// Adapt returns the JSON configuration Caddy makes of caddyfile with env,
// so a test can check what a Caddyfile amounts to.
func Adapt(t testing.TB, caddyfile string, env map[string]string) []byte {
	t.Helper()
	bin, err := testtools.Path("caddy")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(caddyfile)
	if err != nil {
		t.Fatal(err)
	}
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

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(addr string, exited <-chan struct{}, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("caddy exited before listening on %s", addr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listening on %s after %s", addr, within)
}

// buffer collects process output while it runs.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
