package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type runConfig struct {
	authgate, bareProxy, oauth2Proxy, nginx, wrk, self, rotateScript string
	duration, warmup                                                 time.Duration
	rounds, conns, missTokens, pairs                                 int
	serverCPU, loadCPU                                               string
	only                                                             map[string]bool
	workdir                                                          string
	keep, skipMemory, profile, concurrent                            bool
}

// env is what every row shares: the provider, the upstream, the credentials.
type env struct {
	cfg                                  *runConfig
	dir                                  string
	upstreamURL, providerURL, issuer     string
	clientID, clientSecret, cookieSecret string
	token, cookie, lastToken, tokensFile string
	nTokens                              int
	tokenLine                            int // bytes per line of tokensFile when all lines are alike, else 0
	report                               *report
	pairRounds                           int // paired mode's alternations so far
}

// sample is one row in one round.
type sample struct {
	Round    int
	Target   string
	RPS      float64
	Requests int64
	Non2xx   int64
	SockErrs int64
	CPU      time.Duration // of the row's processes, during the measured run
	Seconds  float64       // the measured run's length (wrk's)
	// Shared: measured together with its baseline (concurrent mode); RPS is
	// then requests per second of CPU used.
	Shared  bool
	HWMKB   int64 // peak RSS (VmHWM) of the row's processes, summed
	Latency string
	Err     string
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	c := &runConfig{}
	fs.StringVar(&c.authgate, "authgate", "", "authgate binary (required)")
	fs.StringVar(&c.bareProxy, "bareproxy", "", "the bare proxy binary, bench/cmd/bareproxy (required)")
	fs.StringVar(&c.oauth2Proxy, "oauth2-proxy", "", "oauth2-proxy binary (its rows are skipped without it)")
	fs.StringVar(&c.nginx, "nginx", "nginx", "nginx binary")
	fs.StringVar(&c.wrk, "wrk", "wrk", "wrk binary")
	fs.StringVar(&c.rotateScript, "rotate", "", "wrk script rotating distinct tokens (bench/wrk/rotate.lua)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per row and round")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured load before each measurement (0: none)")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; every round runs every row, in a rotated order")
	fs.IntVar(&c.pairs, "pairs", 0, "paired mode: per round and row, start the row and its baseline side by side and alternate this many runs of -duration between them; a ratio comes from each adjacent pair (0: every row measured once per round)")
	fs.BoolVar(&c.concurrent, "concurrent", false, "concurrent mode (implies -pairs 5 unless set): each of the -pairs runs loads a row and its baseline at the same time, both servers sharing the server CPU, and compares their CPU per request; the machine's changes of speed then hit both alike")
	fs.IntVar(&c.conns, "connections", 64, "wrk connections")
	fs.IntVar(&c.missTokens, "miss-tokens", 200_000, "distinct tokens for the cache-miss rows (the cache memory test takes the first 100,000)")
	fs.StringVar(&c.serverCPU, "server-cpu", "0", "CPU (taskset list) of the server under test")
	fs.StringVar(&c.loadCPU, "load-cpu", "1", "CPU of wrk and the shared upstream")
	targetList := fs.String("targets", "", "comma-separated rows to run (default: all); baselines are added")
	fs.StringVar(&c.workdir, "workdir", "", "working directory (default: a new temporary one)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory (logs, configs, tokens)")
	fs.BoolVar(&c.skipMemory, "skip-memory", false, "skip the cache memory test")
	fs.BoolVar(&c.profile, "profile", false, "write a CPU profile of every authgate row's measured run (cpu.pprof in its directory; implies -keep; profiling costs throughput, so these numbers are not for the table)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.authgate == "" || c.bareProxy == "" || c.rotateScript == "" {
		return fmt.Errorf("-authgate, -bareproxy and -rotate are required")
	}
	if c.concurrent && c.pairs == 0 {
		c.pairs = 5
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c.self = self
	if *targetList != "" {
		c.only = map[string]bool{}
		for _, n := range strings.Split(*targetList, ",") {
			c.only[strings.TrimSpace(n)] = true
		}
		for _, t := range targets {
			if c.only[t.name] {
				c.only[t.baseline] = true
			}
		}
		for n := range c.only {
			if findTarget(n) == nil {
				return fmt.Errorf("unknown target %q", n)
			}
		}
	}
	if c.workdir == "" {
		if c.workdir, err = os.MkdirTemp("", "authgate-bench-"); err != nil {
			return err
		}
	}
	if !c.keep {
		defer os.RemoveAll(c.workdir)
	}

	e := &env{cfg: c, dir: c.workdir, clientID: "authgate-bench", clientSecret: randomHex(24), cookieSecret: randomHex(24)}
	rep := &report{cfg: c, started: time.Now()}
	e.report = rep

	logf("work directory %s", c.workdir)
	logf("raw RS256 verification cost on CPU %s ...", c.serverCPU)
	if rep.rsaNs, err = rsaOnServerCPU(c); err != nil {
		return err
	}
	logf("  %.1f µs", float64(rep.rsaNs)/1e3)

	up, err := e.startShared()
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range up {
			p.stop()
		}
	}()

	var rows []target
	for _, t := range targets {
		if c.only != nil && !c.only[t.name] {
			continue
		}
		if t.needs == "oauth2-proxy" && c.oauth2Proxy == "" {
			rep.skipped = append(rep.skipped, t.name+" (no oauth2-proxy binary)")
			continue
		}
		rows = append(rows, t)
	}
	logSample := func(r int, s sample) {
		if s.Err != "" {
			logf("round %d/%d %-19s ERROR %s", r, c.rounds, s.Target, firstLine(s.Err))
		} else {
			logf("round %d/%d %-19s %9.0f req/s  %6.1f µs CPU/req  %3.0f%% CPU  %s", r, c.rounds, s.Target, s.RPS,
				perReq(s.CPU, s.Requests), 100*s.busy(), mibKB(s.HWMKB))
		}
	}
	for r := 1; r <= c.rounds; r++ {
		for i := range rows {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Rotate the order so no row is always first or always last.
			t := rows[(i+r-1)%len(rows)]
			if c.pairs > 0 {
				if t.baseline == "" || t.baseline == t.name {
					continue // measured beside each row that it is the baseline of
				}
				for _, s := range e.measurePaired(*findTarget(t.baseline), t, r) {
					rep.samples = append(rep.samples, s)
					logSample(r, s)
				}
				continue
			}
			s := e.measure(t, r)
			rep.samples = append(rep.samples, s)
			logSample(r, s)
		}
	}
	if !c.skipMemory && ctx.Err() == nil {
		logf("cache memory: %d distinct tokens through one authgate ...", min(e.nTokens, memTokens))
		rep.mem, err = e.cacheMemory()
		if err != nil {
			rep.memErr = err.Error()
			logf("  ERROR %s", firstLine(err.Error()))
		}
	}
	rep.print(os.Stdout)
	if f, err := os.Create(filepath.Join(c.workdir, "report.txt")); err == nil {
		rep.print(f)
		f.Close()
	}
	if b, err := json.MarshalIndent(rep.samples, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(c.workdir, "samples.json"), b, 0o644)
	}
	return nil
}

