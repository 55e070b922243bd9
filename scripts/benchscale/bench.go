package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/local/simulator"
	"github.com/plainview/serverless/shared/local/stack"
)

// bench is a running local stack and what was seeded into it.
type bench struct {
	st     *stack.Stack
	dir    string
	key    string
	client *http.Client
	valves int // in service, the seed's included
	// sections added so far, and the id of the last valve added.
	sections, added int
	readings        int // stored through MQTT so far
	notes           []string
}

func startBench(ctx context.Context, o options, stderr io.Writer) (*bench, error) {
	dir, err := os.MkdirTemp("", "benchscale-")
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	key := "pv_bench_" + hex.EncodeToString(secret)
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	st, err := stack.Start(ctx, stack.Config{
		DynamoAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: dir, TableName: "benchscale", Version: "bench", Logger: logger,
		DisableThrottling: true, DynamoInMemory: true, DevAPIKey: key,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("local stack: %w", err)
	}
	return &bench{st: st, dir: dir, key: key, client: &http.Client{Timeout: time.Minute}, valves: 3}, nil
}

func (b *bench) close() {
	if err := b.st.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "benchscale: closing the stack:", err)
	}
	os.RemoveAll(b.dir)
}

// seedValves registers valves through POST /valves until n are in
// service, and a section through POST /pipeline/sections per sectionsPer
// valves added, eight requests at a time.
func (b *bench) seedValves(ctx context.Context, n, sectionsPer int) error {
	var reqs []func() error
	for b.valves < n {
		b.valves++
		b.added++
		id := fmt.Sprintf("v-%05d", b.added)
		reqs = append(reqs, func() error {
			return b.post(ctx, "/valves", fmt.Sprintf(`{"id":%q,"name":"Bench valve %s","location":"km %d"}`, id, id, b.added))
		})
		if b.added%sectionsPer == 0 {
			b.sections++
			name := fmt.Sprintf("S-%04d", b.sections)
			reqs = append(reqs, func() error {
				return b.post(ctx, "/pipeline/sections", fmt.Sprintf(`{"section":%q,"location":"bench"}`, name))
			})
		}
	}
	start := time.Now()
	if err := parallel(8, reqs); err != nil {
		return err
	}
	if len(reqs) > 0 {
		b.notes = append(b.notes, fmt.Sprintf("inventory: %d valves and sections registered through the API in %s (8 at a time)",
			len(reqs), time.Since(start).Round(time.Second)))
	}
	return nil
}

