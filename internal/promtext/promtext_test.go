package promtext

import (
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parse reads reg's output with Prometheus's own text parser, strict about
// names, so a format error here is one a real scraper would refuse.
func parse(t *testing.T, reg *Registry) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	rec := httptest.NewRecorder()
	reg.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	text := rec.Body.String()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses the output: %v\n%s", err, text)
	}
	return text, fams
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestExposition(t *testing.T) {
	reg := NewRegistry()
	c := NewCounter(Opts{Name: "t_events_total", Help: "Events.\nSecond line with a \\ backslash."})
	g := NewGauge(Opts{Name: "t_in_flight", Help: "In flight."})
	cv := NewCounterVec(Opts{Name: "t_by_kind_total", Help: "By kind."}, "kind", "outcome")
	hv := NewHistogramVec(Opts{Name: "t_seconds", Help: "Latency."}, []float64{0.001, 0.01, 0.1}, "cache")
	gf := NewGaugeFunc(Opts{Name: "t_info", Help: "Info."}, func(emit func(float64, ...string)) {
		emit(1, "v1")
		emit(2) // wrong number of label values: left out, not a broken line
	}, "version")
	reg.MustRegister(c, g, Collectors{cv, hv}, gf)

	c.Inc()
	c.Inc()
	g.Inc()
	g.Inc()
	g.Dec()
	hostile := "a\"b\\c\nd"
	cv.With("z", "ok").Inc()
	cv.With(hostile, "ok").Inc()
	cv.With("z", "ok").Inc()
	cv.With("a", "fail") // present at zero
	h := hv.With("miss")
	for _, v := range []float64{0.001, 0.0005, 0.05, 3} { // 0.001 is in le="0.001": bounds are inclusive
		h.Observe(v)
	}

	text, fams := parse(t, reg)
	if got := fams["t_events_total"]; got.GetType() != dto.MetricType_COUNTER ||
		got.GetMetric()[0].GetCounter().GetValue() != 2 || got.GetHelp() != "Events.\nSecond line with a \\ backslash." {
		t.Errorf("counter: %v", got)
	}
	if got := fams["t_in_flight"]; got.GetType() != dto.MetricType_GAUGE || got.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("gauge: %v", got)
	}
	want := map[[2]string]float64{{"z", "ok"}: 2, {hostile, "ok"}: 1, {"a", "fail"}: 0}
	got := fams["t_by_kind_total"].GetMetric()
	if len(got) != len(want) {
		t.Fatalf("counter vec has %d series, want %d:\n%s", len(got), len(want), text)
	}
	for _, m := range got {
		l := labels(m)
		if w, ok := want[[2]string{l["kind"], l["outcome"]}]; !ok || m.GetCounter().GetValue() != w {
			t.Errorf("series %v = %v", l, m.GetCounter().GetValue())
		}
	}
	hist := fams["t_seconds"].GetMetric()[0].GetHistogram()
	if labels(fams["t_seconds"].GetMetric()[0])["cache"] != "miss" || hist.GetSampleCount() != 4 ||
		math.Abs(hist.GetSampleSum()-3.0515) > 1e-12 {
		t.Errorf("histogram: %v", hist)
	}
	var cum []uint64
	for _, b := range hist.GetBucket() {
		cum = append(cum, b.GetCumulativeCount())
	}
	if !slices.Equal(cum, []uint64{2, 2, 3, 4}) { // the parser keeps +Inf as a bucket too
		t.Errorf("cumulative buckets %v, want [2 2 3 4]\n%s", cum, text)
	}
	if m := fams["t_info"].GetMetric(); len(m) != 1 || labels(m[0])["version"] != "v1" {
		t.Errorf("gauge func: %v", m)
	}

	// Families by name, series by label values: a stable output.
	var names []string
	for _, line := range strings.Split(text, "\n") {
		if n, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(n)[0])
		}
	}
	if !slices.IsSorted(names) || len(names) != 5 {
		t.Errorf("families %v: want five, sorted", names)
	}
	if a, z := strings.Index(text, `kind="a"`), strings.Index(text, `kind="z"`); a < 0 || z < a {
		t.Errorf("series out of order:\n%s", text)
	}
}

