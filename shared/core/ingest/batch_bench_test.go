package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
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

// BenchmarkHandleBatchOfTheStream ingests a batch as the telemetry stream
// hands it over, five readings a second apart from each of 40 valves, on
// DynamoDB Local: what a batch takes is mostly its round trips.
//
//	go test -run '^$' -bench HandleBatch -benchtime 20x -count 6 ./shared/core/ingest/
func BenchmarkHandleBatchOfTheStream(b *testing.B) {
	const valves, each = 40, 5
	db, table := dynamotest.Client(b)
	st := store.New(db, table, nil)
	ctx := context.Background()
	if err := st.CreateTable(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Minute).Add(-24 * time.Hour)
	var devices []domain.Device
	for i := range valves {
		v := domain.Valve{ID: fmt.Sprintf("v-%d", 500+i), Name: "bench"}
		if err := st.CreateValve(ctx, v, domain.NewEvent(domain.EventInventoryChanged, v.ID, "", start, nil)); err != nil {
			b.Fatal(err)
		}
		devices = append(devices, domain.Device{ID: v.ID, Kind: domain.DeviceValve, Asset: v.ID})
	}
	n := notify.NewLog(slog.New(slog.DiscardHandler))
	now := start
	svc := ingest.New(st, leaks.New(st, n, nil, nil), n, nil, func() time.Time { return now }, nil).WithAnomalies(st)
	b.ResetTimer()
	for i := range b.N {
		at := start.Add(time.Duration(i) * each * time.Second)
		now = at.Add(each * time.Second)
		var batch []topics.Message
		for r := range each {
			for j, d := range devices {
				t := at.Add(time.Duration(r)*time.Second + time.Duration(j)*time.Millisecond)
				batch = append(batch, topics.NewMessage(topic(d), d.ID, simulatorPayload(d.Kind, t, r*100+j), t.UnixMilli()))
			}
		}
		if failed := svc.HandleBatch(ctx, batch); len(failed) != 0 {
			b.Fatalf("failed %v", failed)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/batch")
}
