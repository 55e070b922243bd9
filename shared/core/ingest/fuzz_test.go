package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/leaks"
)

// memory is an in-memory Store for fuzzing the parsers: the logic under
// test is the validation, not the store (which has its own tests against
// a DynamoDB-compatible server).
type memory struct {
	readings, dead int
}

func (m *memory) Device(_ context.Context, id string) (domain.Device, error) {
	for _, d := range domain.SeedDevices() {
		if d.ID == id {
			return d, nil
		}
	}
	return domain.Device{}, domain.ErrNotFound
}

func (m *memory) Actuation(_ context.Context, valveID, id string) (domain.Actuation, error) {
	if id == "act-1" {
		return domain.Actuation{ID: id, ValveID: valveID, State: domain.ActuationSent, RequestedAt: time.Unix(0, 0)}, nil
	}
	return domain.Actuation{}, domain.ErrNotFound
}

func (m *memory) ApplyStatus(context.Context, actuation.Progress) error { return nil }

func (m *memory) PutReadings(_ context.Context, r []domain.Reading, _ time.Duration) error {
	m.readings += len(r)
	return nil
}

func (m *memory) Readings(context.Context, string, time.Time, time.Time, domain.Page) ([]domain.Reading, string, error) {
	return nil, "", nil
}

func (m *memory) AddFlow(context.Context, []domain.Reading) error { return nil }

func (m *memory) RollUp(context.Context, string, time.Time) error { return nil }

func (m *memory) HasRollup(context.Context, string, time.Time) (bool, error) { return false, nil }

func (m *memory) Latest(context.Context, domain.Device, time.Time, map[string]float64) (domain.Valve, domain.ValveStatus, error) {
	return domain.Valve{}, "", nil
}

func (m *memory) RecordValveStatus(context.Context, string, domain.ValveStatus) (bool, error) {
	return false, nil
}

func (m *memory) PutDeadLetter(context.Context, domain.DeadLetter) error {
	m.dead++
	return nil
}

// acceptLeaks takes every report it is handed, and notes them.
type acceptLeaks struct{ reports []leaks.Report }

func (a *acceptLeaks) Report(_ context.Context, r leaks.Report) (leaks.Result, error) {
	a.reports = append(a.reports, r)
	return leaks.Result{Alert: domain.Alert{ID: r.ID}}, nil
}

// FuzzIngest: whatever a device sends on any topic, ingestion never
// panics, never reports an error a retry could fix (the fake store never
// fails), every telemetry message is either stored or dead-lettered, and
// a leak is reported only by a section's own gauge, on that section.
func FuzzIngest(f *testing.F) {
	for _, s := range []struct{ topic, client, payload string }{
		{"plainview/devices/v-101/telemetry", "v-101", `{"ts":1795000000,"temperature_c":41.5,"pressure_pa":2100000}`},
		{"pipeline/pressure/A-North", "A-North", `{"ts":1795000000,"kpa":2400}`},
		{"valves/v-101/status", "v-101", `{"state":"DONE","request_id":"act-1","torque_nm":50}`},
		{"valves/v-101/status", "v-101", `{"state":"ERROR","request_id":"act-1","interlocks":{"over_torque":true}}`},
		{"plainview/leaks", "B-Central", `{"id":"l-1","asset_id":"B-Central","class":"OIL","severity":"HIGH","confidence":0.9}`},
		{"plainview/devices/v-101/telemetry", "v-102", `{"temperature_c":40}`},
		{"valves/v-101/status", "v-101", `not json`},
		{"plainview/leaks", "nobody", `{}`},
	} {
		f.Add(s.topic, s.client, []byte(s.payload))
	}
	f.Fuzz(func(t *testing.T, topic, client string, payload []byte) {
		mem, reported := &memory{}, &acceptLeaks{}
		svc := New(mem, reported, nil, nil, func() time.Time { return time.Unix(1_795_000_000, 0) }, nil)
		m := topics.NewMessage(topic, client, payload, 1_795_000_000_000)
		if topics.TargetOf(topic) == topics.Stream {
			if failed := svc.HandleBatch(context.Background(), []topics.Message{m}); len(failed) != 0 {
				t.Fatalf("a batch failed with a store that cannot fail: %v", failed)
			}
			if mem.readings+mem.dead != 1 {
				t.Fatalf("telemetry %q on %s: %d stored, %d dead letters; want exactly one of them", payload, topic, mem.readings, mem.dead)
			}
			return
		}
		if err := svc.Handle(context.Background(), m); err != nil {
			t.Fatalf("Handle(%s, %q) = %v", topic, payload, err)
		}
		for _, r := range reported.reports {
			d, err := mem.Device(context.Background(), client)
			if err != nil || d.Kind != domain.DeviceGauge || d.Asset != r.Section || r.Reporter != client {
				t.Fatalf("%s reported a leak on %q", client, r.Section)
			}
		}
	})
}
