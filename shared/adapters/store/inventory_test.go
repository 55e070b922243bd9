package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
)

func TestAValveCreatedIsListedWithItsDeviceAndItsEvent(t *testing.T) {
	s := seeded(t)
	now := time.Now().UTC().Truncate(time.Second)
	due := now.Add(30 * 24 * time.Hour)
	own := &domain.Thresholds{TemperatureWarningC: 50, TemperatureOfflineC: 70, PressureWarningPa: 2_000_000, PressureOfflinePa: 2_500_000}
	v := domain.Valve{ID: "v-200", Name: "Bypass D4", Location: "km 12.5", EstimatedMaintenance: &due, Thresholds: own}
	if err := s.CreateValve(ctx, v, ev(domain.EventInventoryChanged, "v-200", now)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Valve(ctx, "v-200")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Bypass D4" || got.Location != "km 12.5" || got.Thresholds == nil || *got.Thresholds != *own ||
		got.EstimatedMaintenance == nil || !got.EstimatedMaintenance.Equal(due) || got.RetiredAt != nil {
		t.Errorf("valve = %+v", got)
	}
	d, err := s.Device(ctx, "v-200")
	if err != nil || d.Kind != domain.DeviceValve || d.Asset != "v-200" {
		t.Errorf("device = %+v, %v", d, err)
	}
	evs, _, err := s.Events(ctx, domain.EventFilter{Type: domain.EventInventoryChanged}, domain.Page{Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Asset != "v-200" {
		t.Errorf("events = %+v, %v", evs, err)
	}
	// The id is taken now, and so is any device id: a section may not be
	// named after a valve.
	if err := s.CreateValve(ctx, v, ev(domain.EventInventoryChanged, "v-200", now)); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("the same id again: %v, want ErrConflict", err)
	}
	if err := s.CreateSection(ctx, domain.Section{Name: "v-200"}, ev(domain.EventInventoryChanged, "v-200", now)); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("a section named after the valve: %v, want ErrConflict", err)
	}
	if _, err := s.Section(ctx, "v-200"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the refused section was written: %v", err)
	}
}

func TestAValveChangeNamesTheVersionItWasMadeFrom(t *testing.T) {
	s := seeded(t)
	now := time.Now().UTC()
	rec, err := s.ValveRecord(ctx, "v-101") // a seed valve: version 0
	if err != nil {
		t.Fatal(err)
	}
	changed := rec.Valve
	changed.Name, changed.Location, changed.EstimatedMaintenance = "Wellhead A1 (new)", "pad 7", nil
	changed.Thresholds = &domain.Thresholds{TemperatureWarningC: 30, TemperatureOfflineC: 40, PressureWarningPa: 1_000_000, PressureOfflinePa: 1_500_000}
	if err := s.UpdateValve(ctx, changed, rec.Version, ev(domain.EventInventoryChanged, "v-101", now)); err != nil {
		t.Fatal(err)
	}
	// A second change from the same reading comes too late.
	if err := s.UpdateValve(ctx, changed, rec.Version, ev(domain.EventInventoryChanged, "v-101", now)); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("a stale change: %v, want ErrConflict", err)
	}
	got, err := s.ValveRecord(ctx, "v-101")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != rec.Version+1 || got.Name != "Wellhead A1 (new)" || got.Location != "pad 7" ||
		got.EstimatedMaintenance != nil || got.Thresholds == nil || got.Thresholds.TemperatureOfflineC != 40 {
		t.Errorf("after the change: %+v (version %d)", got.Valve, got.Version)
	}
	// The readings the device reported are untouched.
	if got.TemperatureC == nil || *got.TemperatureC != *rec.TemperatureC {
		t.Errorf("readings changed: %v, was %v", got.TemperatureC, rec.TemperatureC)
	}
	// Back to the defaults.
	changed.Thresholds = nil
	if err := s.UpdateValve(ctx, changed, got.Version, ev(domain.EventInventoryChanged, "v-101", now)); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Valve(ctx, "v-101"); v.Thresholds != nil {
		t.Errorf("thresholds after clearing: %+v", v.Thresholds)
	}
}

