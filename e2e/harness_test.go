package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstream is a real HTTP app that records what authgate sent it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	last *http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.last = r.Clone(context.Background())
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.RequestURI(), "headers": r.Header})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// syncBuffer collects the process output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gate is a running authgate process.
type gate struct {
	URL, AdminURL string
	Log           *syncBuffer
	cmd           *exec.Cmd
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startGate runs the binary with env (plus listener addresses) and waits for /readyz.
func startGate(t *testing.T, addr string, env map[string]string) *gate {
	t.Helper()
	admin := freeAddr(t)
	g := &gate{URL: "http://" + addr, AdminURL: "http://" + admin, Log: &syncBuffer{}}
	g.cmd = exec.Command(binary)
	g.cmd.Env = []string{"PATH=/usr/bin:/bin", "LISTEN_ADDR=" + addr, "ADMIN_ADDR=" + admin}
	for k, v := range env {
		g.cmd.Env = append(g.cmd.Env, k+"="+v)
	}
	g.cmd.Stdout, g.cmd.Stderr = g.Log, g.Log
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = g.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = g.cmd.Process.Signal(syncSignal)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = g.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("authgate log:\n%s", g.Log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("authgate exited early:\n%s", g.Log.String())
		default:
		}
		resp, err := http.Get(g.AdminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("authgate not ready:\n%s", g.Log.String())
	return nil
}

// browser is a cookie-keeping client that does not follow redirects by
// itself, so every hop of the flow can be checked.
type browser struct {
	t      *testing.T
	client *http.Client
	seen   []string // every URL and body seen, to scan for leaked tokens
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{
		Jar:           jar,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type result struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

func (b *browser) do(method, rawURL string, body io.Reader, hdr map[string]string) result {
	b.t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := result{Status: resp.StatusCode, Header: resp.Header, Body: string(data)}
	if loc, err := resp.Location(); err == nil {
		r.Location = loc.String()
	}
	b.seen = append(b.seen, rawURL, r.Location, r.Body)
	return r
}

func (b *browser) get(u string, hdr map[string]string) result { return b.do("GET", u, nil, hdr) }

// follow GETs rawURL and its redirects until a response is not a redirect or
// the next URL satisfies stop, which it then returns without requesting.
func (b *browser) follow(rawURL string, stop func(*url.URL) bool) (string, result) {
	b.t.Helper()
	for i := 0; i < 20; i++ {
		u, err := url.Parse(rawURL)
		if err != nil {
			b.t.Fatal(err)
		}
		if stop(u) {
			return rawURL, result{}
		}
		r := b.get(rawURL, map[string]string{"Accept": "text/html"})
		if r.Status < 300 || r.Status >= 400 {
			return rawURL, r
		}
		rawURL = r.Location
	}
	b.t.Fatal("too many redirects")
	return "", result{}
}

func (b *browser) cookie(base, name string) *http.Cookie {
	u, _ := url.Parse(base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func postJSON(b *browser, u string, v any, hdr map[string]string) result {
	data, _ := json.Marshal(v)
	h := map[string]string{"Content-Type": "application/json"}
	for k, val := range hdr {
		h[k] = val
	}
	return b.do("POST", u, bytes.NewReader(data), h)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}
