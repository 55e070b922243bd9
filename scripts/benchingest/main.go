// Command benchingest measures telemetry ingestion in the local stack, in
// one process: it starts the stack on free loopback ports with a data
// folder of its own, runs the device simulator in its rate mode against
// it for -duration, waits until ingestion has drained, and reports the
// readings stored per second, what was lost or duplicated, the
// publish-to-stored latency, the peak memory, and then, in a second phase,
// the rate a bare embedded broker acknowledges with no ingestion behind it
// (the ceiling). On request (-phases) it also measures the local table
// alone. docs/bench-ingest.md explains the method and the figures.
//
//	go run ./scripts/benchingest -rate 2500 -duration 30s
//	make bench-ingest ARGS="-rate 1000 -cpuprofile ingest.pprof"
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchingest:", err)
		os.Exit(1)
	}
}

// goal is the ingestion rate the stack must sustain, with nothing lost.
const goal = 2000

// options are the command's flags.
type options struct {
	rate         float64       // messages per second over all devices
	ceilingRate  float64       // the same for the broker-only phase
	duration     time.Duration // publishing window of each phase
	phases       map[string]bool
	probeEvery   time.Duration // latency probes: one message per interval
	pollEvery    time.Duration // how often the store is asked for the probes
	drainTimeout time.Duration // how long to wait for ingestion to finish
	onDisk       bool          // the stack's DynamoDB Local keeps its tables on disk, as make run does
	cpuProfile   string        // CPU profile of the ingestion phase
	verbose      bool          // the stack's and simulator's logs on stderr
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.Float64Var(&o.rate, "rate", 2500, "telemetry messages per second over all devices")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long the simulator publishes, in each phase")
	phases := fs.String("phases", "ingest,ceiling", "what to measure, in this order: ingest (the local stack), ceiling (a bare broker, no ingestion), store (DynamoDB Local alone, as many readings as ingest is offered)")
	fs.Float64Var(&o.ceilingRate, "ceiling-rate", 0, "the rate offered to the bare broker; 0: -rate")
	fs.DurationVar(&o.probeEvery, "probe-every", 20*time.Millisecond, "latency sampling: one published message per interval is looked for in the store")
	fs.DurationVar(&o.pollEvery, "poll-every", 10*time.Millisecond, "how often the store is asked for the sampled messages (the latency's resolution)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 3*time.Minute, "how long to wait, after publishing, for ingestion to finish")
	fs.BoolVar(&o.onDisk, "dynamodb-on-disk", false, "the stack's DynamoDB Local keeps its tables on disk (SQLite files), as make run does, rather than in memory")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the ingestion phase to this file (go tool pprof)")
	fs.BoolVar(&o.verbose, "v", false, "log what the stack and the simulator log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	o.phases = map[string]bool{}
	for p := range strings.SplitSeq(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "ingest", "ceiling", "store":
			o.phases[p] = true
		default:
			return fmt.Errorf("-phases: %q is not ingest, ceiling or store", p)
		}
	}
	if o.ceilingRate == 0 {
		o.ceilingRate = o.rate
	}
	switch {
	case !(o.rate > 0) || !(o.ceilingRate > 0) || o.rate > 1e6 || o.ceilingRate > 1e6:
		return errors.New("-rate and -ceiling-rate must be over 0 and at most 1e6")
	case o.duration <= 0, o.probeEvery <= 0, o.pollEvery <= 0, o.drainTimeout <= 0:
		return errors.New("-duration, -probe-every, -poll-every and -drain-timeout must be over 0")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := describeMachine()
	fmt.Fprintf(stdout, "bench-ingest: %g msgs/s offered for %s; %s\n", o.rate, o.duration, m)
	var in *ingestResult
	if o.phases["ingest"] {
		r, err := measureIngest(ctx, o, stderr)
		if err != nil {
			return err
		}
		r.write(stdout)
		in = &r
	}
	var ceil *ceilingResult
	if o.phases["ceiling"] {
		r, err := measureCeiling(ctx, o, stderr)
		if err != nil {
			return err
		}
		r.write(stdout)
		ceil = &r
	}
	if o.phases["store"] {
		r, err := measureStore(ctx, o, stderr)
		if err != nil {
			return err
		}
		r.write(stdout)
	}
	if in != nil {
		writeVerdict(stdout, o, *in, ceil)
	}
	fmt.Fprintf(stdout, "load average at the end: %s\n", loadAverage())
	return nil
}

// writeVerdict says whether the goal is met: at least goal readings per
// second stored while publishing went on, and none lost.
func writeVerdict(w io.Writer, o options, in ingestResult, ceil *ceilingResult) {
	sustained := in.sustained()
	var why []string
	if o.rate < goal {
		why = append(why, fmt.Sprintf("offered %g/s, below the goal", o.rate))
	}
	if sustained < goal {
		why = append(why, fmt.Sprintf("%.0f readings/s written while publishing", sustained))
	}
	switch {
	case in.lost > 0 && in.drainTimedOut:
		why = append(why, fmt.Sprintf("%d still not stored %s after publishing stopped", in.lost, o.drainTimeout))
	case in.lost > 0:
		why = append(why, fmt.Sprintf("%d lost", in.lost))
	}
	if in.stats.Pending > 0 || in.stats.Failed > 0 {
		why = append(why, fmt.Sprintf("%d never acknowledged", in.stats.Pending+in.stats.Failed))
	}
	if len(why) == 0 {
		fmt.Fprintf(w, "goal (%d readings/s stored, sustained, none lost): met (%.0f/s written while publishing, %.0f/s stored over the window)\n",
			goal, sustained, in.storedRate())
		return
	}
	fmt.Fprintf(w, "goal (%d readings/s stored, sustained, none lost): not met: %s", goal, why[0])
	for _, s := range why[1:] {
		fmt.Fprintf(w, "; %s", s)
	}
	if ceil != nil {
		fmt.Fprintf(w, " (the bare broker acknowledged %.0f/s)", ceil.ackedRate())
	}
	fmt.Fprintln(w)
}
