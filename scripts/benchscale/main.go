// Command benchscale measures how the API's answers grow with the fleet:
// it starts the local stack (DynamoDB Local in memory), seeds valves and
// sections through the API and readings through MQTT (Basic Ingest, as
// devices send them), and prints each GET route's median time over n
// requests at each size, with the stack's memory: the table of issue 17,
// rerunnable (make bench-scale; docs/PERFORMANCE.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	valves, readings []int // the sizes, ascending
	sectionsPer      int   // one section per this many valves
	requests         int   // per route and size
	readingDevices   int   // devices that send the readings
	rate             float64
	mqtt             int // readings sent through MQTT at most; the rest are written by ingest directly
	verbose          bool
}

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("benchscale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	valves := fs.String("valves", "3,3000", "fleet sizes, ascending: valves in service (the seed's 3 included)")
	readings := fs.String("readings", "0,5000", "readings stored at the largest fleet, ascending; each sent through MQTT (500000 is the issue's size: see -rate)")
	sectionsPer := fs.Int("sections-per", 30, "one pipeline section (and its gauge) per this many valves added")
	requests := fs.Int("n", 20, "requests per route and size; the median is reported")
	readingDevices := fs.Int("reading-devices", 100, "how many devices send the readings (each one connection)")
	rate := fs.Float64("rate", 300, "readings per second offered over all reading devices; the broker acknowledges each once stored, so the stored rate is what DynamoDB Local takes")
	mqtt := fs.Int("mqtt", 20000, "readings sent through MQTT at most (it stores 50-125 a second here); beyond them, ingest's batch handling writes them in the telemetry stream's batches, skipping only the broker and the stream")
	verbose := fs.Bool("v", false, "log the stack's lines to stderr")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	o := options{sectionsPer: *sectionsPer, requests: *requests, readingDevices: *readingDevices, rate: *rate, mqtt: *mqtt, verbose: *verbose}
	var err error
	if o.valves, err = sizes("-valves", *valves, 3); err != nil {
		return o, err
	}
	if o.readings, err = sizes("-readings", *readings, 0); err != nil {
		return o, err
	}
	switch {
	case o.sectionsPer < 1:
		return o, errors.New("-sections-per must be 1 or more")
	case o.requests < 1 || o.requests > 1000:
		return o, errors.New("-n must be from 1 to 1000")
	case o.readingDevices < 1:
		return o, errors.New("-reading-devices must be 1 or more")
	case o.rate <= 0:
		return o, errors.New("-rate must be over 0")
	case o.mqtt < 0:
		return o, errors.New("-mqtt must be 0 or more")
	}
	return o, nil
}

// sizes parses an ascending, comma-separated list of counts of at least min.
func sizes(name, s string, min int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < min || n > 10_000_000 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("%s %q: ascending counts from %d", name, s, min)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	b, err := startBench(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	var cols []column
	measure := func(label string) error {
		fmt.Fprintf(stderr, "measuring at %s\n", label)
		c, err := b.measure(ctx, label, o.requests)
		cols = append(cols, c)
		return err
	}
	for _, n := range o.valves {
		if err := b.seedValves(ctx, n, o.sectionsPer); err != nil {
			return err
		}
		if err := measure(fmt.Sprintf("%d valves", n)); err != nil {
			return err
		}
	}
	for _, n := range o.readings {
		if n == 0 {
			continue
		}
		start := time.Now()
		sent, err := b.seedReadings(ctx, min(n, o.mqtt), o)
		if err != nil {
			return err
		}
		if sent > 0 {
			b.notes = append(b.notes, fmt.Sprintf("readings: %d stored through MQTT (Basic Ingest, QoS 1, acknowledged once stored) in %s: %.0f readings/s",
				sent, time.Since(start).Round(time.Second), float64(sent)/time.Since(start).Seconds()))
		}
		if n > b.readings {
			start, want := time.Now(), n-b.readings
			if err := b.backfill(ctx, want, o); err != nil {
				return err
			}
			b.notes = append(b.notes, fmt.Sprintf("readings: %d written by ingest's batch handling (stream batches of 5 readings from each of %d devices, no broker) in %s: %.0f readings/s",
				want, o.readingDevices, time.Since(start).Round(time.Second), float64(want)/time.Since(start).Seconds()))
		}
		// Labelled with what is stored: the devices' backlog (offered
		// faster than DynamoDB Local stores) is drained, not dropped.
		if err := measure(fmt.Sprintf("+ %d readings", b.readings)); err != nil {
			return err
		}
	}
	writeTable(stdout, cols, b.notes, o)
	return nil
}
