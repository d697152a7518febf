package testproc

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestRunOutputAndStop(t *testing.T) {
	p := Run(t, exec.Command("/bin/sh", "-c", "echo hello; echo oops >&2; exec sleep 60"), Options{})
	if err := p.WaitReady(10*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(p.Output(), "hello") || !strings.Contains(p.Output(), "oops") {
			return os.ErrNotExist
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p.Stop(syscall.SIGTERM, 10*time.Second)
	if !p.Exited() || p.Err() == nil {
		t.Errorf("after Stop: exited %v, err %v; want a process ended by SIGTERM", p.Exited(), p.Err())
	}
}

func TestWaitReadyNoticesExit(t *testing.T) {
	p, err := Start(exec.Command("/bin/sh", "-c", "exit 3"), syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	err = p.WaitListening(FreeAddr(t), 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "sh exited during start-up (exit status 3)") {
		t.Errorf("WaitListening on an exited process: %v", err)
	}
	if time.Since(began) > 10*time.Second {
		t.Errorf("WaitListening took %v to notice the exit", time.Since(began))
	}
}

func TestWaitHTTP(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer srv.Close()
	p := Run(t, exec.Command("sleep", "60"), Options{Stop: os.Kill})
	if err := p.WaitHTTP(srv.URL, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("WaitHTTP on 503: %v", err)
	}
	status.Store(http.StatusOK)
	if err := p.WaitHTTP(srv.URL, 5*time.Second); err != nil {
		t.Errorf("WaitHTTP on 200: %v", err)
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("1\n2\n3\n"+strings.Repeat("x", 600)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := Tail(path, 2), "3\n"+strings.Repeat("x", 500)+" …"; got != want {
		t.Errorf("Tail = %q, want %q", got, want)
	}
	if got := Tail(filepath.Join(t.TempDir(), "missing"), 2); !strings.HasPrefix(got, "(cannot read log:") {
		t.Errorf("Tail of a missing file = %q", got)
	}
}

// FreePort stays out of the ephemeral range, where outgoing connections take
// ports, and what it returns can be listened on.
func TestFreePortBelowEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	if low == 0 {
		t.Fatal("cannot read /proc/sys/net/ipv4/ip_local_port_range")
	}
	for range 20 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if port < firstPort || port >= low {
			t.Errorf("FreePort() = %d, want one in [%d, %d)", port, firstPort, low)
		}
		l, err := net.Listen("tcp", FreeAddr(t))
		if err != nil {
			t.Fatalf("listen on FreeAddr: %v", err)
		}
		if p := l.Addr().(*net.TCPAddr).Port; p < firstPort || p >= low {
			t.Errorf("FreeAddr port %d, want one in [%d, %d)", p, firstPort, low)
		}
		l.Close()
	}
}

// FreePort never hands out a port twice in a process, even when the first
// was never bound: two servers of one test must not be given one address.
func TestFreePortDoesNotRepeat(t *testing.T) {
	seen := map[int]bool{}
	for range 2000 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] {
			t.Fatalf("FreePort() = %d a second time after %d calls", port, len(seen))
		}
		seen[port] = true
	}
}
