package ingest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/domain"
	"github.com/plainview/serverless/shared/dynamotest"
	"github.com/plainview/serverless/shared/ingest"
	"github.com/plainview/serverless/shared/leaks"
	"github.com/plainview/serverless/shared/notify"
	"github.com/plainview/serverless/shared/rules"
	"github.com/plainview/serverless/shared/store"

	"log/slog"
)

func service(t *testing.T) (*ingest.Service, *store.Store) {
	t.Helper()
	st := dynamotest.Store(t)
	if err := st.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := notify.NewLog(slog.New(slog.DiscardHandler))
	return ingest.New(st, leaks.New(st, n, nil, nil), n, nil, nil, nil), st
}

func deadLetters(t *testing.T, st *store.Store) []store.DeadLetter {
	t.Helper()
	dl, _, err := st.DeadLetters(context.Background(), domain.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	return dl
}

func TestAnOversizedMessageIsADeadLetterNotAnError(t *testing.T) {
	svc, st := service(t)
	big := rules.NewMessage("plainview/leaks", "v-101", []byte(`{"id":"x","pad":"`+strings.Repeat("x", 130<<10)+`"}`), 1)
	if err := svc.Handle(context.Background(), big); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	dl := deadLetters(t, st)
	if len(dl) != 1 || !strings.Contains(dl[0].Reason, "128 KB") || dl[0].Payload != big.Payload {
		t.Errorf("dead letters = %+v", dl)
	}
}

func TestTheLambdaEntryTakesDirectMessagesAndQueueBatches(t *testing.T) {
	svc, st := service(t)
	h := ingest.Lambda(svc)
	ctx := context.Background()
	good := rules.NewMessage("pipeline/pressure/C-South", "C-South", []byte(`{"kpa":2450}`), 1_795_000_000_000)
	badOne := rules.NewMessage("pipeline/pressure/C-South", "C-South", []byte(`{"kpa":"x"}`), 1_795_000_000_000)
	ev, _ := json.Marshal(map[string]any{"Records": []map[string]any{
		{"messageId": "1", "body": string(good.JSON())},
		{"messageId": "2", "body": string(badOne.JSON())},
		{"messageId": "3", "body": "not a rule message"},
	}})
	resp, err := h(ctx, ev)
	if err != nil || resp == nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch: %+v %v", resp, err)
	}
	if dl := deadLetters(t, st); len(dl) != 2 {
		t.Errorf("dead letters = %+v, want the bad reading and the stray body", dl)
	}
	if sec, _ := st.Section(ctx, "C-South"); sec.PressureKPa == nil || *sec.PressureKPa != 2450 {
		t.Errorf("section = %+v", sec)
	}
	if _, err := h(ctx, json.RawMessage(`{"surprise":true}`)); err != nil {
		t.Errorf("a stray direct event: %v", err)
	}
	if dl := deadLetters(t, st); len(dl) != 3 {
		t.Errorf("dead letters after a stray direct event = %d", len(dl))
	}
}
