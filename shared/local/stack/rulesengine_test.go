package stack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/lambda/ingestfunc"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// waitFor polls until f holds; the bound only keeps a broken build from
// hanging.
func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for range 600 {
		if f() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within 30 s", what)
}

// outageTable is a table behind a proxy that can go down and come back,
// with a store client that does not retry (each failure is a delivery's
// failure).
type outageTable struct {
	*dynamotest.Outage
	st *store.Store
}

func newOutageTable(t *testing.T) *outageTable {
	t.Helper()
	endpoint, cfg := dynamotest.Endpoint(t)
	o := &outageTable{Outage: dynamotest.NewOutage(t, endpoint)}
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	db := store.NewClient(cfg, o.URL)
	table := dynamotest.TableName()
	dynamotest.DeleteAtEnd(t, db, table)
	o.st = store.New(db, table, nil)
	if err := o.st.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := o.st.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *outageTable) down() { o.Down() }

func (o *outageTable) up(t *testing.T) {
	t.Helper()
	if err := o.Up(); err != nil {
		t.Fatal(err)
	}
}

func TestTelemetryOutlivesATableOutage(t *testing.T) {
	tb := newOutageTable(t)
	note := notify.NewLog(slog.New(slog.DiscardHandler))
	svc := ingest.New(tb.st, leaks.New(tb.st, note, nil, nil), note, nil, nil, nil)
	lambda := ingestfunc.Ingest(svc)
	var deliveries atomic.Int64
	invoke := func(ctx context.Context, raw json.RawMessage) (*events.SQSEventResponse, error) {
		deliveries.Add(1)
		return lambda(ctx, raw)
	}
	e := startRulesEngine(invoke, svc.DeadLetter, slog.New(slog.DiscardHandler),
		engineSettings{batch: queueBatch, window: 10 * time.Millisecond, retries: asyncRetries, visibility: 50 * time.Millisecond})
	closed := false
	defer func() {
		if !closed {
			e.close()
		}
	}()

	tb.down()
	const n = 10
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := range n {
		e.accept("v-101", "plainview/devices/v-101/telemetry",
			fmt.Appendf(nil, `{"ts":%d,"temperature_c":%d}`, start.Add(time.Duration(i)*time.Second).Unix(), 40+i))
	}
	// Three deliveries, a dead letter the table refused, and one more
	// delivery: the batch outlived its last receive.
	waitFor(t, "a delivery after the failed dead letter", func() bool { return deliveries.Load() > maxReceives })
	tb.up(t)

	ctx := context.Background()
	var stored []domain.Reading
	var dead []domain.DeadLetter
	waitFor(t, "every message stored or dead-lettered", func() bool {
		var err1, err2 error
		stored, _, err1 = tb.st.Readings(ctx, "v-101", start.Add(-time.Hour), time.Now(), domain.Page{Limit: 50})
		dead, _, err2 = tb.st.DeadLetters(ctx, domain.Page{Limit: 50})
		return errors.Join(err1, err2) == nil && len(stored)+len(dead) >= n
	})
	e.close() // delivers whatever is still hidden
	closed = true
	stored, _, _ = tb.st.Readings(ctx, "v-101", start.Add(-time.Hour), time.Now(), domain.Page{Limit: 50})
	dead, _, _ = tb.st.DeadLetters(ctx, domain.Page{Limit: 50})
	seen := map[string]int{}
	for _, r := range stored {
		seen[r.At.String()]++
	}
	for _, d := range dead {
		var p struct{ TS int64 }
		if err := json.Unmarshal(mustBase64(t, d.Payload), &p); err != nil {
			t.Fatal(err)
		}
		seen[time.Unix(p.TS, 0).UTC().String()]++
	}
	if len(seen) != n {
		t.Errorf("%d of %d messages stored or dead-lettered (%d readings, %d dead letters)", len(seen), n, len(stored), len(dead))
	}
	for at, k := range seen {
		if k != 1 {
			t.Errorf("the message of %s is there %d times", at, k)
		}
	}
}

func mustBase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
