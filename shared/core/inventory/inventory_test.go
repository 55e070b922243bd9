package inventory_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/inventory"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// These tests run the service over the real store on DynamoDB Local (what
// a version condition does there); rules_test.go runs the rules case by
// case over an in-memory store.

func seeded(t *testing.T) *store.Store {
	t.Helper()
	s := dynamotest.Store(t)
	if err := s.Seed(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// meddler changes the valve through the real store just before the
// service's first write lands, as another admin's request would.
type meddler struct {
	*store.Store
	once func()
}

func (m *meddler) UpdateValve(ctx context.Context, v domain.Valve, from int, ev domain.Event) error {
	if m.once != nil {
		f := m.once
		m.once = nil
		f()
	}
	return m.Store.UpdateValve(ctx, v, from, ev)
}

func TestAChangeThatMeetsAnotherIsAppliedOnTopOfIt(t *testing.T) {
	s := seeded(t)
	other := inventory.New(s, nil)
	m := &meddler{Store: s}
	m.once = func() {
		if _, err := other.ChangeValve(t.Context(), inventory.ValveChange{ID: "v-101", Location: inventory.Field[string]{Set: true, Value: ptr("pad 7")}, KeyID: "other"}); err != nil {
			t.Errorf("the other change: %v", err)
		}
	}
	svc := inventory.New(m, nil)
	v, err := svc.ChangeValve(t.Context(), inventory.ValveChange{ID: "v-101", Name: inventory.Field[string]{Set: true, Value: ptr("Wellhead A1 (east)")}, KeyID: "admin"})
	if err != nil {
		t.Fatalf("the change that met another: %v", err)
	}
	got, err := s.Valve(t.Context(), "v-101")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Wellhead A1 (east)" || got.Location != "pad 7" || v.Location != "pad 7" {
		t.Errorf("after both changes: %+v (answered %+v); want both", got, v)
	}
}

func TestPartialThresholdsKeepTheOthers(t *testing.T) {
	s := seeded(t)
	svc := inventory.New(s, nil)
	v, err := svc.CreateValve(t.Context(), inventory.NewValve{ID: "v-200", Name: "Bypass D4",
		Thresholds: &inventory.PartialThresholds{TemperatureWarningC: ptr(40.0)}, KeyID: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	want := domain.DefaultThresholds()
	want.TemperatureWarningC = 40
	if v.Thresholds == nil || *v.Thresholds != want {
		t.Fatalf("thresholds = %+v, want the defaults but 40 °C", v.Thresholds)
	}
	// A later change of one threshold keeps the valve's own others.
	v, err = svc.ChangeValve(t.Context(), inventory.ValveChange{ID: "v-200", KeyID: "admin",
		Thresholds: inventory.Field[inventory.PartialThresholds]{Set: true, Value: &inventory.PartialThresholds{PressureOfflinePa: ptr(3_500_000.0)}}})
	if err != nil {
		t.Fatal(err)
	}
	want.PressureOfflinePa = 3_500_000
	if *v.Thresholds != want {
		t.Errorf("thresholds = %+v, want %+v", *v.Thresholds, want)
	}
}

func TestEveryChangeIsAnEventNamingWhatChanged(t *testing.T) {
	s := seeded(t)
	// A clock that moves a second a call, so that the events, which are
	// ordered by id and so by time, come in the order they were made.
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	svc := inventory.New(s, clock)
	ctx := t.Context()
	if _, err := svc.ChangeValve(ctx, inventory.ValveChange{ID: "v-102", KeyID: "admin",
		Location:             inventory.Field[string]{Set: true, Value: ptr("manifold B")},
		EstimatedMaintenance: inventory.Field[time.Time]{Set: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RetireValve(ctx, "v-102", "admin"); err != nil {
		t.Fatal(err)
	}
	evs, _, err := s.Events(ctx, domain.EventFilter{Type: domain.EventInventoryChanged, Asset: "v-102"}, domain.Page{Limit: 10})
	if err != nil || len(evs) != 2 {
		t.Fatalf("events = %+v, %v", evs, err)
	}
	var data []map[string]any
	for _, e := range evs {
		var d map[string]any
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if e.KeyID != "admin" || e.At.Before(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("event %+v: want key admin at the service's time", e)
		}
		data = append(data, d)
	}
	// Newest first.
	if data[0]["action"] != "retired" || data[1]["action"] != "changed" || data[1]["kind"] != "valve" {
		t.Errorf("event data = %v", data)
	}
	if f, _ := data[1]["fields"].([]any); len(f) != 2 || f[0] != "location" || f[1] != "estimated_maintenance" {
		t.Errorf("fields = %v, want location and estimated_maintenance", data[1]["fields"])
	}
	if _, err := svc.RetireValve(ctx, "v-102", "admin"); !isRule(err, "valve_retired") {
		t.Errorf("retiring twice: %v", err)
	}
}

func isRule(err error, code string) bool {
	var r *domain.RuleError
	return errors.As(err, &r) && r.Code == code
}
