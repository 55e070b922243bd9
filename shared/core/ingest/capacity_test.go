package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// metered is DynamoDB as the store sees it, asking every request for the
// capacity it consumed, as DynamoDB bills it, and adding it up. A write
// whose condition fails consumes a write unit too (items here are under
// 1 KB) but answers no capacity, so it is counted as one.
type metered struct {
	*dynamodb.Client
	mu            sync.Mutex
	write, read   float64
	failedWrites  int
	writeRequests int
}

func (m *metered) add(write bool, cc ...types.ConsumedCapacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range cc {
		if c.CapacityUnits == nil {
			continue
		}
		if write {
			m.write += *c.CapacityUnits
		} else {
			m.read += *c.CapacityUnits
		}
	}
}

func (m *metered) wrote(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writeRequests++
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		m.failedWrites++
	}
}

const total = types.ReturnConsumedCapacityTotal

func (m *metered) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.Client.PutItem(ctx, in, o...)
	m.wrote(err)
	if err == nil && out.ConsumedCapacity != nil {
		m.add(true, *out.ConsumedCapacity)
	}
	return out, err
}

func (m *metered) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.Client.UpdateItem(ctx, in, o...)
	m.wrote(err)
	if err == nil && out.ConsumedCapacity != nil {
		m.add(true, *out.ConsumedCapacity)
	}
	return out, err
}

func (m *metered) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.Client.BatchWriteItem(ctx, in, o...)
	m.wrote(err)
	if err == nil {
		m.add(true, out.ConsumedCapacity...)
	}
	return out, err
}

func (m *metered) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.Client.TransactWriteItems(ctx, in, o...)
	m.wrote(err)
	if err == nil {
		m.add(true, out.ConsumedCapacity...)
	}
	return out, err
}

func (m *metered) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.Client.GetItem(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil {
		m.add(false, *out.ConsumedCapacity)
	}
	return out, err
}

func (m *metered) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.Client.Query(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil {
		m.add(false, *out.ConsumedCapacity)
	}
	return out, err
}

func (m *metered) units() float64 { return m.write + float64(m.failedWrites) }

// simulatorPayload is a message as the simulator sends it (four values of
// a valve, or a gauge's kpa), with values of the simulator's precision.
func simulatorPayload(kind string, ts time.Time, i int) []byte {
	sec := float64(ts.UnixMilli()) / 1000
	if kind == domain.DeviceGauge {
		return fmt.Appendf(nil, `{"ts":%.3f,"kpa":%.1f}`, sec, 2400+float64(i%50)/10)
	}
	return fmt.Appendf(nil, `{"ts":%.3f,"temperature_c":%.2f,"pressure_pa":%d,"flow_rate_lpm":%.1f,"torque_nm":0}`,
		sec, 42.37+float64(i%7)/100, 2_104_563+i, 1003.4+float64(i%9)/10)
}

func topic(d domain.Device) string {
	if d.Kind == domain.DeviceGauge {
		return "pipeline/pressure/" + d.Asset
	}
	return "plainview/devices/" + d.ID + "/telemetry"
}

