package proxy_test

import (
	"net/http"
	"testing"

	"github.com/authgate/authgate/internal/promtext"
	"github.com/authgate/authgate/metrics"
	"github.com/authgate/authgate/proxy"
)

// TestHotPathAllocations holds authgate's proxy mode with a cached token to
// the allocations it cannot avoid beyond a bare httputil.ReverseProxy doing
// the same forwarding (counted in the same run, so a Go release that changes
// ReverseProxy moves both). Every allocation is garbage the collector has to
// chase on every request; under load that is authgate's largest cost after
// net/http itself (README "What stops proxy mode").
func TestHotPathAllocations(t *testing.T) {
	g := newBenchGate(t)
	m := metrics.New(promtext.NewRegistry())
	g.engine.OnDecision = func(d proxy.Decision) { m.Decision(d.Allow, d.Reason) }
	wired := m.InFlight(g.h)
	const target = "http://app.test/api/items?page=2"

	allocs := func(h http.Handler, r *http.Request) float64 {
		sink := &benchSink{h: http.Header{}}
		return testing.AllocsPerRun(200, func() {
			sink.reset()
			h.ServeHTTP(sink, r)
			if sink.status != 0 && sink.status != http.StatusOK {
				t.Fatalf("status %d", sink.status)
			}
		})
	}
	bare := allocs(newBareProxy(), benchRequest(target, "Authorization", "Bearer "+g.token))
	for _, tc := range []struct {
		name  string
		h     http.Handler
		r     *http.Request
		extra float64
	}{
		// The request's state (its id, the struct holding the id and the
		// identity for Rewrite, one context value and one copy of the
		// Request), and the six identity headers take the outgoing header
		// map past its first group of eight entries (a table, in two
		// allocations). X-Forwarded-* and X-Request-Id share one backing
		// array, and a relayed answer gets no X-Request-Id of authgate's.
		{"bearer", g.h, benchRequest(target, "Authorization", "Bearer "+g.token), 6},
		// The same, and authgate's cookie cut out of the Cookie header that
		// goes upstream (a new value and its slice).
		{"cookie", g.h, benchRequest(target, "Cookie", g.cookie+"; theme=dark"), 8},
		// The in-flight gauge and the decision counters allocate nothing.
		{"wired", wired, benchRequest(target, "Authorization", "Bearer "+g.token), 6},
	} {
		if got := allocs(tc.h, tc.r) - bare; got > tc.extra {
			t.Errorf("%s: %.0f allocations per request beyond the bare proxy's %.0f, want at most %.0f", tc.name, got, bare, tc.extra)
		}
	}
}