func findTarget(name string) *target {
	for i := range targets {
		if targets[i].name == name {
			return &targets[i]
		}
	}
	return nil
}

// startShared starts the upstream every proxy forwards to (on the load CPU:
// it is not what is measured) and the provider, which mints the tokens.
func (e *env) startShared() ([]*proc, error) {
	c := e.cfg
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	up, err := startProc("upstream", c.loadCPU, filepath.Join(e.dir, "upstream.log"), nil, c.self, "upstream", "-listen", addr)
	if err != nil {
		return nil, err
	}
	e.upstreamURL = "http://" + addr
	if err := waitHTTP(up, e.upstreamURL+"/", http.StatusOK); err != nil {
		up.stop()
		return nil, err
	}

	paddr, err := freeAddr()
	if err != nil {
		up.stop()
		return nil, err
	}
	pdir := filepath.Join(e.dir, "provider")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		up.stop()
		return nil, err
	}
	logf("provider: minting %d distinct RS256 tokens (about 1 ms of CPU each, on every core) ...", c.missTokens)
	start := time.Now()
	// Not pinned: it signs on every core before any measurement, then idles
	// (authgate and oauth2-proxy fetch its discovery and JWKS at start-up).
	prov, err := startProc("provider", "", filepath.Join(e.dir, "provider.log"), nil, c.self, "provider",
		"-listen", paddr, "-dir", pdir, "-n", strconv.Itoa(c.missTokens),
		"-client-id", e.clientID, "-client-secret", e.clientSecret, "-cookie-secret", e.cookieSecret)
	if err != nil {
		up.stop()
		return nil, err
	}
	procs := []*proc{up, prov}
	for {
		if _, err := os.Stat(filepath.Join(pdir, fileReady)); err == nil {
			break
		}
		if prov.exited() {
			up.stop()
			return nil, fmt.Errorf("provider exited:\n%s", prov.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("  done in %s", time.Since(start).Round(time.Second))
	e.providerURL = "http://" + paddr
	e.issuer = e.providerURL + "/application/o/authgate/"
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(pdir, name))
		return strings.TrimSpace(string(b))
	}
	e.token, e.cookie = read(fileToken), read(fileCookie)
	e.tokensFile = filepath.Join(pdir, fileTokens)
	toks, err := readLines(e.tokensFile)
	if err != nil || len(toks) == 0 {
		return procs, fmt.Errorf("tokens file: %v", err)
	}
	e.nTokens, e.lastToken = len(toks), toks[len(toks)-1]
	if fi, err := os.Stat(e.tokensFile); err == nil && fi.Size() == int64(len(toks))*int64(len(toks[0])+1) {
		e.tokenLine = len(toks[0]) + 1 // every line alike (readLines trims none here): rotate.lua seeks
		for _, t := range toks {
			if len(t) != len(toks[0]) {
				e.tokenLine = 0
				break
			}
		}
	}
	e.report.nTokens = e.nTokens
	return procs, nil
}