// TestWriteUnitsPerReadingStayAtTheDesign counts the write units ingestion
// consumes for a telemetry batch, as DynamoDB Local reports them, and holds
// them at the figures of docs/data-model.md ("Write units per reading").
// Three shapes of a batch of about 100 messages: 12 readings from each of
// the 8 seed devices in a second; five readings a second apart from each
// of 19 valves (what the telemetry stream's 5 s batching window gathers
// from devices that report every second, docs/decisions.md); and one
// reading from each of 96 valves (what a queue shared by many pollers
// gathered). Every batch comes a second time (a redelivery), which stores
// nothing. The batch starts 10 s into a UTC minute, so each device's
// readings fall in one minute's block, as they do in all but about one
// in fifteen 5 s windows.
func TestWriteUnitsPerReadingStayAtTheDesign(t *testing.T) {
	for _, tt := range []struct {
		name    string
		devices int           // how many devices send; beyond the 8 seed ones, new valves
		each    int           // readings a device
		apart   time.Duration // between a device's readings
		design  float64       // write units per reading, docs/data-model.md
	}{
		{"12 readings from each of 8 devices", 8, 12, time.Second / 12, 0.344},
		{"5 readings a second apart from each of 19 devices", 19, 5, time.Second, 0.863},
		{"1 reading from each of 96 devices", 96, 1, time.Second, 4.021},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, table := dynamotest.Client(t)
			m := &metered{Client: db}
			st := store.New(m, table, nil)
			ctx := context.Background()
			if err := st.CreateTable(ctx); err != nil {
				t.Fatal(err)
			}
			if err := st.Seed(ctx); err != nil {
				t.Fatal(err)
			}
			devices := domain.SeedDevices()
			// Half past an hour: the warm-up and the batch share an hour, so
			// no hourly roll-up is written (its units are counted apart).
			now := time.Now().UTC().Truncate(time.Hour).Add(-30*time.Minute + 10*time.Second)
			for i := len(devices); i < tt.devices; i++ {
				v := domain.Valve{ID: fmt.Sprintf("v-%d", 200+i), Name: "metered"}
				if err := st.CreateValve(ctx, v, domain.NewEvent(domain.EventInventoryChanged, v.ID, "", now, nil)); err != nil {
					t.Fatal(err)
				}
				devices = append(devices, domain.Device{ID: v.ID, Kind: domain.DeviceValve, Asset: v.ID})
			}
			devices = devices[:tt.devices]
			var batch []topics.Message
			for r := range tt.each {
				for i, d := range devices {
					at := now.Add(time.Duration(r)*tt.apart + time.Duration(i)*time.Millisecond)
					batch = append(batch, topics.NewMessage(topic(d), d.ID, simulatorPayload(d.Kind, at, r*100+i), now.UnixMilli()))
				}
			}
			n := notify.NewLog(slog.New(slog.DiscardHandler))
			svc := ingest.New(st, leaks.New(st, n, nil, nil), n, nil, func() time.Time { return now.Add(6 * time.Second) }, nil).WithAnomalies(st)
			// The valves' first readings record their status once; what a
			// batch costs from then on is what is measured.
			if failed := svc.HandleBatch(ctx, warmUp(devices, now.Add(-time.Minute))); len(failed) != 0 {
				t.Fatalf("warm-up failed %v", failed)
			}
			m.write, m.read, m.failedWrites, m.writeRequests = 0, 0, 0, 0
			if failed := svc.HandleBatch(ctx, batch); len(failed) != 0 {
				t.Fatalf("failed %v", failed)
			}
			perReading := m.units() / float64(len(batch))
			t.Logf("%d readings: %.0f write units (%d conditional writes failed), %d write requests: %.3f write units a reading; %.1f read units",
				len(batch), m.units(), m.failedWrites, m.writeRequests, perReading, m.read)
			if math.Abs(perReading-tt.design) > 0.0005 {
				t.Errorf("%.3f write units a reading, design %.3f (docs/data-model.md)", perReading, tt.design)
			}

			// Delivered again: nothing is written but the device lookups'
			// reads and the anomaly history.
			m.write, m.failedWrites = 0, 0
			if failed := svc.HandleBatch(ctx, batch); len(failed) != 0 {
				t.Fatalf("again: failed %v", failed)
			}
			if m.units() != 0 {
				t.Errorf("the batch delivered again wrote %.1f units, want none", m.units())
			}
			ids, err := st.StoredReadingIDs(ctx)
			if err != nil || len(ids) != len(batch)+len(devices) {
				t.Errorf("%d readings stored, %v; want %d, each once", len(ids), err, len(batch)+len(devices))
			}
		})
	}
}

// warmUp is one reading of each device, a minute before the batch.
func warmUp(devices []domain.Device, at time.Time) []topics.Message {
	var out []topics.Message
	for i, d := range devices {
		out = append(out, topics.NewMessage(topic(d), d.ID, simulatorPayload(d.Kind, at.Add(time.Duration(i)*time.Millisecond), i), at.UnixMilli()))
	}
	return out
}
