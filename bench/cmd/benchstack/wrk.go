package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// load is one wrk run's description.
type load struct {
	url     string
	headers []string // "Name: value"
	// rotate sends every request with the next token of the tokens file
	// (wrk/rotate.lua), so each one is a cache miss.
	rotate bool
	// preload loads a rotating run's window of tokens without using it, so
	// that this run starts when a concurrent rotating one does.
	preload bool
	// offset is the first token of the next rotating run: past every token
	// an earlier run against the same process sent (paired and concurrent
	// modes).
	offset int64
}

type wrkResult struct {
	Requests int64
	Seconds  float64
	RPS      float64
	Non2xx   int64 // non-2xx/3xx answers
	SockErrs int64
	Latency  string
	// Tokens is how many distinct tokens a rotating run was given; one
	// that sent more requests than that reused some.
	Tokens    int64
	rawOutput string
}

// maxMissRate bounds the requests/s of a rotating run, to size its window of
// tokens: well above what a cache miss allows on any machine this runs on.
const maxMissRate = 12_000

var (
	reRequests = regexp.MustCompile(`(\d+) requests in ([\d.]+)(ms|s|m)`)
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reSock     = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reLatency  = regexp.MustCompile(`Latency\s+(\S+)`)
)

// runWrk runs wrk pinned to the load CPU with one thread (one core) for d.
func (e *env) runWrk(l load, d time.Duration) (wrkResult, error) {
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	args := []string{"-t1", "-c", strconv.Itoa(e.cfg.conns), "-d", fmt.Sprintf("%ds", secs), "--timeout", "5s"}
	for _, h := range l.headers {
		args = append(args, "-H", h)
	}
	var res wrkResult
	var env []string
	if l.rotate || l.preload {
		args = append(args, "-s", e.cfg.rotateScript)
		// Both load the same window of tokens (a preloading run from the
		// first), so that they start after the same delay.
		var offset int64
		if l.rotate {
			offset = l.offset
		}
		n := min(int64(e.nTokens)-offset, int64(maxMissRate*secs+e.cfg.conns))
		if n <= 0 {
			return res, fmt.Errorf("all %d distinct tokens were sent to this process already; raise MISS_TOKENS or lower DURATION or PAIRS", e.nTokens)
		}
		env = []string{"TOKENS_FILE=" + e.tokensFile, "TOKENS_OFFSET=" + strconv.FormatInt(offset, 10),
			"TOKENS_COUNT=" + strconv.FormatInt(n, 10), "TOKENS_LINE=" + strconv.Itoa(e.tokenLine)}
		if l.rotate {
			res.Tokens = n
		} else {
			env = append(env, "TOKENS_PRELOAD_ONLY=1")
		}
	}
	args = append(args, l.url)
	cmd := exec.Command("taskset", append([]string{"-c", e.cfg.loadCPU, e.cfg.wrk}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	res.rawOutput = string(out)
	if err != nil {
		return res, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	s := string(out)
	m := reRequests.FindStringSubmatch(s)
	r := reRPS.FindStringSubmatch(s)
	if m == nil || r == nil {
		return res, fmt.Errorf("wrk: unexpected output:\n%s", s)
	}
	res.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	res.Seconds, _ = strconv.ParseFloat(m[2], 64)
	switch m[3] {
	case "ms":
		res.Seconds /= 1000
	case "m":
		res.Seconds *= 60
	}
	res.RPS, _ = strconv.ParseFloat(r[1], 64)
	if n := reNon2xx.FindStringSubmatch(s); n != nil {
		res.Non2xx, _ = strconv.ParseInt(n[1], 10, 64)
	}
	if se := reSock.FindStringSubmatch(s); se != nil {
		for _, v := range se[1:] {
			x, _ := strconv.ParseInt(v, 10, 64)
			res.SockErrs += x
		}
	}
	if lat := reLatency.FindStringSubmatch(s); lat != nil {
		res.Latency = lat[1]
	}
	return res, nil
}