// measure runs one row once: start it, check it answers as it should, warm
// it up, then measure requests/s, CPU and peak RSS.
func (e *env) measure(t target, round int) sample {
	in, dir, err := e.prepare(t, fmt.Sprintf("r%d-%s", round, t.name))
	if err != nil {
		return sample{Round: round, Target: t.name, Err: err.Error()}
	}
	defer in.stop()
	return e.sampleOnce(in, t, round, dir)
}

// measurePaired is paired mode's round of row t: t and its baseline b run side
// by side (both idle but for the run in progress), and -pairs alternations of
// one run each are measured, swapping which goes first. Each alternation is a
// round of its own in the report, so a ratio compares two runs a few seconds
// apart, and drift of the machine slower than that cancels out of it.
func (e *env) measurePaired(b, t target, round int) []sample {
	fail := func(err error) []sample {
		return []sample{{Round: e.nextPairRound(), Target: t.name, Err: err.Error()}}
	}
	// Which of the two starts first alternates from round to round, and which
	// load starts first from run to run: two identical bare proxies measured
	// 1.017× the second against the first over 20 concurrent runs, when the
	// baseline always came first.
	var inB, inT *instance
	var dirB, dirT string
	startB := func() (err error) {
		if inB, dirB, err = e.prepare(b, fmt.Sprintf("r%d-%s-%s", round, t.name, b.name)); err != nil {
			return fmt.Errorf("baseline %s: %w", b.name, err)
		}
		return nil
	}
	startT := func() (err error) {
		inT, dirT, err = e.prepare(t, fmt.Sprintf("r%d-%s", round, t.name))
		return err
	}
	first, second := startB, startT
	if round%2 == 0 {
		first, second = startT, startB
	}
	err := first()
	if err == nil {
		err = second()
	}
	for _, in := range []*instance{inB, inT} {
		if in != nil {
			defer in.stop()
		}
	}
	if err != nil {
		return fail(err)
	}
	var out []sample
	for k := 0; k < e.cfg.pairs; k++ {
		id := e.nextPairRound()
		if e.cfg.concurrent {
			// A rotating load starts after loading its tokens; the baseline's
			// loads the same number, so the two runs overlap.
			inB.load.preload = inT.load.rotate && !inB.load.rotate
			ins, ts, dirs := []*instance{inB, inT}, []target{b, t}, []string{dirB, dirT}
			if k%2 == 1 {
				ins, ts, dirs = []*instance{inT, inB}, []target{t, b}, []string{dirT, dirB}
			}
			out = append(out, e.sampleTogether(ins, ts, id, dirs)...)
			continue
		}
		if k%2 == 0 {
			out = append(out, e.sampleOnce(inB, b, id, dirB), e.sampleOnce(inT, t, id, dirT))
		} else {
			out = append(out, e.sampleOnce(inT, t, id, dirT), e.sampleOnce(inB, b, id, dirB))
		}
	}
	return out
}

