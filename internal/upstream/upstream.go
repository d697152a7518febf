// Package upstream is how authgate's reverse proxy talks to the app behind
// it: the transport's connection pool and the buffers response bodies are
// copied through. The load benchmark's bare proxy uses the same, so that the
// ratio against it is the cost of authenticating, not of proxy tuning; it
// imports this package and not proxy, whose imports would make it a larger
// program than a bare proxy.
package upstream

import (
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// NewTransport returns the upstream transport. Go's default keeps only two
// idle connections per host, which under load means a new TCP connection for
// most requests; a sidecar talks to one host, so it keeps many.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// NewBufferPool returns a pool for httputil.ReverseProxy's copy buffers.
// Without one it allocates 32 KiB per request, which at a few thousand
// requests a second is most of the garbage the proxy makes.
func NewBufferPool() httputil.BufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([32 << 10]byte) }}}
}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte { return b.p.Get().(*[32 << 10]byte)[:] }

func (b *bufferPool) Put(x []byte) {
	if cap(x) == 32<<10 {
		b.p.Put((*[32 << 10]byte)(x[:32<<10]))
	}
}
