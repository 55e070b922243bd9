package timeoutsfunc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/lambda/config"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// newEnv is the function's environment over st, with its EMF output kept.
func newEnv(st *store.Store) (function.Env, *bytes.Buffer) {
	var emf bytes.Buffer
	return function.Env{
		Config:  config.Config{TableName: "plainview"},
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: metrics.NewEmitter(&emf, function.Namespace),
		Store:   st,
	}, &emf
}

// emitted reads EMF documents and returns, per metric of the
// Plainview namespace with the dimension Function=timeouts, the values
// in the order written. A metric named in the directive but missing from
// the document, or written under another dimension set, fails the test.
func emitted(t *testing.T, emf *bytes.Buffer) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	sc := bufio.NewScanner(bytes.NewReader(emf.Bytes()))
	for sc.Scan() {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("EMF line %q: %v", sc.Text(), err)
		}
		var meta struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		}
		raw, _ := json.Marshal(doc["_aws"])
		if err := json.Unmarshal(raw, &meta); err != nil || len(meta.CloudWatchMetrics) != 1 {
			t.Fatalf("EMF metadata %s: %v", raw, err)
		}
		d := meta.CloudWatchMetrics[0]
		if d.Namespace != function.Namespace || !slices.Equal(d.Dimensions[0], []string{"Function"}) || doc["Function"] != "timeouts" {
			t.Fatalf("EMF document %s: want namespace Plainview, dimensions [Function], Function=timeouts", sc.Text())
		}
		for _, m := range d.Metrics {
			v, ok := doc[m.Name].(float64)
			if !ok || m.Unit != "Count" {
				t.Fatalf("metric %s: value %v, unit %q", m.Name, doc[m.Name], m.Unit)
			}
			out[m.Name] = append(out[m.Name], v)
		}
	}
	return out
}

func TestAnActuationPastItsDeadlineIsTimedOutAndFreesItsValve(t *testing.T) {
	ctx := context.Background()
	st := dynamotest.Store(t)
	if err := st.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute).UTC()
	a := domain.Actuation{ID: domain.NewID("act", past), ValveID: "v-103", Command: "CLOSE", State: domain.ActuationSent,
		RequestedAt: past, Deadline: past.Add(30 * time.Second)}
	ev := domain.Event{ID: domain.NewID("evt", past), Type: domain.EventActuationRequested, At: past, Asset: "v-103", Data: json.RawMessage(`{}`)}
	if err := st.StartActuation(ctx, a, ev, nil); err != nil {
		t.Fatal(err)
	}
	env, emf := newEnv(st)
	h := New(env, notify.NewLog(env.Logger))

	n, err := h(ctx)
	if err != nil || n != 1 {
		t.Fatalf("run: %d, %v", n, err)
	}
	got, _ := st.Actuation(ctx, "v-103", a.ID)
	if got.State != domain.ActuationTimedOut || got.Reason != domain.ReasonTimedOut {
		t.Errorf("actuation = %+v", got)
	}
	if v, _ := st.Valve(ctx, "v-103"); v.OpenActuation != "" {
		t.Errorf("valve still held by %q", v.OpenActuation)
	}
	if n, err := h(ctx); err != nil || n != 0 {
		t.Errorf("second run: %d, %v (nothing left to time out)", n, err)
	}
	// Every run counts its timeouts, zero included.
	if m := emitted(t, emf); !slices.Equal(m[metricTimeouts], []float64{1, 0}) {
		t.Errorf("%s per run = %v, want [1 0]", metricTimeouts, m[metricTimeouts])
	}
}

func TestEachRunEmitsOpenIncidentsAndActiveLeaks(t *testing.T) {
	ctx := context.Background()
	st := dynamotest.Store(t)
	if err := st.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	env, emf := newEnv(st)
	h := New(env, notify.NewLog(env.Logger))
	if _, err := h(ctx); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	var tx store.Tx
	tx.PutIncident(domain.Incident{ID: domain.NewID("inc", now), Title: "Leak on A-North", Severity: domain.SeverityCritical,
		Status: domain.IncidentActive, StartedAt: now, Version: 1})
	tx.PutAlert(domain.Alert{ID: "leak-1", Section: "A-North", Severity: domain.LeakCritical, Status: domain.AlertActive, CreatedAt: now})
	tx.PutAlert(domain.Alert{ID: "leak-2", Section: "B-Central", Severity: domain.LeakMinor, Status: domain.AlertActive, CreatedAt: now})
	if err := st.Commit(ctx, &tx); err != nil {
		t.Fatal(err)
	}
	if _, err := h(ctx); err != nil {
		t.Fatal(err)
	}

	m := emitted(t, emf)
	if !slices.Equal(m[metricOpenIncidents], []float64{0, 1}) || !slices.Equal(m[metricActiveLeaks], []float64{0, 2}) {
		t.Errorf("per run: %s %v (want [0 1]), %s %v (want [0 2])",
			metricOpenIncidents, m[metricOpenIncidents], metricActiveLeaks, m[metricActiveLeaks])
	}
}

// The schedule's event (events/timeouts/schedule.json, EventBridge's
// Scheduled Event) is what the function is invoked with; it reads nothing
// of it, and answers how many actuations it timed out.
func TestTheSampleScheduledEventRunsOnePass(t *testing.T) {
	ctx := context.Background()
	st := dynamotest.Store(t)
	if err := st.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	payload, err := os.ReadFile("../../../events/timeouts/schedule.json")
	if err != nil {
		t.Fatal(err)
	}
	env, _ := newEnv(st)
	out, err := lambda.NewHandler(New(env, notify.NewLog(env.Logger))).Invoke(ctx, payload)
	if err != nil || string(out) != "0" {
		t.Errorf("invoked with the sample event: %s, %v; want 0 timed out", out, err)
	}
}

func TestAStoreThatCannotBeReadFailsTheRun(t *testing.T) {
	db, table := dynamotest.Client(t) // the table is never created
	env, emf := newEnv(store.New(db, table, nil))
	h := New(env, notify.NewLog(env.Logger))

	if _, err := h(context.Background()); err == nil {
		t.Fatal("a run over a missing table succeeded")
	}
	m := emitted(t, emf)
	if !slices.Equal(m[metricTimeouts], []float64{0}) {
		t.Errorf("%s = %v, want [0]: a failed run still reports what it did", metricTimeouts, m[metricTimeouts])
	}
	if len(m[metricOpenIncidents]) != 0 || len(m[metricActiveLeaks]) != 0 {
		t.Errorf("gauges emitted without a count behind them: %v", m)
	}
}
