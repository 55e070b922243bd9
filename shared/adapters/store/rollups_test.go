package store_test

import (
	"context"

	"fmt"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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

// capacityMeter adds up the read and write units DynamoDB says a store's
// Queries and PutItems consumed (ReturnConsumedCapacity).
type capacityMeter struct {
	*dynamodb.Client
	queries, puts int
	read, write   float64
}

func (m *capacityMeter) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.Client.Query(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil {
		m.queries++
		m.read += *out.ConsumedCapacity.CapacityUnits
	}
	return out, err
}

func (m *capacityMeter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.Client.PutItem(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil {
		m.puts++
		m.write += *out.ConsumedCapacity.CapacityUnits
	}
	return out, err
}

// TestUnitsOfARollupStayAtTheDesign counts what rolling up an hour of a
// device that reports every second costs, its readings stored as the
// telemetry stream's 5 s batches leave them (720 blocks of 5 readings of
// a valve's four values), and holds it at docs/data-model.md's figures.
func TestUnitsOfARollupStayAtTheDesign(t *testing.T) {
	db, table := dynamotest.Client(t)
	m := &capacityMeter{Client: db}
	hour := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	st := store.New(m, table, nil)
	if err := st.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	for b := range 720 {
		var batch []domain.Reading
		for i := range 5 {
			at := hour.Add(time.Duration(b*5+i) * time.Second)
			batch = append(batch, domain.Reading{ID: fmt.Sprintf("%016x", at.UnixNano()), Device: "v-101", Asset: "v-101", At: at,
				Values: map[string]float64{"temperature_c": 42.37 + float64(i)/100, "pressure_pa": float64(2_104_563 + b), "flow_rate_lpm": 1003.4 + float64(i)/10, "torque_nm": 0}})
		}
		if err := st.PutReadings(ctx, batch, 30*24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	m.queries, m.puts, m.read, m.write = 0, 0, 0, 0
	if err := st.RollUp(ctx, "v-101", hour); err != nil {
		t.Fatal(err)
	}
	t.Logf("an hour of 3,600 readings in 720 blocks rolled up: %d Query pages, %.1f read units; %d put, %.1f write units", m.queries, m.read, m.puts, m.write)
	if m.read != 34 || m.queries != 1 || m.write != 1 || m.puts != 1 {
		t.Errorf("%d Query pages, %.1f read units, %d puts, %.1f write units; design 1 page, 34 read units, 1 put, 1 write unit (docs/data-model.md)",
			m.queries, m.read, m.puts, m.write)
	}
	rs, err := st.Rollups(ctx, "v-101", hour, hour)
	if err != nil || len(rs) != 1 || rs[0].Metrics["flow_rate_lpm"].Count != 3600 {
		t.Errorf("roll-up = %+v, %v; want the hour's 3,600 readings", rs, err)
	}
}
