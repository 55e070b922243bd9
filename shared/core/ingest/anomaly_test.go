package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
)

// A reading far from its device's recent mean becomes one anomaly.detected
// event, with the first backend's fields; the same batch delivered again
// writes no second one, and an ordinary reading none.
func TestAFlowAnomalyBecomesOneAnomalyDetectedEvent(t *testing.T) {
	_, st := service(t)
	n := notify.NewLog(slog.New(slog.DiscardHandler))
	svc := ingest.New(st, leaks.New(st, n, nil, nil), n, nil, nil, nil).WithAnomalies(st)
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	reading := func(i int, flow float64) topics.Message {
		ts := now.Add(time.Duration(i-20) * time.Second).Unix()
		return topics.NewMessage("plainview/devices/v-101/telemetry", "v-101",
			fmt.Appendf(nil, `{"ts":%d,"flow_rate_lpm":%g}`, ts, flow), now.UnixMilli())
	}
	anomalies := func() []domain.Event {
		t.Helper()
		evs, _, err := st.Events(ctx, domain.EventFilter{Type: domain.EventAnomalyDetected}, domain.Page{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}

	// History in one batch, then an ordinary reading: nothing to report.
	if failed := svc.HandleBatch(ctx, []topics.Message{reading(0, 100), reading(1, 102), reading(2, 98), reading(3, 100)}); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	svc.HandleBatch(ctx, []topics.Message{reading(4, 104)})
	if got := anomalies(); len(got) != 0 {
		t.Fatalf("after ordinary readings: %d anomaly events", len(got))
	}

	// 160 L/min against a mean of 100.8: 58.7 % off, over the high limit.
	spike := []topics.Message{reading(5, 160)}
	svc.HandleBatch(ctx, spike)
	svc.HandleBatch(ctx, spike) // the stream delivers it again
	got := anomalies()
	if len(got) != 1 {
		t.Fatalf("%d anomaly events, want 1", len(got))
	}
	var data struct {
		AssetID     string  `json:"asset_id"`
		AnomalyType string  `json:"anomaly_type"`
		Confidence  float64 `json:"confidence"`
		Metric      string  `json:"metric"`
		Value       float64 `json:"value"`
		Severity    string  `json:"severity"`
	}
	if err := json.Unmarshal(got[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	// Confidence: the share of the 58.7 % deviation beyond the 25 % limit.
	if got[0].Asset != "v-101" || data.AssetID != "v-101" || data.AnomalyType != "flow_rate_lpm_deviation" ||
		data.Metric != "flow_rate_lpm" || data.Value != 160 || data.Severity != domain.AnomalyHigh || data.Confidence != 0.57 {
		t.Errorf("event %s on %s, data %s", got[0].Type, got[0].Asset, got[0].Data)
	}
	if got[0].At.Before(now) {
		t.Errorf("event at %v, want the time it was found (after %v), not the reading's", got[0].At, now)
	}
}
