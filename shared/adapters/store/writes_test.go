package store_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/leaks"
)

func ev(typ, asset string, at time.Time) domain.Event {
	return domain.Event{ID: domain.NewID("evt", at), Type: typ, At: at, Asset: asset, Data: json.RawMessage(`{}`)}
}

func TestAnActuationHoldsItsValveUntilItEnds(t *testing.T) {
	s := seeded(t)
	now := time.Now().UTC()
	a := domain.Actuation{ID: domain.NewID("act", now), ValveID: "v-101", Command: "OPEN", State: domain.ActuationQueued, RequestedAt: now, Deadline: now.Add(30 * time.Second)}
	if err := s.StartActuation(ctx, a, ev(domain.EventActuationRequested, "v-101", now), nil); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Valve(ctx, "v-101")
	if v.OpenActuation != a.ID || !v.Busy(now) {
		t.Fatalf("valve = %+v", v)
	}
	b := a
	b.ID = domain.NewID("act", now)
	if err := s.StartActuation(ctx, b, ev(domain.EventActuationRequested, "v-101", now), nil); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("second open actuation: err = %v, want ErrConflict", err)
	}
	err := s.MoveActuation(ctx, actuation.Transition{ValveID: "v-101", ActuationID: a.ID, From: []string{domain.ActuationQueued},
		To: domain.ActuationRejected, Reason: domain.ReasonUndeliverable, At: now, Final: true, Event: ev(domain.EventActuationRejected, "v-101", now)})
	if err != nil {
		t.Fatal(err)
	}
	v, _ = s.Valve(ctx, "v-101")
	if v.OpenActuation != "" || v.Busy(now) {
		t.Fatalf("a final state must free the valve: %+v", v)
	}
	got, _ := s.Actuation(ctx, "v-101", a.ID)
	if got.State != domain.ActuationRejected || got.Reason != domain.ReasonUndeliverable || got.CompletedAt == nil {
		t.Errorf("actuation = %+v", got)
	}
	// Forward only: a rejected actuation does not become sent.
	err = s.MoveActuation(ctx, actuation.Transition{ValveID: "v-101", ActuationID: a.ID, From: []string{domain.ActuationQueued},
		To: domain.ActuationSent, At: now, Event: ev(domain.EventActuationSent, "v-101", now)})
	if !errors.Is(err, domain.ErrConflict) {
		t.Errorf("backwards move: err = %v", err)
	}
}

func TestARepairedAlertLeavesTheActiveSet(t *testing.T) {
	s := seeded(t)
	now := time.Now().UTC()
	in := domain.Incident{ID: domain.NewID("inc", now), Title: "Leak", Severity: domain.SeverityWarning, Status: domain.IncidentActive, StartedAt: now, UpdatedAt: now, Version: 1}
	al := domain.Alert{ID: "leak-1", Section: "A-North", Severity: domain.LeakMinor, Status: domain.AlertActive, CreatedAt: now, IncidentID: in.ID}
	if err := s.RecordLeak(ctx, leaks.Leak{Alert: al, Incident: in, NewIncident: true,
		Timeline: []domain.TimelineEntry{{At: now, Kind: "created"}}, Events: []domain.Event{ev(domain.EventAlertCreated, "A-North", now)}}); err != nil {
		t.Fatal(err)
	}
	if sec, _ := s.Section(ctx, "A-North"); sec.LastIncident != in.ID {
		t.Errorf("section's last incident = %q", sec.LastIncident)
	}
	if err := s.RecordLeak(ctx, leaks.Leak{Alert: al, Incident: in, Events: []domain.Event{ev(domain.EventAlertCreated, "A-North", now)}}); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("the same alert twice: err = %v", err)
	}
	err := s.ChangeAlert(ctx, leaks.AlertChange{AlertID: "leak-1", From: []string{domain.AlertActive, domain.AlertAcknowledged},
		To: domain.AlertRepaired, At: now, Event: ev(domain.EventAlertResolved, "A-North", now)})
	if err != nil {
		t.Fatal(err)
	}
	active, err := s.ActiveAlerts(ctx, "")
	if err != nil || len(active) != 0 {
		t.Errorf("active after repair = %+v, %v", active, err)
	}
	got, _ := s.Alert(ctx, "leak-1")
	if got.Status != domain.AlertRepaired || got.ResolvedAt == nil {
		t.Errorf("alert = %+v", got)
	}
	// Forward only: a repaired alert is not acknowledged afterwards.
	err = s.ChangeAlert(ctx, leaks.AlertChange{AlertID: "leak-1", From: []string{domain.AlertActive},
		To: domain.AlertAcknowledged, At: now, Event: ev(domain.EventAlertAcknowledged, "A-North", now)})
	if !errors.Is(err, domain.ErrConflict) {
		t.Errorf("acknowledging a repaired alert: err = %v, want ErrConflict", err)
	}
}

func TestUpdatingAnIncidentChecksItsVersionAndResolvingLeavesTheUnresolvedSet(t *testing.T) {
	s := seeded(t)
	now := time.Now().UTC()
	in := domain.Incident{ID: domain.NewID("inc", now), Title: "t", Severity: domain.SeverityWarning, Status: domain.IncidentActive, StartedAt: now.Add(-30 * time.Minute), UpdatedAt: now, Version: 1}
	if err := s.CreateIncident(ctx, in, domain.TimelineEntry{At: now, Kind: "created"}, ev(domain.EventIncidentCreated, in.ID, now)); err != nil {
		t.Fatal(err)
	}
	after := in
	after.Status, after.Version, after.RootCause = domain.IncidentInvestigating, 2, "seal"
	if err := s.UpdateIncident(ctx, in, after, []domain.TimelineEntry{{At: now, Kind: "status"}}, ev(domain.EventIncidentUpdated, in.ID, now)); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateIncident(ctx, in, after, nil, ev(domain.EventIncidentUpdated, in.ID, now)); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("stale version: err = %v", err)
	}
	resolved := after
	resolved.Status, resolved.Version, resolved.ResolvedAt = domain.IncidentResolved, 3, &now
	if err := s.UpdateIncident(ctx, after, resolved, nil, ev(domain.EventIncidentUpdated, in.ID, now)); err != nil {
		t.Fatal(err)
	}
	open, _ := s.UnresolvedIncidents(ctx)
	if len(open) != 0 {
		t.Errorf("unresolved after resolving = %+v", open)
	}
	c, _ := s.IncidentCounts(ctx)
	if c.Total != 1 || c.Resolved != 1 || c.ResolutionMinutesTotal < 29.9 || c.ResolutionMinutesTotal > 30.1 {
		t.Errorf("counts = %+v", c)
	}
}