func (b *bench) post(ctx context.Context, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.st.APIURL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", b.key)
	res, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %d %s", path, res.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// parallel runs jobs, workers at a time, and returns the first error.
func parallel(workers int, jobs []func() error) error {
	ch := make(chan func() error)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				if err := j(); err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// seedReadings has the first readingDevices valves of the inventory send
// telemetry through Basic Ingest until n readings are stored in all.
// The broker acknowledges a reading only once it is stored, so the
// simulator's count of acknowledged messages is the stored count.
func (b *bench) seedReadings(ctx context.Context, n int, o options) (int, error) {
	logins, err := b.st.SyncDevices(ctx)
	if err != nil {
		return 0, err
	}
	var devices []simulator.Device
	for _, d := range logins {
		if d.Kind == "valve" && len(devices) < o.readingDevices {
			devices = append(devices, simulator.Device{ID: d.ID, Kind: d.Kind, Asset: d.Asset, Token: d.Token})
		}
	}
	stored := b.storedReadings()
	want := int64(n - stored)
	if want <= 0 {
		return 0, nil
	}
	sim, err := simulator.New(simulator.Options{URL: b.st.MQTTURL, Devices: devices, Rate: o.rate,
		TelemetryRule: topics.RuleName(stack.Environment, topics.TelemetryRule), DrainTimeout: time.Minute})
	if err != nil {
		return 0, err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sim.Run(runCtx) }()
	for sim.Stats().Telemetry < want && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil && ctx.Err() == nil {
		return 0, fmt.Errorf("simulator: %w", err)
	}
	sent := sim.Stats().Telemetry
	b.readings += int(sent)
	return int(sent), ctx.Err()
}

func (b *bench) storedReadings() int { return b.readings }

// backfill writes n more readings of the first readingDevices valves
// through ingest's batch handling (ingest.Service.HandleBatch, what the
// ingest function runs for a batch of the telemetry stream), over the
// stack's table: five readings a second apart from each device a batch,
// as the stream gathers them, ending now. Only the broker and the stream
// are skipped, which store 50-125 readings a second here: half a million
// through MQTT would take hours.
func (b *bench) backfill(ctx context.Context, n int, o options) error {
	logins, err := b.st.SyncDevices(ctx)
	if err != nil {
		return err
	}
	var devices []stack.DeviceLogin
	for _, d := range logins {
		if d.Kind == domain.DeviceValve && len(devices) < o.readingDevices {
			devices = append(devices, d)
		}
	}
	if len(devices) == 0 {
		return errors.New("backfill: no valve devices")
	}
	notes := notify.NewLog(slog.New(slog.DiscardHandler))
	svc := ingest.New(b.st.Store, leaks.New(b.st.Store, notes, nil, nil), notes, nil, time.Now, nil).WithAnomalies(b.st.Store)
	const each = 5
	per := (n + len(devices) - 1) / len(devices) // readings a device
	first := time.Now().Add(-time.Duration(per) * time.Second).Truncate(time.Second)
	written := 0
	for r := 0; r < per && written < n; r += each {
		var batch []topics.Message
		for i := r; i < min(r+each, per); i++ {
			for j, d := range devices {
				if written+len(batch) == n {
					break
				}
				at := first.Add(time.Duration(i)*time.Second + time.Duration(j)*time.Millisecond)
				payload := fmt.Appendf(nil, `{"ts":%.3f,"temperature_c":%.2f,"pressure_pa":%d,"flow_rate_lpm":%.1f,"torque_nm":0}`,
					float64(at.UnixMilli())/1000, 40+float64((i+j)%50)/10, 2_000_000+(i*7+j)%200_000, 900+float64((i+j)%200))
				batch = append(batch, topics.NewMessage(topics.TelemetryOf(d.ID), d.ID, payload, at.UnixMilli()))
			}
		}
		if failed := svc.HandleBatch(ctx, batch); len(failed) > 0 {
			return fmt.Errorf("backfill: %d of a batch of %d not stored", len(failed), len(batch))
		}
		written += len(batch)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	b.readings += written
	return nil
}

// route is one GET of the table.
type route struct{ name, path string }

// routes are the GET routes measured: every read route of the table with
// the seed's ids, and the telemetry queries of issue 17.
func routes() []route {
	return []route{
		{"GET /valves", "/valves"},
		{"GET /valves?limit=50", "/valves?limit=50"},
		{"GET /valves/{id}", "/valves/v-101"},
		{"GET /valves/{id}/health", "/valves/v-101/health"},
		{"GET /valves/{id}/actuations", "/valves/v-101/actuations"},
		{"GET /incidents", "/incidents"},
		{"GET /incidents/health", "/incidents/health"},
		{"GET /pipeline/alerts", "/pipeline/alerts"},
		{"GET /pipeline/health", "/pipeline/health"},
		{"GET /pipeline/sections/{section}", "/pipeline/sections/A-North"},
		{"GET /events?limit=50", "/events?limit=50"},
		{"GET /flow/health", "/flow/health"},
		{"GET /flow/metrics", "/flow/metrics"},
		{"GET /flow/anomalies", "/flow/anomalies"},
		{"GET /telemetry (limit 50)", "/telemetry?limit=50"},
		{"GET /telemetry?device=v-00001", "/telemetry?device=v-00001&limit=50"},
		{"GET /telemetry?metric=kpa", "/telemetry?metric=kpa&limit=50"},
	}
}

// column is one size's measurements.
type column struct {
	label    string
	median   map[string]time.Duration
	bytes    map[string]int
	statuses map[string]string // the statuses seen, when not all 200
	rss      string
}

// measure requests each route n times, alternating the routes (a busy
// machine slows them alike), and keeps each one's median.
func (b *bench) measure(ctx context.Context, label string, n int) (column, error) {
	c := column{label: label, median: map[string]time.Duration{}, bytes: map[string]int{}, statuses: map[string]string{}}
	times := map[string][]time.Duration{}
	codes := map[string]map[int]int{}
	for range n {
		for _, r := range routes() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.st.APIURL+r.path, nil)
			if err != nil {
				return c, err
			}
			start := time.Now()
			res, err := b.client.Do(req)
			if err != nil {
				return c, fmt.Errorf("GET %s: %w", r.path, err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			times[r.name] = append(times[r.name], time.Since(start))
			c.bytes[r.name] = len(body)
			if codes[r.name] == nil {
				codes[r.name] = map[int]int{}
			}
			codes[r.name][res.StatusCode]++
		}
	}
	for name, ts := range times {
		slices.Sort(ts)
		c.median[name] = ts[len(ts)/2]
		if codes[name][http.StatusOK] != n {
			var parts []string
			for code, k := range codes[name] {
				parts = append(parts, fmt.Sprintf("%d×%d", k, code))
			}
			slices.Sort(parts)
			c.statuses[name] = strings.Join(parts, " ")
		}
	}
	c.rss = fmt.Sprintf("%s + %s", mib(rss("self")), mib(rss(strconv.Itoa(b.st.DynamoPID()))))
	return c, nil
}

// rss is a process's resident memory from /proc, 0 when unknown.
func rss(pid string) uint64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// writeTable prints the table in Markdown: a route per row, a size per
// column, each cell the median and the answer's size.
func writeTable(w io.Writer, cols []column, notes []string, o options) {
	fmt.Fprintf(w, "median of %d requests per route and size (ms; the answer's size)\n\n", o.requests)
	fmt.Fprint(w, "| route |")
	for _, c := range cols {
		fmt.Fprintf(w, " %s |", c.label)
	}
	fmt.Fprint(w, "\n|---|")
	for range cols {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, r := range routes() {
		fmt.Fprintf(w, "| `%s` |", r.name)
		for _, c := range cols {
			cell := fmt.Sprintf(" %.1f (%s)", float64(c.median[r.name].Microseconds())/1000, size(c.bytes[r.name]))
			if s := c.statuses[r.name]; s != "" {
				cell += " " + s
			}
			fmt.Fprintf(w, "%s |", cell)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "| memory: this process (stack, gateway, broker) + DynamoDB Local |")
	for _, c := range cols {
		fmt.Fprintf(w, " %s |", c.rss)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, "- "+n)
	}
}

func size(n int) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.0f KB", float64(n)/1024)
}
