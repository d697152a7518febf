package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// concurrentRun is one concurrent run: CPU µs per request of each row, measured at
// the same time. rps is then requests per CPU-second, as sampleTogether
// reports it.
func concurrentRun(round int, cpuUS map[string]float64) []sample {
	var out []sample
	for name, us := range cpuUS {
		const n = 10_000
		cpu := time.Duration(us * n * float64(time.Microsecond))
		out = append(out, sample{Round: round, Target: name, Requests: n, CPU: cpu, Seconds: 3,
			RPS: n / cpu.Seconds(), Shared: true, HWMKB: 20 << 10})
	}
	return out
}

// The cache-miss target is judged against the bare proxy of the same run:
// here the machine runs twice as fast in the second run, which a comparison
// of medians across runs would read as a cheaper miss.
func TestReportJudgesMissAgainstTheSameRun(t *testing.T) {
	for _, tc := range []struct {
		name         string
		miss1, miss2 float64 // authgate-miss CPU µs per request in the slow runs and in the fast one
		wantInSitu   string
		wantHotLoop  string
	}{
		{"over", 190, 95, "[FAIL] cache-miss CPU (authgate-miss), RS256 in situ: 1.90×", "+90.0 µs/request"},
		{"within", 180, 90, "[PASS] cache-miss CPU (authgate-miss), RS256 in situ: 1.80×", "+80.0 µs/request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &report{cfg: &runConfig{concurrent: true, pairs: 2, rounds: 1, duration: 3 * time.Second}, rsaNs: 40_000}
			// bare-rs256 costs 1.7× bare in both runs: the in-situ budget is
			// 1 + 1.2 × 0.7 = 1.84×.
			// The miss row ran mostly while the machine was slow, the
			// yardstick mostly while it was fast: medians across runs would
			// make the miss look 2.5 times the cost of bare, and the check 1.1.
			r.samples = append(r.samples, concurrentRun(1, map[string]float64{"bare": 100, "authgate-miss": tc.miss1})...)
			r.samples = append(r.samples, concurrentRun(2, map[string]float64{"bare": 100, "authgate-miss": tc.miss1})...)
			r.samples = append(r.samples, concurrentRun(3, map[string]float64{"bare": 50, "authgate-miss": tc.miss2})...)
			r.samples = append(r.samples, concurrentRun(4, map[string]float64{"bare": 50, "bare-rs256": 85})...)
			r.samples = append(r.samples, concurrentRun(5, map[string]float64{"bare": 50, "bare-rs256": 85})...)
			r.samples = append(r.samples, concurrentRun(6, map[string]float64{"bare": 100, "bare-rs256": 170})...)
			var b bytes.Buffer
			r.print(&b)
			out := b.String()
			for _, want := range []string{
				tc.wantInSitu,
				"target ≤ 1 + 1.2 × (bare-rs256 1.70× − 1) = 1.84×",
				// Hot loop: the run-by-run differences are 90, 90 and 45 µs
				// (or 80, 80 and 40), against a budget of 1.2 × 40 = 48 µs.
				"[FAIL] cache-miss CPU (authgate-miss), RS256 timed in a hot loop",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q:\n%s", want, out)
				}
			}
			if !strings.Contains(out, tc.wantHotLoop) {
				t.Errorf("report lacks %q:\n%s", tc.wantHotLoop, out)
			}
		})
	}
}

// In concurrent mode a row's ratio is its requests per CPU-second over its
// baseline's in the same run, whatever share of the CPU each one got.
func TestReportConcurrentRatio(t *testing.T) {
	r := &report{cfg: &runConfig{concurrent: true, pairs: 2, rounds: 1, duration: 3 * time.Second}}
	r.samples = append(r.samples, concurrentRun(1, map[string]float64{"bare": 100, "authgate-bearer": 125})...)
	r.samples = append(r.samples, concurrentRun(2, map[string]float64{"bare": 50, "authgate-bearer": 62.5})...)
	r.samples = append(r.samples, concurrentRun(3, map[string]float64{"bare": 100, "authgate-bearer": 110})...)
	var b bytes.Buffer
	r.print(&b)
	for _, want := range []string{
		"[FAIL] proxy mode, bearer token: 0.80× bare",
		"authgate-bearer     ratio per run: 0.80–0.91× bare (3 runs)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
