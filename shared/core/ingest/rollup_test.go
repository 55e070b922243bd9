package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
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
)

// When a device's batch crosses into a new hour, ingest writes the
// previous hour's roll-up; a late reading of an hour that has one writes
// it again; an hour not over has none.
func TestIngestRollsUpAnHourOnceTheDeviceIsPastIt(t *testing.T) {
	ctx := context.Background()
	st := dynamotest.Store(t)
	if err := st.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	hour := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	clock := hour.Add(50 * time.Minute)
	n := notify.NewLog(slog.New(slog.DiscardHandler))
	svc := ingest.New(st, leaks.New(st, n, nil, nil), n, nil, func() time.Time { return clock }, nil)
	var sent []domain.Reading
	send := func(at time.Time, v float64) {
		t.Helper()
		if at.Add(2 * time.Second).After(clock) {
			clock = at.Add(2 * time.Second) // a late reading arrives now
		}
		m := topics.NewMessage("plainview/devices/v-101/telemetry", "v-101", fmt.Appendf(nil, `{"ts":%.3f,"flow_rate_lpm":%g}`, float64(at.UnixMilli())/1000, v), clock.UnixMilli())
		if failed := svc.HandleBatch(ctx, []topics.Message{m}); len(failed) != 0 {
			t.Fatalf("failed %v", failed)
		}
		if at.Truncate(time.Hour).Equal(hour) {
			sent = append(sent, domain.Reading{At: at, Values: map[string]float64{"flow_rate_lpm": v}})
		}
	}
	rollups := func() []domain.Rollup {
		t.Helper()
		rs, err := st.Rollups(ctx, "v-101", hour.Add(-time.Hour), hour.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	want := func() domain.Rollup {
		slices.SortFunc(sent, func(a, b domain.Reading) int { return a.At.Compare(b.At) })
		return domain.NewRollup("v-101", hour, sent)
	}

	send(hour.Add(10*time.Minute), 4)
	send(hour.Add(20*time.Minute), 8)
	send(hour.Add(59*time.Minute+59*time.Second), 5)
	if rs := rollups(); len(rs) != 0 {
		t.Fatalf("roll-ups while the device is in the hour: %+v, want none", rs)
	}
	send(hour.Add(time.Hour+2*time.Second), 7) // into the next hour
	if rs := rollups(); len(rs) != 1 || !reflect.DeepEqual(rs[0], want()) {
		t.Fatalf("roll-ups = %+v\nwant the previous hour's: %+v", rs, want())
	}
	send(hour.Add(30*time.Minute), 1) // late, alone in its batch
	if rs := rollups(); len(rs) != 1 || !reflect.DeepEqual(rs[0], want()) || rs[0].Metrics["flow_rate_lpm"].Count != 4 {
		t.Errorf("after a late reading, roll-ups = %+v\nwant the hour's again, with it: %+v", rs, want())
	}
	send(hour.Add(-30*time.Minute), 3) // late, of an hour without a roll-up
	if rs := rollups(); len(rs) != 1 {
		t.Errorf("a late reading of an hour without a roll-up wrote one: %+v", rs)
	}
}

// failingRollups is the store with roll-ups that cannot be written.
type failingRollups struct{ *store.Store }

func (failingRollups) RollUp(context.Context, string, time.Time) error {
	return errors.New("throttled")
}

// A roll-up that cannot be written does not fail the batch: its readings
// are stored, and the series reads the hour from them.
func TestARollupThatFailsLeavesTheBatchStored(t *testing.T) {
	ctx := context.Background()
	st := dynamotest.Store(t)
	if err := st.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	hour := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	clock := hour.Add(time.Hour + time.Minute)
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	n := notify.NewLog(slog.New(slog.DiscardHandler))
	svc := ingest.New(failingRollups{st}, leaks.New(st, n, nil, nil), n, nil, func() time.Time { return clock }, log)
	var batch []topics.Message
	for _, at := range []time.Time{hour.Add(50 * time.Minute), hour.Add(time.Hour)} { // crosses into the next hour
		batch = append(batch, topics.NewMessage("plainview/devices/v-101/telemetry", "v-101",
			fmt.Appendf(nil, `{"ts":%d,"flow_rate_lpm":3}`, at.Unix()), clock.UnixMilli()))
	}
	if failed := svc.HandleBatch(ctx, batch); len(failed) != 0 {
		t.Errorf("failed %v, want none: the readings are stored", failed)
	}
	if got, _, err := st.Readings(ctx, "v-101", hour, clock, domain.Page{Limit: 10}); len(got) != 2 || err != nil {
		t.Errorf("readings = %+v, %v; want both", got, err)
	}
	if !strings.Contains(logged.String(), "roll-up") || !strings.Contains(logged.String(), "throttled") {
		t.Errorf("log = %q, want the roll-up's error", logged.String())
	}
}
