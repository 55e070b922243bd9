package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/config"
	"github.com/plainview/serverless/shared/domain"
	"github.com/plainview/serverless/shared/dynamotest"
	"github.com/plainview/serverless/shared/function"
	"github.com/plainview/serverless/shared/notify"
)

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
	env := function.Env{Config: config.Config{TableName: "plainview"}, Logger: slog.New(slog.DiscardHandler), Store: st}
	h := handler(env, notify.NewLog(env.Logger))

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
}
