package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// machine is what the report says about where it ran.
type machine struct {
	cpu    string
	cpus   int
	kernel string
	load   string
}

func describeMachine() machine {
	m := machine{cpu: "unknown CPU", cpus: runtime.NumCPU(), kernel: runtime.GOOS, load: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel += " " + strings.TrimSpace(string(b))
	}
	return m
}

func (m machine) String() string {
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS %d), %s, %s; load average at the start %s",
		m.cpu, m.cpus, runtime.GOMAXPROCS(0), m.kernel, runtime.Version(), m.load)
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// resetPeakRSS restarts the kernel's peak resident set (VmHWM) from the
// current one, so each phase reports its own peak. It reports whether
// the kernel allowed it.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS is the process's peak resident set (VmHWM), in bytes; 0 where
// the kernel does not say.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the CPU time every process on the machine has used since
// boot (/proc/stat: all but idle and iowait); 0 where the kernel does not
// say.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var busy uint64
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0
		}
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is in user already
			busy += n
		}
	}
	const userHZ = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return time.Duration(busy) * time.Second / userHZ
}

// usage is what a phase cost the process.
type usage struct {
	wall, cpu     time.Duration
	others        time.Duration // CPU time of every other process meanwhile
	peakRSS       uint64        // VmHWM
	rssSinceStart bool          // the kernel would not reset VmHWM: the process's peak
	peakGo        uint64        // the Go runtime's memory, less what it released, sampled
	peakHeap      uint64        // live and unswept heap objects, sampled
}

// meter measures a phase from start to stop.
type meter struct {
	start    time.Time
	cpu0     time.Duration
	busy0    time.Duration
	reset    bool
	stopped  chan struct{}
	done     sync.WaitGroup
	peakGo   atomic.Uint64
	peakHeap atomic.Uint64
}

func startMeter() *meter {
	debug.FreeOSMemory() // the last phase's garbage is not this one's
	m := &meter{reset: resetPeakRSS(), start: time.Now(), cpu0: cpuTime(), busy0: machineBusy(), stopped: make(chan struct{})}
	m.done.Go(m.sample)
	return m
}

// sample reads the Go runtime's memory every 100 ms.
func (m *meter) sample() {
	s := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"}, // mapped, but given back to the kernel
		{Name: "/memory/classes/heap/objects:bytes"},
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		if v := s[0].Value.Uint64() - s[1].Value.Uint64(); v > m.peakGo.Load() {
			m.peakGo.Store(v)
		}
		if v := s[2].Value.Uint64(); v > m.peakHeap.Load() {
			m.peakHeap.Store(v)
		}
		select {
		case <-m.stopped:
			return
		case <-t.C:
		}
	}
}

func (m *meter) stop() usage {
	close(m.stopped)
	m.done.Wait()
	cpu := cpuTime() - m.cpu0
	return usage{
		wall: time.Since(m.start), cpu: cpu, others: max(0, machineBusy()-m.busy0-cpu),
		peakRSS: peakRSS(), rssSinceStart: !m.reset,
		peakGo: m.peakGo.Load(), peakHeap: m.peakHeap.Load(),
	}
}

func (u usage) write(w io.Writer) {
	fmt.Fprintf(w, "  CPU:                %.1f s over %.1f s (%.0f%% of %d CPUs)\n",
		u.cpu.Seconds(), u.wall.Seconds(), 100*u.cpu.Seconds()/u.wall.Seconds()/float64(runtime.NumCPU()), runtime.NumCPU())
	share := u.others.Seconds() / u.wall.Seconds() / float64(runtime.NumCPU())
	quiet := ""
	if share > 0.1 {
		quiet = ": the machine was not quiet, the figures may be low"
	}
	fmt.Fprintf(w, "  other processes:    %.1f s of CPU meanwhile (%.0f%% of %d CPUs)%s\n",
		u.others.Seconds(), 100*share, runtime.NumCPU(), quiet)
	since := "this phase"
	if u.rssSinceStart {
		since = "the process so far"
	}
	fmt.Fprintf(w, "  peak memory:        %s resident (VmHWM, %s); Go runtime %s in use, heap objects %s (sampled every 100 ms)\n",
		mib(u.peakRSS), since, mib(u.peakGo), mib(u.peakHeap))
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// logCounter is the stack's and the simulator's log: warnings and errors
// are counted and the first few kept for the report; with -v every line
// goes to stderr as well.
type logCounter struct {
	shared *logCounts
	next   slog.Handler // nil: nothing printed
}

type logCounts struct {
	n      atomic.Int64
	frozen atomic.Bool // measuring is over: shutdown's lines are not counted
	mu     sync.Mutex
	first  []string
}

func newLogCounter(verbose bool, stderr io.Writer) *logCounter {
	h := &logCounter{shared: &logCounts{}}
	if verbose {
		h.next = slog.NewTextHandler(stderr, nil)
	}
	return h
}

func (h *logCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next != nil && h.next.Enabled(ctx, l)
}

func (h *logCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && !h.shared.frozen.Load() {
		if h.shared.n.Add(1) <= 3 {
			var b bytes.Buffer
			_ = slog.NewTextHandler(&b, nil).Handle(ctx, r)
			h.shared.mu.Lock()
			h.shared.first = append(h.shared.first, strings.TrimSpace(b.String()))
			h.shared.mu.Unlock()
		}
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *logCounter) WithAttrs(as []slog.Attr) slog.Handler {
	c := &logCounter{shared: h.shared}
	if h.next != nil {
		c.next = h.next.WithAttrs(as)
	}
	return c
}

func (h *logCounter) WithGroup(name string) slog.Handler {
	c := &logCounter{shared: h.shared}
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return c
}

// freeze stops counting: what is logged from now on is not the run's.
func (h *logCounter) freeze() { h.shared.frozen.Store(true) }

func (h *logCounter) write(w io.Writer) {
	n := h.shared.n.Load()
	if n == 0 {
		fmt.Fprintln(w, "  warnings logged:    0")
		return
	}
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	fmt.Fprintf(w, "  warnings logged:    %d, the first:\n", n)
	for _, l := range h.shared.first {
		fmt.Fprintf(w, "    %s\n", l)
	}
}