// nextPairRound numbers the alternations of paired mode.
func (e *env) nextPairRound() int {
	e.pairRounds++
	return e.pairRounds
}

// prepare starts row t in a directory of its own, checks that it answers as
// it should, and warms it up.
func (e *env) prepare(t target, name string) (*instance, string, error) {
	dir := filepath.Join(e.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	in, err := t.start(e, dir)
	if err != nil {
		return nil, "", err
	}
	if err := in.check(); err != nil {
		in.stop()
		return nil, "", fmt.Errorf("check: %w", err)
	}
	if e.cfg.warmup > 0 {
		warm := in.load
		if warm.rotate {
			// Warm with the one cached token, so the measured run's
			// distinct tokens are all new to this process.
			warm = load{url: warm.url, headers: []string{e.bearer()}}
		}
		if _, err := e.runWrk(warm, e.cfg.warmup); err != nil {
			in.stop()
			return nil, "", fmt.Errorf("warm-up: %w", err)
		}
	}
	return in, dir, nil
}

// sampleOnce measures a started row once: requests/s, CPU and peak RSS.
func (e *env) sampleOnce(in *instance, t target, round int, dir string) sample {
	return e.sampleTogether([]*instance{in}, []target{t}, round, []string{dir})[0]
}

// sampleTogether measures started rows in one run, each loaded by its own
// wrk, all at the same time. With more than one row (concurrent mode) the
// servers share the server CPU, so a row's requests/s is reported per second
// of CPU it used: what it would serve with the CPU to itself, measured in the
// same moments as the others.
func (e *env) sampleTogether(ins []*instance, ts []target, round int, dirs []string) []sample {
	out := make([]sample, len(ins))
	cpu0 := make([]time.Duration, len(ins))
	for i, in := range ins {
		out[i] = sample{Round: round, Target: ts[i].name}
		var err error
		if cpu0[i], err = cpuOf(in.procs); err != nil {
			out[i].Err = err.Error()
			return out
		}
	}
	var stops []func()
	for i, in := range ins {
		stops = append(stops, e.profile(in, dirs[i]))
	}
	results := make([]wrkResult, len(ins))
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.runWrk(in.load, e.cfg.duration)
		}()
	}
	wg.Wait()
	for _, stop := range stops {
		stop()
	}
	for i, in := range ins {
		s := &out[i]
		if errs[i] != nil {
			s.Err = errs[i].Error()
			continue
		}
		cpu1, err := cpuOf(in.procs)
		if err != nil {
			s.Err = err.Error()
			continue
		}
		for _, p := range in.procs {
			kb, err := p.statusKB("VmHWM")
			if err != nil {
				s.Err = err.Error()
				break
			}
			s.HWMKB += kb
		}
		res := results[i]
		s.RPS, s.Requests, s.Non2xx, s.SockErrs, s.Latency, s.Seconds = res.RPS, res.Requests, res.Non2xx, res.SockErrs, res.Latency, res.Seconds
		s.CPU = cpu1 - cpu0[i]
		if len(ins) > 1 {
			s.Shared = true
			if s.CPU > 0 {
				s.RPS = float64(s.Requests) / s.CPU.Seconds()
			}
		}
		if s.Non2xx > 0 && s.Err == "" {
			s.Err = fmt.Sprintf("%d of %d answers were not 2xx/3xx", s.Non2xx, s.Requests)
		}
		if in.load.rotate {
			// wrk may have generated a request per connection beyond those it
			// counted; the next run starts past those too.
			sent := res.Requests + int64(e.cfg.conns)
			if sent > res.Tokens && s.Err == "" {
				s.Err = fmt.Sprintf("the run was given %d distinct tokens (from token %d of %d) and sent up to %d requests: some were cache hits; raise MISS_TOKENS or lower DURATION or PAIRS",
					res.Tokens, in.load.offset, e.nTokens, sent)
			}
			in.load.offset += sent
		}
	}
	return out
}

