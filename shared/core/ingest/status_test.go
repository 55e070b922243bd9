package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

func TestAnActuationTheDeviceEndsIsCountedByItsResult(t *testing.T) {
	ctx := context.Background()
	st := dynamotest.Store(t)
	if err := st.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	var emf bytes.Buffer
	n := notify.NewLog(slog.New(slog.DiscardHandler))
	svc := ingest.New(st, leaks.New(st, n, nil, nil), n, metrics.NewEmitter(&emf, "Plainview"), nil, nil)

	now := time.Now().UTC()
	for _, c := range []struct{ valve, command, state string }{{"v-101", "OPEN", "DONE"}, {"v-102", "CLOSE", "ERROR"}} {
		a := domain.Actuation{ID: domain.NewID("act", now), ValveID: c.valve, Command: c.command, State: domain.ActuationQueued, RequestedAt: now, Deadline: now.Add(time.Minute)}
		ev := domain.NewEvent(domain.EventActuationRequested, c.valve, "", now, map[string]string{"actuation_id": a.ID})
		if err := st.StartActuation(ctx, a, ev, nil); err != nil {
			t.Fatal(err)
		}
		status := []byte(`{"state":"` + c.state + `","request_id":"` + a.ID + `","torque_nm":48.5}`)
		// Twice: a repeated delivery changes nothing and counts nothing.
		for range 2 {
			if err := svc.Handle(ctx, topics.NewMessage("valves/"+c.valve+"/status", c.valve, status, now.UnixMilli())); err != nil {
				t.Fatal(err)
			}
		}
	}

	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(emf.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatal(err)
		}
		if doc["Actuations"] == 1.0 && doc["Function"] == "ingest" {
			got[doc["Command"].(string)+" "+doc["Result"].(string)]++
		}
	}
	if len(got) != 2 || got["OPEN succeeded"] != 1 || got["CLOSE failed"] != 1 {
		t.Errorf("Actuations counted: %v; want OPEN succeeded and CLOSE failed, once each", got)
	}
}
