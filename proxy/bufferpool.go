package proxy

import "sync"

// bufferPool recycles the buffers httputil.ReverseProxy copies response
// bodies through. Without one it allocates 32 KiB per request, which at a
// few thousand requests a second is most of the garbage the proxy makes.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([32 << 10]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[32 << 10]byte)[:] }
func (b *bufferPool) Put(x []byte) {
	if cap(x) == 32<<10 {
		b.p.Put((*[32 << 10]byte)(x[:32<<10]))
	}
}