// profile fetches, while the measured run goes on, a CPU profile of every
// process of in that serves one; the returned func waits for them.
func (e *env) profile(in *instance, dir string) func() {
	var wg sync.WaitGroup
	secs := max(int(e.cfg.duration/time.Second)-1, 1)
	for _, p := range in.procs {
		if p.pprof == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(fmt.Sprintf("%s?seconds=%d", p.pprof, secs))
			if err != nil {
				logf("profile %s: %v", p.name, err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(dir, p.name+"-cpu.pprof"))
			if err != nil {
				logf("profile %s: %v", p.name, err)
				return
			}
			defer f.Close()
			if _, err := io.Copy(f, resp.Body); err != nil {
				logf("profile %s: %v", p.name, err)
			}
		}()
	}
	return wg.Wait
}

// busy is the share of one CPU the row's processes used during the run. A
// server below about 90% was not the bottleneck: the load generator (or the
// upstream, which shares its CPU) was, and the row measured them.
func (s sample) busy() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return s.CPU.Seconds() / s.Seconds
}

func cpuOf(procs []*proc) (time.Duration, error) {
	var sum time.Duration
	for _, p := range procs {
		d, err := p.cpuTime()
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// memResult is the cache memory test's outcome.
type memResult struct {
	Entries             int
	RSSBeforeKB         int64
	RSSAfterKB, HWMKB   int64
	HeapInuse, HeapLive float64 // bytes, from authgate's /metrics after the fill
	Failed              int64
}

// memTokens is the cache memory target's count of cached tokens.
const memTokens = 100_000

// cacheMemory sends the first memTokens distinct tokens once each to a fresh
// authgate whose cache holds exactly that many, and reads its memory.
func (e *env) cacheMemory() (memResult, error) {
	var m memResult
	dir := filepath.Join(e.dir, "memory")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return m, err
	}
	p, url, admin, err := e.startAuthgateAdmin(dir, map[string]string{"AUTHGATE_TOKEN_CACHE_ENTRIES": strconv.Itoa(memTokens)})
	if err != nil {
		return m, err
	}
	defer p.stop()
	if m.RSSBeforeKB, err = p.statusKB("VmRSS"); err != nil {
		return m, err
	}
	toks, err := readLines(e.tokensFile)
	if err != nil {
		return m, err
	}
	toks = toks[:min(len(toks), memTokens)]
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(toks) {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
				req.Header.Set("Authorization", "Bearer "+toks[i])
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	m.Entries, m.Failed = len(toks), failed.Load()
	if m.RSSAfterKB, err = p.statusKB("VmRSS"); err != nil {
		return m, err
	}
	if m.HWMKB, err = p.statusKB("VmHWM"); err != nil {
		return m, err
	}
	metrics := scrape(admin + "/metrics")
	var inuse, live bool
	m.HeapInuse, inuse = metrics["go_memstats_heap_inuse_bytes"]
	m.HeapLive, live = metrics["go_memstats_heap_alloc_bytes"]
	if !inuse || !live {
		return m, errors.New("authgate's /metrics lacks go_memstats_heap_inuse_bytes or go_memstats_heap_alloc_bytes")
	}
	if m.Failed > 0 {
		return m, fmt.Errorf("%d of %d requests failed", m.Failed, m.Entries)
	}
	return m, nil
}

// scrape reads the unlabelled samples of a Prometheus text exposition.
func scrape(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = f
		}
	}
	return out
}

// rsaOnServerCPU runs "benchstack rsa" pinned to the server CPU.
func rsaOnServerCPU(c *runConfig) (int64, error) {
	p, err := startProc("rsa", c.serverCPU, filepath.Join(c.workdir, "rsa.log"), nil, c.self, "rsa")
	if err != nil {
		return 0, err
	}
	<-p.done
	out := p.tail()
	ns, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("rsa: %s", out)
	}
	return ns, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
