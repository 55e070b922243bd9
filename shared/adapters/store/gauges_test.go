package store_test

import (
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/leaks"
)

func TestGaugesCountUnresolvedIncidentsAndActiveLeaks(t *testing.T) {
	s := seeded(t)
	g, err := s.Gauges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g != (store.Gauges{}) {
		t.Fatalf("a fresh inventory: %+v, want nothing open", g)
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	incidents := []domain.Incident{
		{ID: domain.NewID("inc", now.Add(-2*time.Hour)), Title: "a", Severity: domain.SeverityWarning, Status: domain.IncidentActive, StartedAt: now.Add(-2 * time.Hour), Version: 1},
		{ID: domain.NewID("inc", now.Add(-time.Hour)), Title: "b", Severity: domain.SeverityCritical, Status: domain.IncidentActive, StartedAt: now.Add(-time.Hour), Version: 1},
		{ID: domain.NewID("inc", now.Add(-30*time.Minute)), Title: "c", Severity: domain.SeverityWarning, Status: domain.IncidentActive, StartedAt: now.Add(-30 * time.Minute), Version: 1},
	}
	for _, in := range incidents {
		commit(t, s, func(tx *store.Tx) { tx.PutIncident(in) })
	}
	alerts := []domain.Alert{
		{ID: "leak-1", Section: "A-North", Severity: domain.LeakMinor, Status: domain.AlertActive, CreatedAt: now.Add(-3 * time.Minute)},
		{ID: "leak-2", Section: "B-Central", Severity: domain.LeakCritical, Status: domain.AlertActive, CreatedAt: now.Add(-2 * time.Minute)},
		{ID: "leak-3", Section: "A-North", Severity: domain.LeakMajor, Status: domain.AlertRepaired, CreatedAt: now.Add(-time.Minute)},
	}
	for _, a := range alerts {
		commit(t, s, func(tx *store.Tx) { tx.PutAlert(a) })
	}
	if g, err = s.Gauges(ctx); err != nil || g != (store.Gauges{OpenIncidents: 3, ActiveLeaks: 2}) {
		t.Fatalf("gauges = %+v, %v; want 3 open incidents, 2 active leaks", g, err)
	}

	// Leaving a set moves the index key, not the item: the count follows.
	resolved := incidents[1]
	resolved.Status, resolved.Version, resolved.UpdatedAt = domain.IncidentResolved, 2, now
	resolved.ResolvedAt, resolved.Resolution = &now, "patched"
	if err := s.UpdateIncident(ctx, incidents[1], resolved, nil, domain.NewEvent(domain.EventIncidentUpdated, resolved.ID, "", now, nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.ChangeAlert(ctx, leaks.AlertChange{AlertID: "leak-1", From: []string{domain.AlertActive}, To: domain.AlertRepaired, At: now,
		Event: domain.NewEvent(domain.EventAlertResolved, "A-North", "", now, nil)}); err != nil {
		t.Fatal(err)
	}
	if g, err = s.Gauges(ctx); err != nil || g != (store.Gauges{OpenIncidents: 2, ActiveLeaks: 1}) {
		t.Errorf("after a resolution and a repair: %+v, %v; want 2 and 1", g, err)
	}
}
