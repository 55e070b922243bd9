package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/local/simulator"
	"github.com/plainview/serverless/shared/local/stack"
	"github.com/plainview/serverless/shared/testkit/cpuclock"
)

// table is the local stack's table for the bench.
const table = "plainview"

// drainIdle is how long the drain waits with nothing written before it
// takes ingestion for finished: longer than a compaction of a large
// table's journal holds the store's writes.
const drainIdle = 10 * time.Second

// ingestResult is what the ingestion phase measured.
type ingestResult struct {
	pollEvery time.Duration
	onDisk    bool
	offered   float64

	window        time.Duration   // publishing window
	stats         simulator.Stats // after the simulator stopped
	ackedInWindow int64

	observed, unknown int64 // messages the observer received, and could not place
	distinct          int   // distinct readings among them

	cpu             cpuclock.Times // spent from the first publish to the end of the drain: ours (this process: simulator, broker, rules, ingest) and DynamoDB Local's
	written         int64          // ReadingsStored, summed (overwrites included)
	writtenInWindow int64          // of those, by the end of the window
	lastWrite       time.Duration  // after the window ended
	drainTimedOut   bool
	drainIdle       bool // nothing written for drainIdle, with messages still unwritten

	stored, storedDistinct int // readings in the table, new in this run
	lost                   int // observed, not stored
	notObserved            int // stored, never observed
	deadLetters            int

	latency, delivery, rounds quantiles
	unresolved, probeErrs     int
	probeErr                  error

	usage    usage
	timeline []bucket
	logs     *logCounter
}

// bucket is a stretch of the run: what was acknowledged and written in it.
type bucket struct {
	from, to         time.Duration
	acked, written   int64
	afterPublication bool
}

func ackedCount(s simulator.Stats) int64 { return s.Telemetry + s.Pressure }

func (r ingestResult) sustained() float64 {
	return float64(r.writtenInWindow) / r.window.Seconds()
}

func (r ingestResult) storedRate() float64 { return float64(r.stored) / r.window.Seconds() }

