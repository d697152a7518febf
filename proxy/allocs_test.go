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
		// identity for Rewrite, one context value, one copy of the
		// Request: 4) and the outgoing header map's table, which the six
		// identity headers take past its first group of eight entries
		// (3); less the two that X-Forwarded-* and X-Request-Id save by
		// sharing one backing array (SetXForwarded allocates a slice per
		// header). A relayed answer gets no X-Request-Id of authgate's.
		{"bearer", g.h, benchRequest(target, "Authorization", "Bearer "+g.token), 5},
		// The same, and authgate's cookie cut out of the Cookie header that
		// goes upstream (a new value and its slice).
		{"cookie", g.h, benchRequest(target, "Cookie", g.cookie+"; theme=dark"), 7},
		// The in-flight gauge and the decision counters allocate nothing.
		{"wired", wired, benchRequest(target, "Authorization", "Bearer "+g.token), 5},
	} {
		if got := allocs(tc.h, tc.r) - bare; got > tc.extra {
			t.Errorf("%s: %.0f allocations per request beyond the bare proxy's %.0f, want at most %.0f", tc.name, got, bare, tc.extra)
		}
	}
}
