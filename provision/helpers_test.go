package provision_test

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/promtext"
	"github.com/authgate/authgate/provision"
)

// counter reads authgate_provision_total{sink,outcome} as a scrape shows it.
func counter(t *testing.T, p *provision.Provisioner, sink, outcome string) float64 {
	t.Helper()
	reg := promtext.NewRegistry()
	reg.MustRegister(p.Collector())
	var out strings.Builder
	if err := reg.Write(&out); err != nil {
		t.Fatal(err)
	}
	series := `authgate_provision_total{sink="` + sink + `",outcome="` + outcome + `"} `
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}
