package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/gateproc"
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

// startGate runs the package's authgate binary with env (plus listener
// addresses) and waits for /readyz.
func startGate(t *testing.T, addr string, env map[string]string) *gateproc.Gate {
	t.Helper()
	return gateproc.Start(t, binary, addr, env)
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