func TestARetiredValveKeepsItsHistoryAndTakesNoCommand(t *testing.T) {
	s := seeded(t)
	now := time.Now().UTC()
	a := domain.Actuation{ID: domain.NewID("act", now), ValveID: "v-102", Command: "OPEN", State: domain.ActuationQueued, RequestedAt: now, Deadline: now.Add(-time.Second)}
	if err := s.StartActuation(ctx, a, ev(domain.EventActuationRequested, "v-102", now), nil); err != nil {
		t.Fatal(err)
	}
	rec, _ := s.ValveRecord(ctx, "v-102")
	if err := s.RetireValve(ctx, "v-102", rec.Version, now, ev(domain.EventInventoryChanged, "v-102", now)); err != nil {
		t.Fatal(err)
	}
	v, err := s.Valve(ctx, "v-102")
	if err != nil || v.RetiredAt == nil || v.Status(now) != domain.StatusRetired {
		t.Fatalf("retired valve = %+v, %v", v, err)
	}
	if acts, _, err := s.Actuations(ctx, "v-102", domain.Page{Limit: 10}); err != nil || len(acts) != 1 {
		t.Errorf("history after retiring: %d actuations, %v", len(acts), err)
	}
	vs, _ := s.Valves(ctx)
	for _, v := range vs {
		if v.ID == "v-102" {
			t.Error("a retired valve is still listed")
		}
	}
	if _, err := s.Device(ctx, "v-102"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the retired valve's device: %v, want ErrNotFound", err)
	}
	devs, _ := s.Devices(ctx)
	for _, d := range devs {
		if d.ID == "v-102" {
			t.Error("a retired device is still in the inventory")
		}
	}
	// Even when the caller read the valve before it was retired.
	b := domain.Actuation{ID: domain.NewID("act", now), ValveID: "v-102", Command: "OPEN", State: domain.ActuationQueued, RequestedAt: now, Deadline: now.Add(time.Minute)}
	closing := &actuation.Closing{ValveID: "v-102", ActuationID: a.ID, State: domain.ActuationTimedOut, At: now, Event: ev(domain.EventActuationTimedOut, "v-102", now)}
	if err := s.StartActuation(ctx, b, ev(domain.EventActuationRequested, "v-102", now), closing); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("an actuation of a retired valve: %v, want ErrConflict", err)
	}
	if err := s.RetireValve(ctx, "v-102", rec.Version+1, now, ev(domain.EventInventoryChanged, "v-102", now)); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("retiring twice: %v, want ErrConflict", err)
	}
}

func TestASectionIsCreatedChangedAndRetiredWithItsGauge(t *testing.T) {
	s := seeded(t)
	now := time.Now().UTC()
	if err := s.CreateSection(ctx, domain.Section{Name: "F-Spur", Location: "spur to the terminal"}, ev(domain.EventInventoryChanged, "F-Spur", now)); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Device(ctx, "F-Spur"); err != nil || d.Kind != domain.DeviceGauge || d.Asset != "F-Spur" {
		t.Errorf("gauge = %+v, %v", d, err)
	}
	rec, err := s.SectionRecord(ctx, "F-Spur")
	if err != nil || rec.Version != 1 || rec.Location != "spur to the terminal" {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	rec.Location = "spur to the north terminal"
	if err := s.UpdateSection(ctx, rec.Section, rec.Version, ev(domain.EventInventoryChanged, "F-Spur", now)); err != nil {
		t.Fatal(err)
	}
	if err := s.RetireSection(ctx, "F-Spur", rec.Version+1, now, ev(domain.EventInventoryChanged, "F-Spur", now)); err != nil {
		t.Fatal(err)
	}
	sec, err := s.Section(ctx, "F-Spur")
	if err != nil || sec.RetiredAt == nil || sec.Location != "spur to the north terminal" {
		t.Errorf("section = %+v, %v", sec, err)
	}
	secs, _ := s.Sections(ctx)
	for _, x := range secs {
		if x.Name == "F-Spur" {
			t.Error("a retired section is still listed")
		}
	}
	if err := s.UpdateSection(ctx, rec.Section, rec.Version+2, ev(domain.EventInventoryChanged, "F-Spur", now)); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("changing a retired section: %v, want ErrConflict", err)
	}
}