func TestRuntimeAndProcess(t *testing.T) {
	reg := NewRegistry()
	reg.MustRegister(GoCollector(), ProcessCollector())
	_, fams := parse(t, reg)
	value := func(name string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: missing or not one series", name)
		}
		m := f.GetMetric()[0]
		if f.GetType() == dto.MetricType_COUNTER {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	for _, name := range []string{"go_goroutines", "go_threads", "go_memstats_alloc_bytes", "go_memstats_alloc_bytes_total",
		"go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes",
		"go_memstats_heap_objects", "go_memstats_next_gc_bytes", "go_memstats_sys_bytes", "go_sched_gomaxprocs_threads",
		"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds", "process_max_fds"} {
		if v := value(name); !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if v := value("go_gc_gogc_percent"); v != 100 && v != -1 && v <= 0 {
		t.Errorf("go_gc_gogc_percent = %v", v)
	}
	if v := value("process_cpu_seconds_total"); v < 0 || v > 3600 {
		t.Errorf("process_cpu_seconds_total = %v", v)
	}
	// The test binary started within the last hour.
	if start, now := value("process_start_time_seconds"), float64(time.Now().Unix()); start > now+1 || start < now-3600 {
		t.Errorf("process_start_time_seconds = %v, now %v", start, now)
	}
	if labels(fams["go_info"].GetMetric()[0])["version"] == "" {
		t.Error("go_info without a version")
	}
}

func TestParseProcStat(t *testing.T) {
	boot := func() (float64, error) { return 1_000_000, nil }
	// The command name may hold spaces and parentheses.
	line := "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 7 0 1234 5000000 300 18446744073709551615"
	st, err := parseProcStat([]byte(line), boot)
	if err != nil {
		t.Fatal(err)
	}
	if st.utime != 250 || st.stime != 75 || st.vsize != 5000000 || st.rss != 300 || st.start != 1_000_012.34 {
		t.Errorf("parsed %+v", st)
	}
	for _, bad := range []string{"", "42 no parenthesis", "42 (x) S 1 2", strings.Replace(line, " 250 ", " -1 ", 1)} {
		if _, err := parseProcStat([]byte(bad), boot); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRegisterRefusesBugs(t *testing.T) {
	for name, f := range map[string]func(){
		"same name twice": func() {
			r := NewRegistry()
			r.MustRegister(NewCounter(Opts{Name: "x_total"}))
			r.MustRegister(NewGauge(Opts{Name: "x_total"}))
		},
		"invalid name":        func() { NewRegistry().MustRegister(NewCounter(Opts{Name: "x-total"})) },
		"reserved label name": func() { NewCounterVec(Opts{Name: "x_total"}, "le") },
		"wrong label count":   func() { NewCounterVec(Opts{Name: "x_total"}, "a", "b").With("only-one") },
		"unsorted bounds":     func() { NewHistogramVec(Opts{Name: "x"}, []float64{2, 1}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

// Updates from many goroutines lose nothing, and a scrape during them sees a
// consistent histogram (+Inf bucket = count).
func TestConcurrentUpdates(t *testing.T) {
	reg := NewRegistry()
	cv := NewCounterVec(Opts{Name: "c_total"}, "k")
	hv := NewHistogramVec(Opts{Name: "h"}, ExponentialBuckets(1, 2, 4))
	reg.MustRegister(cv, hv)
	h := hv.With() // the series exists before the first scrape
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				cv.With([]string{"a", "b"}[i%2]).Inc()
				h.Observe(float64(w))
			}
		})
	}
	wg.Go(func() { // not parse: t.Fatal belongs to the test's goroutine
		p := expfmt.NewTextParser(model.LegacyValidation)
		for range 20 {
			var out strings.Builder
			if err := reg.Write(&out); err != nil {
				t.Error(err)
				return
			}
			fams, err := p.TextToMetricFamilies(strings.NewReader(out.String()))
			if err != nil {
				t.Errorf("mid-update scrape refused: %v", err)
				return
			}
			hist := fams["h"].GetMetric()[0].GetHistogram()
			if b := hist.GetBucket(); b[len(b)-1].GetCumulativeCount() > hist.GetSampleCount() {
				t.Errorf("+Inf bucket %d > count %d", b[len(b)-1].GetCumulativeCount(), hist.GetSampleCount())
			}
		}
	})
	wg.Wait()
	if a, b := cv.With("a").Value(), cv.With("b").Value(); a+b != workers*each || a != b {
		t.Errorf("counted %d + %d, want %d", a, b, workers*each)
	}
	if h.Count() != workers*each {
		t.Errorf("observed %d, want %d", h.Count(), workers*each)
	}
	_, fams := parse(t, reg)
	if s := fams["h"].GetMetric()[0].GetHistogram().GetSampleSum(); s != float64(each*(0+1+2+3+4+5+6+7)) {
		t.Errorf("sum %v", s)
	}
}

// The hot path's updates cost no allocation.
func TestUpdatesDoNotAllocate(t *testing.T) {
	c := NewCounterVec(Opts{Name: "c_total"}, "k").With("v")
	g := NewGauge(Opts{Name: "g"})
	h := NewHistogramVec(Opts{Name: "h"}, ExponentialBuckets(1e-5, 4, 9), "cache").With("hit")
	if n := testing.AllocsPerRun(100, func() { c.Inc(); g.Inc(); g.Dec(); h.Observe(3e-5) }); n != 0 {
		t.Errorf("%v allocations per update", n)
	}
}

func BenchmarkUpdate(b *testing.B) {
	c := NewCounter(Opts{Name: "c_total"})
	h := NewHistogramVec(Opts{Name: "h"}, ExponentialBuckets(1e-5, 4, 9), "cache").With("hit")
	for b.Loop() {
		c.Inc()
		h.Observe(3e-5)
	}
}

// Label values that join to the same text are still different series.
func TestSeriesKeysUnambiguous(t *testing.T) {
	cv := NewCounterVec(Opts{Name: "k_total"}, "a", "b")
	cv.With("x,y", "z").Inc()
	cv.With("x", "y,z").Inc()
	cv.With("1:x", "").Inc()
	cv.With("", "1:x").Inc()
	for _, vs := range [][]string{{"x,y", "z"}, {"x", "y,z"}, {"1:x", ""}, {"", "1:x"}} {
		if n := cv.With(vs...).Value(); n != 1 {
			t.Errorf("%q counted %d, want 1", vs, n)
		}
	}
	reg := NewRegistry()
	reg.MustRegister(cv)
	if _, fams := parse(t, reg); len(fams["k_total"].GetMetric()) != 4 {
		t.Errorf("%d series, want 4", len(fams["k_total"].GetMetric()))
	}
}
