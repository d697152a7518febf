// Package gateproc runs the authgate binary as a process for tests, the way
// an operator runs it: configured by environment, reached over TCP, stopped
// with SIGTERM.
//
//	func TestMain(m *testing.M) { bin, _ = gateproc.Build(dir); os.Exit(m.Run()) }
//	g := gateproc.Start(t, bin, gateproc.FreeAddr(t), map[string]string{"API_URL": ...})
//
// The process output is printed when the test fails.
package gateproc

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
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

// FreeAddr returns a loopback address nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Gate is a running authgate.
type Gate struct {
	// Addr is the main listener (LISTEN_ADDR); URL is http://Addr.
	Addr, URL string
	// AdminURL is the admin listener's base URL.
	AdminURL string
	out      *buffer
}

// Log returns the process output so far (JSON log lines).
func (g *Gate) Log() string { return g.out.String() }

// Start runs bin with env plus LISTEN_ADDR=addr and a free ADMIN_ADDR, and
// waits for /readyz. The process gets no other environment.
func Start(t testing.TB, bin, addr string, env map[string]string) *Gate {
	t.Helper()
	admin := FreeAddr(t)
	g := &Gate{Addr: addr, URL: "http://" + addr, AdminURL: "http://" + admin, out: &buffer{}}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LISTEN_ADDR=" + addr, "ADMIN_ADDR=" + admin}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = g.out, g.out
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	setParentDeathSignal(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		t.Fatalf("gateproc: %v", err)
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
			t.Logf("authgate %s log:\n%s", addr, g.out.String())
		}
	})
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("gateproc: authgate exited early:\n%s", g.out.String())
		default:
		}
		if resp, err := client.Get(g.AdminURL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gateproc: authgate not ready:\n%s", g.out.String())
	return nil
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
