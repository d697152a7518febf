// Package gateproc runs the authgate binary as a process for tests, the way
// an operator runs it: configured by environment, reached over TCP, stopped
// with SIGTERM.
//
//	func TestMain(m *testing.M) { gateproc.Main(m, &bin) } // or Build into a directory of your own
//	g := gateproc.Start(t, bin, gateproc.FreeAddr(t), map[string]string{"API_URL": ...})
//
// The process output is printed when the test fails.
package gateproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testproc"
)

// Build compiles cmd/authgate into dir and returns the binary's path. It
// names the package by import path, so it works from any test directory of
// the module. With AUTHGATE_BINARY set, that binary is used instead (to test
// a release build).
func Build(dir string) (string, error) {
	if bin := os.Getenv("AUTHGATE_BINARY"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "authgate")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/authgate/authgate/cmd/authgate")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gateproc: build authgate: %w", err)
	}
	return bin, nil
}

// Main is a TestMain for a package that runs the binary: it builds authgate
// into a temporary directory (see Build), sets *bin to its path, runs the
// tests, removes the directory and exits with the tests' status. A failed
// build exits with status 1 before any test runs.
func Main(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "authgate-gateproc-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin, err = Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// FreeAddr returns a loopback address nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return testproc.FreeAddr(t)
}

// Gate is a running authgate.
type Gate struct {
	// Addr is the main listener (LISTEN_ADDR); URL is http://Addr.
	Addr, URL string
	// AdminURL is the admin listener's base URL.
	AdminURL string
	proc     *testproc.Process
}

// Log returns the process output so far (JSON log lines).
func (g *Gate) Log() string { return g.proc.Output() }

// Start runs bin with env plus LISTEN_ADDR=addr and a free ADMIN_ADDR, and
// waits for /readyz. The process gets no other environment.
func Start(t testing.TB, bin, addr string, env map[string]string) *Gate {
	t.Helper()
	admin := FreeAddr(t)
	g := &Gate{Addr: addr, URL: "http://" + addr, AdminURL: "http://" + admin}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LISTEN_ADDR=" + addr, "ADMIN_ADDR=" + admin}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	g.proc = testproc.Run(t, cmd, testproc.Options{Label: "authgate " + addr + " log"})
	if err := g.proc.WaitHTTP(g.AdminURL+"/readyz", 20*time.Second); err != nil {
		t.Fatalf("gateproc: %v\n%s", err, g.Log())
	}
	return g
}
