// Package testproc is the one place the test helpers start and stop real
// programs (authgate, Caddy, Nginx, Hydra, redis-server, PostgreSQL). Each
// helper package used to carry its own copy of the same pieces; they share
// these:
//
//   - Buffer, a concurrency-safe sink for a process's output;
//   - FreeAddr and FreePort, a loopback address nothing listens on;
//   - Start, which ties a child to the test binary: on Linux the kernel
//     signals it when the test binary dies without running its cleanups (a
//     -timeout panic, SIGKILL), so no server outlives a run holding a port;
//   - Process.WaitReady and its TCP and HTTP forms, which poll for readiness
//     and give up early when the process exits;
//   - Run, which also stops the process when the test ends and prints its
//     output when the test failed;
//   - Tail, the end of a log file for failure messages.
//
// A typical use:
//
//	p := testproc.Run(t, exec.Command(bin, "serve"), testproc.Options{Label: "authgate log"})
//	if err := p.WaitHTTP("http://"+admin+"/readyz", 20*time.Second); err != nil {
//		t.Fatalf("%v\n%s", err, p.Output())
//	}
package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Buffer collects process output while it runs; Write and String may be
// called from any goroutine. The zero Buffer is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreeAddr returns a loopback address ("127.0.0.1:port") nothing listens on
// right now (see FreePort).
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// FreePort returns a loopback port nothing is bound to right now. It is
// released before the caller's server binds it, so another process may take it
// in between: callers that cannot tolerate that retry with a new port.
//
// It is picked below the kernel's ephemeral range, not by listening on port 0.
// The ephemeral ports are also the local ports of every outgoing connection,
// and a test suite running its packages in parallel opens thousands of those:
// a port freed for a server was seen taken by one before the server bound it
// ("address already in use"). Below the range only other servers' ports can
// collide.
//
// Within a process the ports are walked in turn from a random origin, never
// drawn independently: two draws can repeat a port that was free when checked
// because nothing had bound it yet, and CI saw a test given the same port for
// authgate and for the Caddy in front of it. The random origin keeps parallel
// test processes apart.
func FreePort() (int, error) {
	if low := portLimit(); low-firstPort >= 1000 {
		span := low - firstPort
		for range 64 {
			port := firstPort + int((portOrigin()+portCursor.Add(1))%uint64(span))
			if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
				l.Close()
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portOrigin and portCursor place FreePort's walk, below portLimit (the
// kernel's setting, read once): process-wide because uniqueness is per
// process, whatever test or helper asks.
var (
	portOrigin = sync.OnceValue(func() uint64 { return rand.Uint64N(1 << 32) })
	portCursor atomic.Uint64
	portLimit  = sync.OnceValue(ephemeralLow)
)

// firstPort is the lowest port FreePort picks: above the ports that services
// commonly use.
const firstPort = 10000

// ephemeralLow is the first port of the kernel's ephemeral range, or 0 where
// it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b)) // "32768\t60999"
	if len(f) != 2 {
		return 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return n
}

// DieWithParent has the kernel send sig to cmd's process when the test binary
// dies, keeping whatever else cmd.SysProcAttr asks for. It is Linux-only;
// elsewhere t.Cleanup is the only guard.
func DieWithParent(cmd *exec.Cmd, sig syscall.Signal) { dieWithParent(cmd, sig) }

// Process is a started program and the signal of its exit.
type Process struct {
	name string
	cmd  *exec.Cmd
	out  *Buffer // set by Run
	done chan struct{}
	err  error
}

// Start starts cmd with DieWithParent(cmd, parentDeath) and returns at once;
// a goroutine waits for the exit. Stopping the process is the caller's job.
func Start(cmd *exec.Cmd, parentDeath syscall.Signal) (*Process, error) {
	DieWithParent(cmd, parentDeath)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	p := &Process{name: filepath.Base(cmd.Path), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Options tune Run. The zero value stops with SIGTERM, kills after 10s and
// has the kernel SIGKILL the process if the test binary dies.
type Options struct {
	// Label heads the output in the test log when the test failed
	// (default "<program> log").
	Label string
	// Stop is sent when the test ends (default SIGTERM); a process still
	// running Grace later (default 10s) is killed.
	Stop  os.Signal
	Grace time.Duration
	// ParentDeath is what the kernel sends if the test binary dies without
	// running its cleanups (Linux only; default SIGKILL).
	ParentDeath syscall.Signal
}

// Run starts cmd for the rest of test t, collecting its stdout and stderr
// (see Output). When the test ends the process is stopped as o says and, if
// the test failed, its output is logged. A program that does not start fails
// the test.
func Run(t testing.TB, cmd *exec.Cmd, o Options) *Process {
	t.Helper()
	if o.Stop == nil {
		o.Stop = syscall.SIGTERM
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	if o.ParentDeath == 0 {
		o.ParentDeath = syscall.SIGKILL
	}
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	p, err := Start(cmd, o.ParentDeath)
	if err != nil {
		t.Fatalf("testproc: %v", err)
	}
	p.out = out
	if o.Label == "" {
		o.Label = p.name + " log"
	}
	t.Cleanup(func() {
		p.Stop(o.Stop, o.Grace)
		if t.Failed() {
			t.Logf("%s:\n%s", o.Label, out.String())
		}
	})
	return p
}

// Output returns what a process started by Run wrote so far ("" for one
// started by Start, whose output goes where cmd said).
func (p *Process) Output() string {
	if p.out == nil {
		return ""
	}
	return p.out.String()
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err waits for the process to exit and returns what exec.Cmd.Wait returned
// (nil for exit status 0).
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill kills the process with SIGKILL, as a crash or OOM kill would, and
// waits for it to exit. Killing an exited process does nothing.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill() // fails only if it already exited
	<-p.done
}

// Stop sends sig, waits up to grace for the process to exit, then kills it.
func (p *Process) Stop(sig os.Signal, grace time.Duration) {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// WaitReady calls ready every interval until it returns nil, the process
// exits or within has passed, and says which.
func (p *Process) WaitReady(within, every time.Duration, ready func() error) error {
	deadline := time.Now().Add(within)
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited during start-up (%v)", p.name, p.err)
		}
		err := ready()
		if err == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%s not ready within %v: %w", p.name, within, err)
		}
		select {
		case <-p.done:
		case <-time.After(every):
		}
	}
}

// WaitListening waits until addr accepts TCP connections.
func (p *Process) WaitListening(addr string, within time.Duration) error {
	return p.WaitReady(within, 50*time.Millisecond, func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// WaitHTTP waits until a GET of url answers 200 OK.
func (p *Process) WaitHTTP(url string, within time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	return p.WaitReady(within, 50*time.Millisecond, func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New("GET " + url + ": " + resp.Status)
		}
		return nil
	})
}

// Tail returns the last n lines of the file at path, each cut to 500 bytes,
// for failure messages; a file that cannot be read gives a note saying so.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 500 {
			lines[i] = l[:500] + " …"
		}
	}
	return strings.Join(lines, "\n")
}
