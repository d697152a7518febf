package upstream

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Two waves of concurrent requests: the second must reuse the first wave's
// connections. With Go's default transport (two idle connections per host)
// nearly every request of the second wave dials again.
func TestTransportKeepsIdleConnections(t *testing.T) {
	const n = 32
	var dials atomic.Int64
	release := make(chan struct{})
	var arrived sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release // hold every request of a wave open at once
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	tr := NewTransport()
	defer tr.CloseIdleConnections()
	wave := func() {
		arrived.Add(n)
		var done sync.WaitGroup
		for range n {
			done.Go(func() {
				resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, srv.URL, nil).WithContext(t.Context()))
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		arrived.Wait()
		for range n {
			release <- struct{}{}
		}
		done.Wait()
	}
	wave()
	first := dials.Load()
	wave()
	if first != n || dials.Load() != n {
		t.Errorf("connections dialled: %d for the first wave of %d, %d after the second (want no new ones)", first, n, dials.Load()-first)
	}
}

func TestBufferPool(t *testing.T) {
	p := NewBufferPool()
	b := p.Get()
	if len(b) != 32<<10 || cap(b) != 32<<10 {
		t.Fatalf("buffer len %d cap %d, want 32 KiB", len(b), cap(b))
	}
	p.Put(b[:100]) // a resliced buffer goes back whole
	p.Put(make([]byte, 10))
	for range 3 {
		if b := p.Get(); len(b) != 32<<10 {
			t.Fatalf("after Put, Get returned %d bytes", len(b))
		}
	}
}
