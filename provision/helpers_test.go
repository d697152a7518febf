package provision_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/authgate/authgate/provision"
)

// counter reads authgate_provision_total{sink,outcome}.
func counter(t *testing.T, p *provision.Provisioner, sink, outcome string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	p.Collector().Collect(ch)
	close(ch)
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{}
		for _, l := range d.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["sink"] == sink && labels["outcome"] == outcome {
			return d.GetCounter().GetValue()
		}
	}
	return 0
}
