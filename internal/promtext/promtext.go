// Package promtext is a small Prometheus registry: counters, gauges and
// histograms, with or without labels, served in the text exposition format
// (version 0.0.4) that every Prometheus-compatible scraper reads.
//
// authgate used prometheus/client_golang for this. That library links the
// protobuf runtime and its own model, 2.2 MB of binary that start-up maps into
// memory almost whole (1.9 MiB of resident memory per sidecar), for a dozen
// counters. The issue that budgets authgate's memory against a bare reverse
// proxy has no room for it; this package is what authgate actually needs.
//
// Updates are one atomic operation and never allocate: a labelled series is
// resolved once (Vec.With) and kept by its caller. Only Write takes locks.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Opts names a metric family and says what it counts.
type Opts struct {
	Name string
	Help string
}

// Collector is something a Registry can serve: a metric family defined in
// this package, or a Func.
type Collector interface {
	// families appends the collector's families to dst.
	families(dst []*family) []*family
}

// collector is the Collector of one family; the metric types embed it.
type collector struct{ f *family }

func (c collector) families(dst []*family) []*family { return append(dst, c.f) }

// Registry serves its collectors' families, sorted by name.
type Registry struct {
	mu   sync.Mutex
	fams []*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// MustRegister adds collectors. A name registered twice is a wiring bug, so
// it panics, like client_golang's MustRegister.
func (r *Registry) MustRegister(cs ...Collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		for _, f := range c.families(nil) {
			if !validName(f.name) {
				panic(fmt.Sprintf("promtext: invalid metric name %q", f.name))
			}
			for _, g := range r.fams {
				if g.name == f.name {
					panic(fmt.Sprintf("promtext: %s registered twice", f.name))
				}
			}
			r.fams = append(r.fams, f)
		}
	}
	slices.SortFunc(r.fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
}

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ServeHTTP answers a scrape.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", ContentType)
	_ = r.Write(w) // a scraper that went away has nothing left to tell
}

// Write writes every family in the text format.
func (r *Registry) Write(w io.Writer) error {
	r.mu.Lock()
	fams := slices.Clone(r.fams)
	r.mu.Unlock()
	bw := bufio.NewWriter(w)
	var b []byte
	for _, f := range fams {
		b = f.append(b[:0])
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("promtext: write: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("promtext: write: %w", err)
	}
	return nil
}

// family is one metric name with its series.
type family struct {
	name, help, typ string
	labels          []string
	newSeries       func() series

	mu     sync.Mutex
	series map[string]*child // by seriesKey of the label values
	sorted []*child          // the same, by label values, for a stable output
	// collect, when set, makes the series at scrape time instead (Func).
	collect func(emit func(value float64, labelValues ...string))
}

type child struct {
	values []string
	s      series
}

// series is one time series (or a histogram's set of them).
type series interface {
	// append writes the samples of the series called name with labels, which
	// is empty or `k="v",…` without braces.
	append(b []byte, name, labels string) []byte
}

func newFamily(o Opts, typ string, newSeries func() series, labels []string) *family {
	for _, l := range labels {
		if !validName(l) || strings.HasPrefix(l, "__") || strings.Contains(l, ":") || l == "le" {
			panic(fmt.Sprintf("promtext: invalid label name %q", l))
		}
	}
	return &family{name: o.Name, help: o.Help, typ: typ, newSeries: newSeries,
		labels: labels, series: map[string]*child{}}
}

// ownFamily is the family of a metric without labels, whose only series it is.
func ownFamily(o Opts, typ string, s series) *family {
	f := newFamily(o, typ, nil, nil)
	c := &child{s: s}
	f.series[""] = c
	f.sorted = []*child{c}
	return f
}

// seriesKey joins label values unambiguously: each is preceded by its length.
func seriesKey(values []string) string {
	var b []byte
	for _, v := range values {
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
	}
	return string(b)
}

// with returns the series of values, creating it on first use.
func (f *family) with(values []string) series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("promtext: %s has %d labels, got %d values", f.name, len(f.labels), len(values)))
	}
	key := seriesKey(values)
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.series[key]; ok {
		return c.s
	}
	c := &child{values: slices.Clone(values), s: f.newSeries()}
	f.series[key] = c
	i, _ := slices.BinarySearchFunc(f.sorted, c, func(a, b *child) int { return slices.Compare(a.values, b.values) })
	f.sorted = slices.Insert(f.sorted, i, c)
	return c.s
}

