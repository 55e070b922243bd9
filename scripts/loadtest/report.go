package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// The goal of issue 7 for the mixed workload on the 2-core machine.
const (
	goalRate = 1000                  // requests per second
	goalP99  = 50 * time.Millisecond // 99th percentile latency
)

// summary is one phase's figures.
type summary struct {
	name     string
	elapsed  time.Duration
	all      stats
	byKind   map[string]stats
	statuses map[int]int
	intended map[int]int
	errors   int
	samples  []string // the first few errors
}

type stats struct {
	n                  int
	p50, p95, p99, max time.Duration
}

func summarise(name string, rs []result, elapsed time.Duration) summary {
	s := summary{name: name, elapsed: elapsed, byKind: map[string]stats{}, statuses: map[int]int{}, intended: map[int]int{}}
	by := map[string][]time.Duration{}
	var all []time.Duration
	for _, r := range rs {
		all = append(all, r.latency)
		by[r.kind] = append(by[r.kind], r.latency)
		s.statuses[r.status]++
		switch {
		case r.intended:
			s.intended[r.status]++
		case r.problem != "":
			s.errors++
			if len(s.samples) < 5 {
				s.samples = append(s.samples, r.problem)
			}
		}
	}
	s.all = percentiles(all)
	for k, d := range by {
		s.byKind[k] = percentiles(d)
	}
	return s
}

// percentiles by the nearest-rank method on the sorted latencies.
func percentiles(d []time.Duration) stats {
	if len(d) == 0 {
		return stats{}
	}
	slices.Sort(d)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.999999) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return stats{n: len(d), p50: at(0.50), p95: at(0.95), p99: at(0.99), max: d[len(d)-1]}
}

func (s summary) rate(n int) float64 { return float64(n) / s.elapsed.Seconds() }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func (s summary) write(w io.Writer) {
	fmt.Fprintf(w, "\n%s: %d requests in %s\n", s.name, s.all.n, s.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  %-9s %9s %10s %10s %10s %10s %10s\n", "kind", "requests", "req/s", "p50", "p95", "p99", "max")
	row := func(name string, st stats) {
		fmt.Fprintf(w, "  %-9s %9d %10.0f %10s %10s %10s %10s\n", name, st.n, s.rate(st.n), ms(st.p50), ms(st.p95), ms(st.p99), ms(st.max))
	}
	row("all", s.all)
	for _, k := range kinds {
		if st, ok := s.byKind[k]; ok {
			row(k, st)
		}
	}
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(s.statuses)) {
		label := fmt.Sprint(code)
		if code == 0 {
			label = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", label, s.statuses[code]))
	}
	fmt.Fprintf(w, "  statuses: %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(w, "  intended: %d × 409 actuation_in_progress, %d × 429 throttled\n", s.intended[409], s.intended[429])
	fmt.Fprintf(w, "  errors:   %d\n", s.errors)
	for _, e := range s.samples {
		fmt.Fprintf(w, "    %s\n", e)
	}
}

// writeVerdict compares the stack's phase with the goal, which is set for
// the default mix only.
func writeVerdict(w io.Writer, m mix, s summary, ceiling *summary) {
	rate := s.rate(s.all.n)
	var why []string
	if rate < goalRate {
		why = append(why, fmt.Sprintf("%.0f req/s", rate))
	}
	if s.all.p99 >= goalP99 {
		why = append(why, "p99 "+ms(s.all.p99))
	}
	if s.errors > 0 {
		why = append(why, fmt.Sprintf("%d errors", s.errors))
	}
	goal := fmt.Sprintf("goal (%d req/s on the mixed workload, p99 under %s, no errors but the intended 409/429)", goalRate, ms(goalP99))
	switch {
	case m != defaultMix:
		fmt.Fprintf(w, "\n%s: not judged: this run's mix is not the goal's (%s)\n", goal, defaultMixFlag)
	case len(why) == 0:
		fmt.Fprintf(w, "\n%s: met (%.0f req/s, p99 %s)\n", goal, rate, ms(s.all.p99))
	default:
		fmt.Fprintf(w, "\n%s: not met: %s\n", goal, strings.Join(why, "; "))
	}
	if ceiling != nil {
		fmt.Fprintf(w, "the gateway alone (no-op handler) served %.0f req/s, p99 %s: the stack reached %.0f %% of it\n",
			ceiling.rate(ceiling.all.n), ms(ceiling.all.p99), 100*rate/ceiling.rate(ceiling.all.n))
	}
}
