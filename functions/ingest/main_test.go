package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/lambda/config"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

func env(t *testing.T) function.Env {
	t.Helper()
	st := dynamotest.Store(t)
	if err := st.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	return function.Env{Config: config.Config{TableName: "plainview"}, Logger: slog.New(slog.DiscardHandler), Store: st}
}

func sample(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../../events/ingest/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAStreamBatchIsStoredAndItsBadMessageDeadLettered(t *testing.T) {
	e := env(t)
	h := handler(e, notify.NewLog(e.Logger))
	resp, err := h(context.Background(), sample(t, "telemetry-stream.json"))
	if err != nil || resp == nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch: %+v %v", resp, err)
	}
	from, to := time.Unix(1_794_999_000, 0), time.Unix(1_795_001_000, 0)
	r, _, err := e.Store.Readings(context.Background(), "v-101", from, to, domain.Page{Limit: 10})
	if err != nil || len(r) != 1 || r[0].Values["flow_rate_lpm"] != 1010 {
		t.Errorf("readings = %+v, %v", r, err)
	}
	dl, _, _ := e.Store.DeadLetters(context.Background(), domain.Page{Limit: 10})
	if len(dl) != 1 || dl[0].Reason != "payload is not a JSON object" {
		t.Errorf("dead letters = %+v", dl)
	}
}

func TestADirectLeakBecomesAnAlertAndAnIncident(t *testing.T) {
	e := env(t)
	h := handler(e, notify.NewLog(e.Logger))
	if _, err := h(context.Background(), sample(t, "leak.json")); err != nil {
		t.Fatal(err)
	}
	// Delivered twice (asynchronous invokes repeat): still one alert.
	if _, err := h(context.Background(), sample(t, "leak.json")); err != nil {
		t.Fatal(err)
	}
	a, err := e.Store.Alert(context.Background(), "leak-A-North-1")
	if err != nil || a.Severity != domain.LeakCritical || a.Reporter != "A-North" || a.IncidentID == "" {
		t.Fatalf("alert = %+v, %v", a, err)
	}
	active, _ := e.Store.ActiveAlerts(context.Background(), "")
	if len(active) != 1 {
		t.Errorf("active alerts = %d, want 1", len(active))
	}
}
