package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/local/stack"
)

// storeResult is what the store-only phase measured: the local table's
// own write rate as it fills.
type storeResult struct {
	total  int
	took   time.Duration
	slices []storeSlice
	usage  usage
}

// storeSlice is a tenth of the writes.
type storeSlice struct {
	before, after int // readings in the table
	took          time.Duration
}

// measureStore writes as many readings as the ingestion phase was
// offered straight into a fresh local stack's table, from one goroutine,
// in batches of 100 through store.PutReadings (BatchWriteItem of 25, as
// ingestion does): what DynamoDB Local takes per reading as the table
// grows.
func measureStore(ctx context.Context, o options, stderr io.Writer) (res storeResult, err error) {
	dir, err := os.MkdirTemp("", "benchingest-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	logs := newLogCounter(o.verbose, stderr)
	st, err := stack.Start(ctx, stack.Config{
		DynamoAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: dir, TableName: table, Version: "bench", Logger: slog.New(logs),
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
	devices := domain.SeedDevices()
	res.total = int(o.rate * o.duration.Seconds())
	const batch = 100 // as measured in docs/bench-ingest.md (the queue's batch then; the stream's holds up to 1,000)
	tenth := max(batch, res.total/10)
	at := time.Now().Add(-time.Hour)
	m := startMeter()
	start := time.Now()
	for done := 0; done < res.total; {
		s := storeSlice{before: done}
		t0 := time.Now()
		for end := min(res.total, done+tenth); done < end; {
			var rs []domain.Reading
			for range min(batch, end-done) {
				d := devices[done%len(devices)]
				at = at.Add(time.Millisecond / 4)
				rs = append(rs, domain.Reading{ID: randomID(), Device: d.ID, Asset: d.Asset, At: at,
					Values: map[string]float64{"temperature_c": 42.5, "pressure_pa": 2.1e6, "flow_rate_lpm": 1000}})
				done++
			}
			if err := st.Store.PutReadings(ctx, rs, ingest.ReadingTTL); err != nil {
				return res, err
			}
		}
		s.after, s.took = done, time.Since(t0)
		res.slices = append(res.slices, s)
	}
	res.took = time.Since(start)
	res.usage = m.stop()
	return res, nil
}

func randomID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func (r storeResult) write(w io.Writer) {
	fmt.Fprintf(w, "\nstore only: %d readings written straight into DynamoDB Local (PutReadings, one goroutine)\n", r.total)
	fmt.Fprintf(w, "  rate:               %.0f readings/s overall (%.1f s)\n", float64(r.total)/r.took.Seconds(), r.took.Seconds())
	for _, s := range r.slices {
		fmt.Fprintf(w, "    %6d–%-6d in the table: %6.0f/s\n", s.before, s.after, float64(s.after-s.before)/s.took.Seconds())
	}
	r.usage.write(w)
}