// measureIngest runs the local stack and the simulator against it.
func measureIngest(ctx context.Context, o options, stderr io.Writer) (res ingestResult, err error) {
	res.offered, res.pollEvery, res.onDisk = o.rate, o.pollEvery, o.onDisk
	dir, err := os.MkdirTemp("", "benchingest-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	res.logs = newLogCounter(o.verbose, stderr)
	logger := slog.New(res.logs)
	st, err := stack.Start(ctx, stack.Config{
		DynamoAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: dir, TableName: table, Version: "bench", Logger: logger,
		DisableThrottling: true, DynamoInMemory: !o.onDisk,
	})
	if err != nil {
		return res, fmt.Errorf("local stack: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("local stack: close: %w", cerr)
		}
	}()
	defer res.logs.freeze() // before Close
	db := store.NewClient(store.LocalConfig(), st.DynamoURL)
	before, err := storedIDs(ctx, db)
	if err != nil {
		return res, err
	}
	deadBefore, err := countDeadLetters(ctx, db)
	if err != nil {
		return res, err
	}

	var inventory []domain.Device
	var devices []simulator.Device
	for _, d := range st.Devices {
		inventory = append(inventory, d.Device)
		devices = append(devices, simulator.Device{ID: d.ID, Kind: d.Kind, Asset: d.Asset, Token: d.Token})
	}
	obs, err := observe(st.MQTTURL, st.Operator.Username, st.Operator.Password, inventory, o.probeEvery)
	if err != nil {
		return res, err
	}
	defer obs.close()
	cpuBefore := cpuclock.Read(st.DynamoPID())
	// The stack acknowledges a message once it is stored, so what the
	// devices still hold when the window ends takes a while to be
	// acknowledged: they wait for it, within the drain's bound, rather than
	// disconnect with messages stored but unacknowledged (which the count
	// check would show as more stored than acknowledged).
	sim, err := simulator.New(simulator.Options{URL: st.MQTTURL, Devices: devices, Rate: o.rate, Logger: logger,
		DrainTimeout: o.drainTimeout})
	if err != nil {
		return res, err
	}
	tail := &metricsTail{path: filepath.Join(dir, "metrics.log")}
	if err := tail.read(); err != nil {
		return res, err
	}
	tail.points, tail.total = nil, 0 // the seed's, if any

	var profile *os.File
	if o.cpuProfile != "" {
		if profile, err = os.Create(o.cpuProfile); err != nil {
			return res, err
		}
		if err := pprof.StartCPUProfile(profile); err != nil {
			profile.Close()
			return res, err
		}
	}
	stopProfile := func() error {
		if profile == nil {
			return nil
		}
		pprof.StopCPUProfile()
		err := profile.Close()
		profile = nil
		return err
	}
	defer stopProfile()

	m := startMeter()
	pr := newProber(db, table, obs, o.pollEvery)
	probeStop := make(chan struct{})
	var probing sync.WaitGroup
	probing.Go(func() { pr.run(ctx, probeStop) })

	// Publish for the window, noting what was acknowledged every second.
	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Run(runCtx) }()
	acked := []sample{{0, 0}}
	tick := time.NewTicker(time.Second)
publishing:
	for {
		select {
		case <-runCtx.Done():
			break publishing
		case <-tick.C:
			acked = append(acked, sample{time.Since(start), ackedCount(sim.Stats())})
		}
	}
	tick.Stop()
	windowEnd := time.Now()
	res.window = windowEnd.Sub(start)
	res.ackedInWindow = ackedCount(sim.Stats())
	acked = append(acked, sample{res.window, res.ackedInWindow})
	if err := <-simDone; err != nil { // it waits up to -drain-timeout for pending acknowledgements
		return res, err
	}
	res.stats = sim.Stats()
	acked = append(acked, sample{time.Since(start), ackedCount(res.stats)})
	if ctx.Err() != nil {
		return res, ctx.Err()
	}

	// Drain: until every message observed has been written, or nothing
	// has been written for drainIdle.
	time.Sleep(200 * time.Millisecond) // the observer's last deliveries
	messages, _, _ := obs.counts()
	lastChange, lastTotal := time.Now(), int64(-1)
	for {
		if err := tail.read(); err != nil {
			return res, err
		}
		if tail.total != lastTotal {
			lastChange, lastTotal = time.Now(), tail.total
		}
		if tail.total >= messages {
			break
		}
		if time.Since(lastChange) > drainIdle {
			res.drainIdle = true
			break
		}
		if time.Since(windowEnd) > o.drainTimeout {
			res.drainTimedOut = true
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	close(probeStop)
	probing.Wait()
	if err := stopProfile(); err != nil {
		return res, err
	}
	res.usage = m.stop()
	res.cpu = cpuclock.Read(st.DynamoPID()).Sub(cpuBefore)

	// What was stored, against what was observed.
	res.observed, res.unknown, res.distinct = obs.counts()
	res.written = tail.total
	for _, p := range tail.points {
		if !p.at.After(windowEnd) {
			res.writtenInWindow += p.n
		}
		if d := p.at.Sub(windowEnd); d > res.lastWrite {
			res.lastWrite = d
		}
	}
	after, err := storedIDs(ctx, db)
	if err != nil {
		return res, err
	}
	old := map[string]int{}
	for _, id := range before {
		old[id]++
	}
	stored := map[string]int{}
	for _, id := range after {
		if old[id] > 0 {
			old[id]--
			continue
		}
		stored[id]++
		res.stored++
	}
	res.storedDistinct = len(stored)
	expected := obs.expected()
	for id := range expected {
		if stored[id] == 0 {
			res.lost++
		}
	}
	for id := range stored {
		if _, ok := expected[id]; !ok {
			res.notObserved++
		}
	}
	deadAfter, err := countDeadLetters(ctx, db)
	if err != nil {
		return res, err
	}
	res.deadLetters = deadAfter - deadBefore

	res.latency, res.delivery, res.rounds = quantilesOf(pr.latencies), quantilesOf(pr.delivery), quantilesOf(pr.rounds)
	res.unresolved, res.probeErrs, res.probeErr = len(pr.pending), pr.errs, pr.lastErr
	res.timeline = timeline(start, res.window, acked, tail.points)
	return res, nil
}

// sample is the acknowledged count at a time into the run.
type sample struct {
	at    time.Duration
	acked int64
}

// ackedAt interpolates the acknowledged count at t.
func ackedAt(s []sample, t time.Duration) int64 {
	for i := 1; i < len(s); i++ {
		if s[i].at >= t {
			a, b := s[i-1], s[i]
			if b.at == a.at {
				return b.acked
			}
			return a.acked + int64(float64(b.acked-a.acked)*float64(t-a.at)/float64(b.at-a.at))
		}
	}
	return s[len(s)-1].acked
}

// timeline cuts the window into about six stretches, and what came
// after it, while writes went on, into stretches as long.
func timeline(start time.Time, window time.Duration, acked []sample, written []point) []bucket {
	step := max(time.Second, (window / 6).Round(time.Second))
	var edges []time.Duration
	for t := time.Duration(0); t < window; t += step {
		edges = append(edges, t)
	}
	if n := len(edges); n > 1 && window-edges[n-1] < step/2 {
		edges = edges[:n-1] // a short last stretch joins the one before
	}
	edges = append(edges, window)
	end := window
	for _, p := range written {
		end = max(end, p.at.Sub(start))
	}
	for t := window; t < end; {
		t += step
		edges = append(edges, t)
	}
	out := make([]bucket, 0, len(edges)-1)
	for i := 1; i < len(edges); i++ {
		b := bucket{from: edges[i-1], to: edges[i], afterPublication: edges[i-1] >= window}
		if !b.afterPublication {
			b.acked = ackedAt(acked, b.to) - ackedAt(acked, b.from)
		}
		last := i == len(edges)-1
		for _, p := range written {
			if at := p.at.Sub(start); at >= b.from && (at < b.to || last && at == b.to) {
				b.written += p.n
			}
		}
		out = append(out, b)
	}
	return out
}

// point is one ReadingsStored metric: n readings written at a time.
type point struct {
	at time.Time
	n  int64
}

// metricsTail reads the ingest function's ReadingsStored metrics from the
// stack's EMF log as it grows: a count of readings written, with the time
// each batch was written, at no cost to the table.
type metricsTail struct {
	path   string
	off    int64
	rest   []byte
	points []point
	total  int64
}

func (t *metricsTail) read() error {
	f, err := os.Open(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("metrics log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return fmt.Errorf("metrics log: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("metrics log: %w", err)
	}
	t.off += int64(len(b))
	data := append(t.rest, b...)
	for {
		line, more, ok := bytes.Cut(data, []byte("\n"))
		if !ok {
			break
		}
		data = more
		if !bytes.Contains(line, []byte(`"ReadingsStored"`)) {
			continue
		}
		var doc struct {
			AWS struct {
				Timestamp int64 `json:"Timestamp"`
			} `json:"_aws"`
			ReadingsStored float64 `json:"ReadingsStored"`
		}
		if err := json.Unmarshal(line, &doc); err != nil {
			return fmt.Errorf("metrics log: %w", err)
		}
		p := point{at: time.UnixMilli(doc.AWS.Timestamp), n: int64(doc.ReadingsStored)}
		t.points = append(t.points, p)
		t.total += p.n
	}
	t.rest = append([]byte(nil), data...)
	return nil
}

// storedIDs lists the id of every stored reading, as many times as it
// is stored (store.StoredReadingIDs: the fleet blocks).
func storedIDs(ctx context.Context, db *dynamodb.Client) ([]string, error) {
	ids, err := store.New(db, table, nil).StoredReadingIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("count readings: %w", err)
	}
	return ids, nil
}

// countDeadLetters counts the dead letters (DEADLETTERS).
func countDeadLetters(ctx context.Context, db *dynamodb.Client) (int, error) {
	n := 0
	var startKey map[string]types.AttributeValue
	for {
		out, err := db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(table),
			KeyConditionExpression:    aws.String("pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "DEADLETTERS"}},
			ProjectionExpression:      aws.String("#sk"),
			ExpressionAttributeNames:  map[string]string{"#sk": "sk"},
			ExclusiveStartKey:         startKey,
		})
		if err != nil {
			return 0, fmt.Errorf("count dead letters: %w", err)
		}
		n += len(out.Items)
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		startKey = out.LastEvaluatedKey
	}
}

func (r ingestResult) write(w io.Writer) {
	db := "DynamoDB Local in memory"
	if r.onDisk {
		db = "DynamoDB Local on disk"
	}
	fmt.Fprintf(w, "\ningestion: the local stack (broker, rules engine, telemetry stream, ingest, %s)\n", db)
	s := r.stats
	fmt.Fprintf(w, "  acknowledged:       %d (%.0f/s over the %.1f s window; %d by its end); pending %d, failed %d, reconnects %d\n",
		ackedCount(s), float64(ackedCount(s))/r.window.Seconds(), r.window.Seconds(), r.ackedInWindow, s.Pending, s.Failed, s.Reconnects)
	fmt.Fprintf(w, "  observed:           %d messages by the operator's subscription (%d not placed); %d distinct readings, %d byte-identical to another (a resend, or the same device, ms and values: one reading by design)\n",
		r.observed, r.unknown, r.distinct, r.observed-r.unknown-int64(r.distinct))
	fmt.Fprintf(w, "  stored:             %d readings: %.0f/s over the window (stored ÷ window); %.0f/s over publishing and draining (%.1f s)\n",
		r.stored, r.storedRate(), float64(r.stored)/(r.window+r.lastWrite).Seconds(), (r.window + r.lastWrite).Seconds())
	fmt.Fprintf(w, "  CPU per reading:    %s in this process (simulator + broker + rules + ingest: ours, and the devices'), %s in DynamoDB Local (the store)\n",
		cpuclock.PerItem(r.cpu.Self, r.stored), cpuclock.PerItem(r.cpu.Other, r.stored))
	fmt.Fprintf(w, "  written:            %d while publishing: %.0f/s sustained; the last write %.2f s after publishing stopped\n",
		r.writtenInWindow, r.sustained(), r.lastWrite.Seconds())
	lost := "observed, not stored"
	switch {
	case r.drainTimedOut:
		lost = "observed, not stored when -drain-timeout ran out: ingestion was still going"
	case r.drainIdle:
		lost = fmt.Sprintf("observed, not stored, nothing written for %s", drainIdle)
	}
	fmt.Fprintf(w, "  lost:               %d (%s)\n", r.lost, lost)
	fmt.Fprintf(w, "  duplicated:         %d (stored more than once); %d stored that the observer never saw\n",
		r.stored-r.storedDistinct, r.notObserved)
	fmt.Fprintf(w, "  dead letters:       %d\n", r.deadLetters)
	fmt.Fprintf(w, "  count check:        acknowledged %d − byte-identical %d − stored %d = %d\n",
		ackedCount(s), r.observed-r.unknown-int64(r.distinct), r.stored, ackedCount(s)-(r.observed-r.unknown-int64(r.distinct))-int64(r.stored))
	fmt.Fprintf(w, "  publish→stored:     %s; %d probes never found\n", r.latency, r.unresolved)
	fmt.Fprintf(w, "                      (ts in the payload to the first poll that found it; polls every %s took %s; publish→observed %s)\n",
		r.pollEvery, roundTrip(r.rounds), r.delivery)
	if r.probeErrs > 0 {
		fmt.Fprintf(w, "  probe errors:       %d, the last: %v\n", r.probeErrs, r.probeErr)
	}
	r.usage.write(w)
	r.logs.write(w)
	fmt.Fprintln(w, "  timeline (per second):   acked  written")
	for _, b := range r.timeline {
		secs := (b.to - b.from).Seconds()
		if b.afterPublication {
			fmt.Fprintf(w, "    %5.0f–%-5.0f s       %6s   %6.0f\n", b.from.Seconds(), b.to.Seconds(), "-", float64(b.written)/secs)
			continue
		}
		fmt.Fprintf(w, "    %5.0f–%-5.0f s       %6.0f   %6.0f\n", b.from.Seconds(), b.to.Seconds(), float64(b.acked)/secs, float64(b.written)/secs)
	}
}

func roundTrip(q quantiles) string {
	if q.n == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", float64(q.p50)/float64(time.Millisecond), float64(q.p99)/float64(time.Millisecond))
}