func (f *family) append(b []byte) []byte {
	b = append(b, "# HELP "...)
	b = append(b, f.name...)
	b = append(b, ' ')
	b = appendEscaped(b, f.help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, f.name...)
	b = append(b, ' ')
	b = append(b, f.typ...)
	b = append(b, '\n')
	if f.collect != nil {
		f.collect(func(v float64, values ...string) {
			if len(values) == len(f.labels) { // a mismatch is a bug in collect; leave the series out
				b = gaugeValue(v).append(b, f.name, labelPairs(f.labels, values))
			}
		})
		return b
	}
	f.mu.Lock()
	children := slices.Clone(f.sorted)
	f.mu.Unlock()
	for _, c := range children {
		b = c.s.append(b, f.name, labelPairs(f.labels, c.values))
	}
	return b
}

func labelPairs(names, values []string) string {
	if len(names) == 0 {
		return ""
	}
	var b []byte
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, n...)
		b = append(b, `="`...)
		b = appendEscaped(b, values[i], true)
		b = append(b, '"')
	}
	return string(b)
}

// appendEscaped escapes s for a HELP line (backslash, newline) or a label
// value (also the double quote).
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendSample(b []byte, name, suffix, labels, extra string, value []byte) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	if labels != "" || extra != "" {
		b = append(b, '{')
		b = append(b, labels...)
		if labels != "" && extra != "" {
			b = append(b, ',')
		}
		b = append(b, extra...)
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = append(b, value...)
	return append(b, '\n')
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Counter counts events. It only goes up (a restart starts it again at zero,
// which Prometheus's rate() expects).
type Counter struct {
	v         atomic.Uint64
	collector // set for a counter without labels, which is its own family
}

// NewCounter returns a counter without labels.
func NewCounter(o Opts) *Counter {
	c := &Counter{}
	c.f = ownFamily(o, "counter", c)
	return c
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Value is the count so far.
func (c *Counter) Value() uint64 { return c.v.Load() }

func (c *Counter) append(b []byte, name, labels string) []byte {
	return appendSample(b, name, "", labels, "", strconv.AppendUint(nil, c.v.Load(), 10))
}

// Gauge is a value that goes up and down.
type Gauge struct {
	v atomic.Int64
	collector
}

// NewGauge returns a gauge without labels.
func NewGauge(o Opts) *Gauge {
	g := &Gauge{}
	g.f = ownFamily(o, "gauge", g)
	return g
}

// Inc adds one.
func (g *Gauge) Inc() { g.v.Add(1) }

// Dec subtracts one.
func (g *Gauge) Dec() { g.v.Add(-1) }

// Value is the current value.
func (g *Gauge) Value() int64 { return g.v.Load() }

func (g *Gauge) append(b []byte, name, labels string) []byte {
	return appendSample(b, name, "", labels, "", strconv.AppendInt(nil, g.v.Load(), 10))
}

type gaugeValue float64

func (v gaugeValue) append(b []byte, name, labels string) []byte {
	return appendSample(b, name, "", labels, "", []byte(formatFloat(float64(v))))
}

// Histogram counts observations into cumulative buckets, with their sum.
type Histogram struct {
	bounds  []float64       // upper bounds, increasing, without +Inf
	counts  []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumBits atomic.Uint64
	count   atomic.Uint64
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v) // the first bound ≥ v: "le" is inclusive
	h.counts[i].Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	h.count.Add(1)
}

// Count is the number of observations so far.
func (h *Histogram) Count() uint64 { return h.count.Load() }

func (h *Histogram) append(b []byte, name, labels string) []byte {
	// Observe adds to its bucket before the count, so a scrape between the
	// two would see more in the buckets than in _count. _count is therefore
	// at least the +Inf bucket, as consumers of histograms expect.
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.bounds) {
			le = formatFloat(h.bounds[i])
		}
		b = appendSample(b, name, "_bucket", labels, `le="`+le+`"`, strconv.AppendUint(nil, cum, 10))
	}
	count := max(h.count.Load(), cum)
	b = appendSample(b, name, "_sum", labels, "", []byte(formatFloat(math.Float64frombits(h.sumBits.Load()))))
	return appendSample(b, name, "_count", labels, "", strconv.AppendUint(nil, count, 10))
}

