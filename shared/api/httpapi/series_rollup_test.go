package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// queryMeter is DynamoDB counting the Query pages and the read units
// (ReturnConsumedCapacity) of each partition it reads.
type queryMeter struct {
	*dynamodb.Client
	mu           sync.Mutex
	pages, units map[string]float64 // by the partition's kind: READINGS, ROLLUP
}

func (m *queryMeter) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.Client.Query(ctx, in, o...)
	if err == nil {
		kind := "other"
		if v, ok := in.ExpressionAttributeValues[":pk"].(*types.AttributeValueMemberS); ok {
			kind = v.Value
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.pages[kind]++
		if out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
			m.units[kind] += *out.ConsumedCapacity.CapacityUnits
		}
	}
	return out, err
}

func (m *queryMeter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pages, m.units = map[string]float64{}, map[string]float64{}
}

// A 30-day series answers the same whether its hours have roll-ups or
// not, and the same as its readings folded one by one; with the roll-ups
// it reads them, not the readings' blocks.
func TestALongSeriesFromRollupsIsTheSeriesOfItsReadings(t *testing.T) {
	ctx := context.Background()
	db, table := dynamotest.Client(t)
	m := &queryMeter{Client: db}
	m.reset()
	now := time.Now().UTC().Truncate(time.Second)
	if now.Sub(now.Truncate(time.Hour)) < time.Minute {
		now = now.Add(time.Minute) // readings in the current hour too
	}
	st := store.New(m, table, func() time.Time { return now })
	if err := st.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{Routes: []httpapi.Routes{httpapi.ReadRoutes}, Function: routes.FuncReads, Store: st, Now: func() time.Time { return now }})

	// Every 20 minutes for 30 days a burst of 12 readings a tenth of a
	// second apart (a block of 12), but none on day 10 (empty steps);
	// flow in quarters (sums exact in any order), temperature alone on
	// every seventh.
	from := now.Add(-30 * 24 * time.Hour)
	start := from.Truncate(time.Hour) // the series' from
	var readings []domain.Reading
	for slot := start.Add(7 * time.Minute); !slot.After(now); slot = slot.Add(20 * time.Minute) {
		if d := slot.Sub(start); d >= 10*24*time.Hour && d < 11*24*time.Hour {
			continue
		}
		for k := range 12 {
			i := len(readings)
			values := map[string]float64{"flow_rate_lpm": float64(i%37) / 4}
			if i%7 == 0 {
				values = map[string]float64{"temperature_c": 40}
			}
			at := slot.Add(time.Duration(k) * 100 * time.Millisecond)
			readings = append(readings, domain.Reading{ID: fmt.Sprintf("s%d", i), Device: "v-101", Asset: "v-101", At: at, Values: values})
		}
	}
	if err := st.PutReadings(ctx, readings, 31*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	path := "/telemetry/series?device=v-101&metric=flow_rate_lpm&step=6h&from=" + rfc(from) + "&to=" + rfc(now)
	get := func() (string, seriesAnswer) {
		t.Helper()
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		var s seriesAnswer
		if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		return rec.Body.String(), s
	}

	m.reset()
	fromBlocks, s := get()
	blockPages, blockUnits := m.pages["READINGS#v-101"], m.units["READINGS#v-101"]
	want := domain.NewSeries(start, 6*time.Hour, len(s.Points))
	for _, r := range readings {
		if v, ok := r.Values["flow_rate_lpm"]; ok && r.Device == "v-101" {
			want.Add(r.At, v)
		}
	}
	if !s.From.Equal(start) || len(s.Points) != 121 {
		t.Fatalf("from %v, %d steps; want from %v (from floored to the hour), 121 steps", s.From, len(s.Points), start)
	}
	empty := 0
	for i, p := range want.Points() {
		got := s.Points[i]
		if !got.At.Equal(p.At) || got.Count != p.Count || !reflect.DeepEqual(got.Min, p.Min) || !reflect.DeepEqual(got.Max, p.Max) ||
			!reflect.DeepEqual(got.Avg, p.Avg) || !reflect.DeepEqual(got.Last, p.Last) {
			t.Errorf("step %d = %v n=%d min %v max %v avg %v last %v; its readings give %v n=%d min %v max %v avg %v last %v", i,
				got.At, got.Count, deref(got.Min), deref(got.Max), deref(got.Avg), deref(got.Last),
				p.At, p.Count, deref(p.Min), deref(p.Max), deref(p.Avg), deref(p.Last))
		}
		if p.Count == 0 {
			empty++
		}
	}
	if empty < 4 {
		t.Errorf("%d empty steps, want day 10's 4 at least", empty)
	}

	// Roll up every hour that is over but one in 100: those are read from
	// the blocks, as is the current hour.
	hours := 0
	for h := start; !h.Add(time.Hour).After(now); h = h.Add(time.Hour) {
		if hours++; hours%100 == 0 {
			continue
		}
		if err := st.RollUp(ctx, "v-101", h); err != nil {
			t.Fatal(err)
		}
	}
	m.reset()
	fromRollups, _ := get()
	if fromRollups != fromBlocks {
		t.Errorf("with roll-ups the series is\n%s\nfrom the blocks\n%s", fromRollups, fromBlocks)
	}
	t.Logf("30 days, 12 readings every 20 minutes: from blocks %.0f Query pages, %.1f read units; with roll-ups %.0f pages, %.1f read units of blocks, %.0f pages, %.1f read units of roll-ups",
		blockPages, blockUnits, m.pages["READINGS#v-101"], m.units["READINGS#v-101"], m.pages["ROLLUP#v-101"], m.units["ROLLUP#v-101"])
	// The blocks read are those of the 7 hours left without a roll-up,
	// of day 10 (no readings, no roll-ups) and of the current hour: a
	// Query each run of them.
	if got := m.pages["READINGS#v-101"]; got > 9 || m.pages["ROLLUP#v-101"] != 1 || m.units["READINGS#v-101"]+m.units["ROLLUP#v-101"] > blockUnits/4 {
		t.Errorf("with roll-ups: %.0f Query pages of blocks (want at most 9), %.0f of roll-ups (want 1), %.1f read units in all (want under a quarter of %.1f)",
			got, m.pages["ROLLUP#v-101"], m.units["READINGS#v-101"]+m.units["ROLLUP#v-101"], blockUnits)
	}
}
