// Package redistest runs real redis-server processes for tests, so Redis
// code is tested against Redis itself rather than a fake that may disagree
// on expiry, GETDEL or error behaviour.
//
// Each Server gets its own loopback port and temporary directory, persists
// nothing, and is killed when the test ends. Tests fail (never skip) when
// redis-server is not installed: a silently skipped Redis suite would let a
// broken shared store ship.
//
// StartSentinel and StartCluster (topology.go) build a failover-capable
// Sentinel setup and a three-node Cluster on the same process launcher.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testproc"
)

// debianBinary is where Debian's redis-server package installs the server;
// it is used when redis-server is not on PATH.
const debianBinary = "/usr/bin/redis-server"

const (
	// readyTimeout bounds start-up; redis-server normally answers within
	// milliseconds, the slack covers loaded CI machines.
	readyTimeout = 10 * time.Second
	// startAttempts covers the race between picking a free port and the
	// server binding it: another process may take the port in between.
	startAttempts = 5
)

// Server is one redis-server process on 127.0.0.1. Its methods must be
// called from the test goroutine, since they may call t.Fatalf.
type Server struct {
	t     testing.TB
	bin   string
	dir   string
	extra []string // mode-specific arguments, kept for Restart

	mu   sync.Mutex
	port int
	proc *testproc.Process // nil while stopped
}

// Start launches a standalone redis-server on a free loopback port and
// waits until it answers PING. It is killed on t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, nil)
}

// start is the launcher shared by all modes: extra arguments are appended
// to the common ones and reused on Restart.
func start(t testing.TB, extra []string) *Server {
	t.Helper()
	s := &Server{t: t, bin: findBinary(t), dir: t.TempDir(), extra: extra}
	t.Cleanup(s.Stop)

	var lastErr error
	for range startAttempts {
		port, err := testproc.FreePort()
		if err != nil {
			t.Fatalf("redistest: pick a free port: %v", err)
		}
		if lastErr = s.launch(port); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: start redis-server: %v", lastErr)
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Port is the server's TCP port; it survives Restart.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// URL is a redis:// URL for the server (database 0, no password).
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Stop kills the server with SIGKILL, as a crash or OOM kill would, and
// waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
}

// Restart stops the server if it runs and starts a fresh, empty one on the
// same port, so clients configured with the old address reconnect to it.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	// The old listener is gone once the process has exited, and Redis sets
	// SO_REUSEADDR; the retries only absorb a slow kernel.
	var err error
	for range startAttempts {
		if err = s.launch(s.Port()); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart redis-server on port %d: %v", s.Port(), err)
}

// launch starts redis-server on port and waits until it answers PING.
func (s *Server) launch(port int) error {
	logPath := filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", port))
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		// No persistence: every start is empty and nothing is written
		// outside the test's directory.
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", logPath,
	}
	args = append(args, s.extra...)
	p, err := startProcess(s.bin, args)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitReady(p, addr); err != nil {
		p.Kill()
		return fmt.Errorf("%w\nredis-server log:\n%s", err, testproc.Tail(logPath, 30))
	}
	s.mu.Lock()
	s.port, s.proc = port, p
	s.mu.Unlock()
	return nil
}

// startProcess starts a server binary; the kernel kills it if the test
// binary dies without running its cleanups (timeout panic, SIGKILL).
func startProcess(bin string, args []string) (*testproc.Process, error) {
	return testproc.Start(exec.Command(bin, args...), syscall.SIGKILL)
}

// waitReady polls addr with an inline PING until the server answers +PONG,
// the process exits, or readyTimeout passes.
func waitReady(p *testproc.Process, addr string) error {
	return p.WaitReady(readyTimeout, 20*time.Millisecond, func() error {
		if err := ping(addr); err != nil {
			return fmt.Errorf("PING %s: %w", addr, err)
		}
		return nil
	})
}

// ping speaks the inline protocol directly, so this package needs no client
// library and cannot inherit a client's bugs.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		// e.g. -LOADING while a server starts up
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func findBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if _, err := os.Stat(debianBinary); err == nil {
		return debianBinary
	}
	t.Fatalf("redistest: redis-server not found on PATH or at %s; install it (Debian/Ubuntu: apt-get install redis-server) — the Redis store tests must run, they are never skipped", debianBinary)
	return ""
}
