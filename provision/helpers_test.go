package provision_test

import (
	"testing"

	"github.com/authgate/authgate/internal/promtext"
	"github.com/authgate/authgate/provision"
)

// counter reads authgate_provision_total{sink,outcome}.
func counter(t *testing.T, p *provision.Provisioner, sink, outcome string) float64 {
	t.Helper()
	vec, ok := p.Collector().(*promtext.CounterVec)
	if !ok {
		t.Fatalf("provisioning collector is %T, not a counter family", p.Collector())
	}
	return float64(vec.With(sink, outcome).Value())
}
