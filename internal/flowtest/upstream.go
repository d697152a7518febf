package flowtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Upstream is the protected app: it records what reached it and answers
// with a JSON echo of the request. Two paths behave differently:
//
//   - any request with "Upgrade: websocket" is switched (101) and every byte
//     the client sends afterwards is echoed back, prefixed once with "echo:";
//   - GET /sse streams SSEEvents server-sent events, flushing each, and waits
//     for a value on SSENext before each event after the first.
type Upstream struct {
	*httptest.Server
	// SSENext releases the next event of /sse.
	SSENext chan struct{}

	mu    sync.Mutex
	last  *Seen
	count int
}

// SSEEvents is how many events /sse sends.
const SSEEvents = 3

// Seen is a request as the upstream received it.
type Seen struct {
	Method, Path, RawPath, RequestURI, Host, RemoteAddr string
	Header                                              http.Header
	Trailer                                             http.Header
	Body                                                string
}

// Echo is the upstream's JSON answer.
type Echo struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	RequestURI string              `json:"requestURI"`
	Header     map[string][]string `json:"header"`
}

func newUpstream(t testing.TB) *Upstream {
	u := &Upstream{SSENext: make(chan struct{})}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Server.Close)
	return u
}

// Last returns the last request received, or nil.
func (u *Upstream) Last() *Seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// Count returns how many requests reached the upstream.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.count
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	seen := &Seen{
		Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, RequestURI: r.RequestURI,
		Host: r.Host, RemoteAddr: r.RemoteAddr, Header: r.Header.Clone(), Trailer: r.Trailer.Clone(), Body: string(body),
	}
	u.mu.Lock()
	u.last = seen
	u.count++
	u.mu.Unlock()

	switch {
	case strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		u.upgrade(w, r)
	case r.URL.Path == "/sse":
		u.sse(w, r)
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Echo{Method: r.Method, Path: r.URL.Path, RequestURI: r.RequestURI, Header: r.Header})
	}
}

func (u *Upstream) upgrade(w http.ResponseWriter, r *http.Request) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\necho:")
	_ = rw.Flush()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		n, err := rw.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (u *Upstream) sse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := 1; i <= SSEEvents; i++ {
		if i > 1 {
			select {
			case <-u.SSENext:
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
				return
			}
		}
		fmt.Fprintf(w, "data: event %d\n\n", i)
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// ReadEvent reads one server-sent event ("data: ..." up to the blank line)
// and returns its data.
func ReadEvent(r *bufio.Reader) (string, error) {
	var data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return data, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return data, nil
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = v
		}
	}
}