// ExponentialBuckets returns count upper bounds: start, start·factor, ….
func ExponentialBuckets(start, factor float64, count int) []float64 {
	if start <= 0 || factor <= 1 || count < 1 {
		panic("promtext: ExponentialBuckets needs start > 0, factor > 1, count ≥ 1")
	}
	bs := make([]float64, count)
	for i := range bs {
		bs[i] = start
		start *= factor
	}
	return bs
}

// CounterVec is a counter family with labels.
type CounterVec struct{ collector }

// NewCounterVec returns a counter family with the given label names.
func NewCounterVec(o Opts, labels ...string) *CounterVec {
	return &CounterVec{collector{newFamily(o, "counter", func() series { return &Counter{} }, labels)}}
}

// With returns the counter of the label values (one per label name, in
// order), creating it at zero on first use. Label values must come from a
// closed set: every distinct value is a series kept for ever.
func (v *CounterVec) With(values ...string) *Counter { return v.f.with(values).(*Counter) }

// HistogramVec is a histogram family with labels.
type HistogramVec struct{ collector }

// NewHistogramVec returns a histogram family with the given upper bounds
// (increasing; +Inf is implied) and label names.
func NewHistogramVec(o Opts, bounds []float64, labels ...string) *HistogramVec {
	if !slices.IsSorted(bounds) || slices.Contains(bounds, math.Inf(1)) {
		panic("promtext: histogram bounds must increase and leave out +Inf")
	}
	bounds = slices.Clip(slices.Compact(slices.Clone(bounds)))
	return &HistogramVec{collector{newFamily(o, "histogram", func() series {
		return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
	}, labels)}}
}

// With returns the histogram of the label values, creating it on first use.
func (v *HistogramVec) With(values ...string) *Histogram { return v.f.with(values).(*Histogram) }

// GaugeFunc is a gauge family whose series are computed at each scrape.
type GaugeFunc struct{ collector }

// NewGaugeFunc returns a gauge family whose collect function emits one value
// per series, with label values for the given label names.
func NewGaugeFunc(o Opts, collect func(emit func(value float64, labelValues ...string)), labels ...string) *GaugeFunc {
	f := newFamily(o, "gauge", nil, labels)
	f.collect = collect
	return &GaugeFunc{collector{f}}
}

// CounterFunc is a counter family whose value is read at each scrape, for
// counts kept elsewhere (the kernel's CPU time, the runtime's GC cycles).
type CounterFunc struct{ collector }

// NewCounterFunc returns a counter without labels whose value collect emits
// at each scrape (or leaves out, when it cannot be read).
func NewCounterFunc(o Opts, collect func(emit func(value float64, labelValues ...string))) *CounterFunc {
	f := newFamily(o, "counter", nil, nil)
	f.collect = collect
	return &CounterFunc{collector{f}}
}

// Collectors groups collectors as one.
type Collectors []Collector

func (cs Collectors) families(dst []*family) []*family {
	for _, c := range cs {
		dst = c.families(dst)
	}
	return dst
}
