package promtext

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
)

// GoCollector exports the Go runtime's state under the names client_golang's
// Go collector uses, so existing dashboards keep working. The values come
// from runtime/metrics, which, unlike runtime.ReadMemStats, does not stop the
// world.
func GoCollector() Collector {
	read := func(name string) func() float64 {
		return func() float64 {
			s := []metrics.Sample{{Name: name}}
			metrics.Read(s)
			switch s[0].Value.Kind() {
			case metrics.KindUint64:
				return float64(s[0].Value.Uint64())
			case metrics.KindFloat64:
				return s[0].Value.Float64()
			}
			return 0 // not supported by this Go version
		}
	}
	one := func(get func() float64) func(emit func(float64, ...string)) {
		return func(emit func(float64, ...string)) { emit(get()) }
	}
	gauge := func(name, help string, get func() float64) Collector {
		return NewGaugeFunc(Opts{Name: name, Help: help}, one(get))
	}
	return Collectors{
		gauge("go_goroutines", "Number of goroutines that currently exist.",
			func() float64 { return float64(runtime.NumGoroutine()) }),
		gauge("go_threads", "Number of OS threads created.", func() float64 {
			n, _ := runtime.ThreadCreateProfile(nil)
			return float64(n)
		}),
		NewGaugeFunc(Opts{Name: "go_info", Help: "Information about the Go environment."},
			func(emit func(float64, ...string)) { emit(1, runtime.Version()) }, "version"),
		gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.",
			read("/memory/classes/heap/objects:bytes")),
		NewCounterFunc(Opts{Name: "go_memstats_alloc_bytes_total", Help: "Total number of bytes allocated in heap until now."},
			one(read("/gc/heap/allocs:bytes"))),
		gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.",
			read("/memory/classes/heap/objects:bytes")),
		gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use (in spans with at least one object).",
			func() float64 {
				return read("/memory/classes/heap/objects:bytes")() + read("/memory/classes/heap/unused:bytes")()
			}),
		gauge("go_memstats_heap_objects", "Number of currently allocated objects.",
			read("/gc/heap/objects:objects")),
		gauge("go_memstats_next_gc_bytes", "Number of heap bytes when the next garbage collection will take place.",
			read("/gc/heap/goal:bytes")),
		gauge("go_memstats_sys_bytes", "Number of bytes obtained from the system.",
			read("/memory/classes/total:bytes")),
		NewCounterFunc(Opts{Name: "go_gc_cycles_total", Help: "Completed garbage collection cycles."},
			one(read("/gc/cycles/total:gc-cycles"))),
		gauge("go_gc_gogc_percent", "Heap size target percentage (GOGC).", read("/gc/gogc:percent")),
		gauge("go_gc_gomemlimit_bytes", "Go runtime memory limit (GOMEMLIMIT).", read("/gc/gomemlimit:bytes")),
		gauge("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting.",
			func() float64 { return float64(runtime.GOMAXPROCS(0)) }),
	}
}

// ProcessCollector exports the process's CPU time, memory, file descriptors
// and start time under client_golang's process_* names. They come from
// /proc, so on systems without it the families are served without samples.
func ProcessCollector() Collector {
	// The boot time never changes: read /proc/stat once, not with every
	// family of every scrape.
	boot := sync.OnceValues(bootTime)
	stat := func(get func(st procStat) float64) func(emit func(float64, ...string)) {
		return func(emit func(float64, ...string)) {
			if st, err := readProcStat(boot); err == nil {
				emit(get(st))
			}
		}
	}
	return Collectors{
		NewCounterFunc(Opts{Name: "process_cpu_seconds_total", Help: "Total user and system CPU time spent in seconds."},
			stat(func(st procStat) float64 { return float64(st.utime+st.stime) / userHZ })),
		NewGaugeFunc(Opts{Name: "process_resident_memory_bytes", Help: "Resident memory size in bytes."},
			stat(func(st procStat) float64 { return float64(st.rss) * float64(os.Getpagesize()) })),
		NewGaugeFunc(Opts{Name: "process_virtual_memory_bytes", Help: "Virtual memory size in bytes."},
			stat(func(st procStat) float64 { return float64(st.vsize) })),
		NewGaugeFunc(Opts{Name: "process_start_time_seconds", Help: "Start time of the process since unix epoch in seconds."},
			stat(func(st procStat) float64 { return st.start })),
		NewGaugeFunc(Opts{Name: "process_open_fds", Help: "Number of open file descriptors."},
			func(emit func(float64, ...string)) {
				if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
					emit(float64(len(fds)))
				}
			}),
		NewGaugeFunc(Opts{Name: "process_max_fds", Help: "Maximum number of open file descriptors."},
			func(emit func(float64, ...string)) {
				var l syscall.Rlimit
				if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil {
					emit(float64(l.Cur))
				}
			}),
	}
}

// userHZ is the unit of /proc's CPU times. It is 100 on every Linux
// architecture Go supports (the kernel's USER_HZ, not its tick rate).
const userHZ = 100

type procStat struct {
	utime, stime, vsize, rss uint64
	start                    float64 // Unix seconds
}

func readProcStat(boot func() (float64, error)) (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b, boot)
}

// parseProcStat reads proc(5)'s /proc/[pid]/stat. The command name (field 2)
// is in parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseProcStat(b []byte, boot func() (float64, error)) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errBadStat
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return procStat{}, errBadStat
	}
	u := func(field int) (uint64, error) { return strconv.ParseUint(string(f[field-3]), 10, 64) }
	var st procStat
	var start uint64
	for _, p := range []struct {
		field int
		dst   *uint64
	}{{14, &st.utime}, {15, &st.stime}, {22, &start}, {23, &st.vsize}, {24, &st.rss}} {
		v, err := u(p.field)
		if err != nil {
			return procStat{}, errBadStat
		}
		*p.dst = v
	}
	bt, err := boot()
	if err != nil {
		return procStat{}, err
	}
	st.start = bt + float64(start)/userHZ
	return st, nil
}

var errBadStat = errors.New("promtext: /proc/self/stat: unexpected format")

// bootTime is the system's boot time in Unix seconds (btime in /proc/stat).
func bootTime() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			t, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return 0, errBadStat
			}
			return float64(t), nil
		}
	}
	return 0, errBadStat
}
