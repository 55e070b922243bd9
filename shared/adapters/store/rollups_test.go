package store_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// A roll-up is its hour's stored readings of its device, each once: not
// the hour's neighbours', not another device's; written again, it counts
// a late reading; it expires with the hour's first block to expire.
func TestARollupIsItsHoursReadings(t *testing.T) {
	db, table := dynamotest.Client(t)
	now := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	clock := now
	st := store.New(db, table, func() time.Time { return clock })
	if err := st.CreateTable(ctx); err != nil {
		t.Fatalf("create table: %v", err)
	}
	hour := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	reading := func(id, dev string, at time.Time, v float64) domain.Reading {
		return domain.Reading{ID: id, Device: dev, Asset: dev, At: at, Values: map[string]float64{"kpa": v, "flow_rate_lpm": -v}}
	}
	var inHour []domain.Reading
	for i := range 30 {
		inHour = append(inHour, reading(fmt.Sprintf("m%02d", i), "v-1", hour.Add(time.Duration(i)*40*time.Second), float64(i%7)+0.25))
	}
	others := []domain.Reading{
		reading("before", "v-1", hour.Add(-time.Millisecond), 1000),
		reading("after", "v-1", hour.Add(time.Hour), 2000),
		reading("other", "v-2", hour.Add(time.Minute), 3000),
	}
	put := func(rs []domain.Reading, ttl time.Duration) {
		t.Helper()
		if err := st.PutReadings(ctx, rs, ttl); err != nil {
			t.Fatalf("put readings: %v", err)
		}
	}
	put(append(append([]domain.Reading{}, inHour[:20]...), others...), 30*24*time.Hour)
	put(inHour[16:25], 30*24*time.Hour) // 16-19 again; 16 in another block of its minute
	late := inHour[25:]
	rollup := func() domain.Rollup {
		t.Helper()
		if err := st.RollUp(ctx, "v-1", hour.Add(17*time.Minute)); err != nil {
			t.Fatalf("roll up: %v", err)
		}
		rs, err := st.Rollups(ctx, "v-1", hour, hour.Add(59*time.Minute))
		if err != nil || len(rs) != 1 {
			t.Fatalf("roll-ups = %+v, %v; want the hour's", rs, err)
		}
		return rs[0]
	}
	if got, want := rollup(), domain.NewRollup("v-1", hour, inHour[:25]); !reflect.DeepEqual(got, want) {
		t.Errorf("roll-up = %+v\nwant the hour's readings: %+v", got, want)
	}
	if has, err := st.HasRollup(ctx, "v-1", hour); !has || err != nil {
		t.Errorf("has roll-up = %v, %v; want true", has, err)
	}
	if has, err := st.HasRollup(ctx, "v-1", hour.Add(time.Hour)); has || err != nil {
		t.Errorf("has roll-up of the next hour = %v, %v; want false", has, err)
	}

	put(late, time.Hour) // late, and the first to expire
	if got, want := rollup(), domain.NewRollup("v-1", hour, inHour); !reflect.DeepEqual(got, want) {
		t.Errorf("written again after a late reading: %+v\nwant %+v", got, want)
	}
	clock = now.Add(time.Hour)
	if rs, err := st.Rollups(ctx, "v-1", hour, hour); len(rs) != 0 || err != nil {
		t.Errorf("once a block of its hour expired, roll-ups = %+v, %v; want none", rs, err)
	}
}
