package ingest_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/testkit/dynamotest"

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

func deadLetters(t *testing.T, st *store.Store) []domain.DeadLetter {
	t.Helper()
	dl, _, err := st.DeadLetters(context.Background(), domain.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	return dl
}

func TestAnOversizedMessageIsADeadLetterNotAnError(t *testing.T) {
	svc, st := service(t)
	big := topics.NewMessage("plainview/leaks", "v-101", []byte(`{"id":"x","pad":"`+strings.Repeat("x", 130<<10)+`"}`), 1)
	if err := svc.Handle(context.Background(), big); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	dl := deadLetters(t, st)
	if len(dl) != 1 || !strings.Contains(dl[0].Reason, "128 KB") || dl[0].Payload != big.Payload {
		t.Errorf("dead letters = %+v", dl)
	}
}

// countingStore is the real store, counting the device lookups.
type countingStore struct {
	*store.Store
	lookups map[string]int
}

func (c *countingStore) Device(ctx context.Context, id string) (domain.Device, error) {
	c.lookups[id]++
	return c.Store.Device(ctx, id)
}

func TestABatchLooksEachDeviceUpOnce(t *testing.T) {
	_, st := service(t)
	counting := &countingStore{Store: st, lookups: map[string]int{}}
	n := notify.NewLog(slog.New(slog.DiscardHandler))
	svc := ingest.New(counting, leaks.New(st, n, nil, nil), n, nil, nil, nil)
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	var batch []topics.Message
	for i := range 3 {
		ts := now.Add(time.Duration(i-10) * time.Second).Unix()
		batch = append(batch,
			topics.NewMessage("plainview/devices/v-101/telemetry", "v-101", fmt.Appendf(nil, `{"ts":%d,"temperature_c":4%d}`, ts, i), now.UnixMilli()),
			topics.NewMessage("pipeline/pressure/C-South", "C-South", fmt.Appendf(nil, `{"ts":%d,"kpa":245%d}`, ts, i), now.UnixMilli()),
			topics.NewMessage("plainview/devices/v-999/telemetry", "v-999", fmt.Appendf(nil, `{"ts":%d,"temperature_c":4%d}`, ts, i), now.UnixMilli()),
		)
	}
	if failed := svc.HandleBatch(ctx, batch); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	if want := map[string]int{"v-101": 1, "C-South": 1, "v-999": 1}; !maps.Equal(counting.lookups, want) {
		t.Errorf("device lookups = %v, want one per device, the unknown one too: %v", counting.lookups, want)
	}
	for _, dev := range []string{"v-101", "C-South"} {
		got, _, err := st.Readings(ctx, dev, now.Add(-time.Hour), now, domain.Page{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Errorf("%s: %d readings stored, want 3", dev, len(got))
		}
	}
	if dl := deadLetters(t, st); len(dl) != 3 {
		t.Errorf("%d dead letters, want the unknown device's 3", len(dl))
	}
	// The next batch asks again: a device added or removed meanwhile is seen.
	svc.HandleBatch(ctx, batch[:1])
	if counting.lookups["v-101"] != 2 {
		t.Errorf("v-101 looked up %d times over two batches, want 2", counting.lookups["v-101"])
	}
}

// A rule hands ingest the topic without the Basic Ingest prefix (IoT
// Core's topic()), but a message that still carries it (a dead letter
// kept with it, a redrive) is read the same way: the device is the one the
// topic names, and it must be the publisher.
func TestTelemetryThroughBasicIngestIsTheDevicesOwn(t *testing.T) {
	svc, st := service(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	raw := func(topic, client string, v int) topics.Message {
		m := topics.NewMessage(topic, client, fmt.Appendf(nil, `{"ts":%d,"temperature_c":%d}`, now.Unix(), v), now.UnixMilli())
		m.Topic = topic // as sent, prefix and all
		return m
	}
	own := raw("$aws/rules/plainview_dev_device_telemetry/plainview/devices/v-101/telemetry", "v-101", 41)
	other := raw("$aws/rules/plainview_dev_device_telemetry/plainview/devices/v-102/telemetry", "v-101", 42)
	if failed := svc.HandleBatch(ctx, []topics.Message{own, other}); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	got, _, err := st.Readings(ctx, "v-101", now.Add(-time.Minute), now.Add(time.Minute), domain.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Values["temperature_c"] != 41 {
		t.Errorf("v-101's readings = %+v, want the one it sent as itself", got)
	}
	if got, _, _ := st.Readings(ctx, "v-102", now.Add(-time.Minute), now.Add(time.Minute), domain.Page{Limit: 50}); len(got) != 0 {
		t.Errorf("v-102's readings = %+v, but v-102 sent none", got)
	}
	if dl := deadLetters(t, st); len(dl) != 1 || !strings.Contains(dl[0].Reason, `may not publish telemetry as "v-102"`) {
		t.Errorf("dead letters = %+v, want v-101's telemetry as v-102", dl)
	}
}
