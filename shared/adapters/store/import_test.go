package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
)

func ended(valve string, at time.Time, state string) store.ImportedActuation {
	done, torque, ms := at.Add(2*time.Second), 50.0, int64(2000)
	id := fmt.Sprintf("act-%014x%016x", at.UnixMicro(), 1)
	a := domain.Actuation{ID: id, ValveID: valve, Command: domain.CommandTorqueTest, State: state,
		RequestedAt: at, Deadline: at.Add(domain.ActuationTimeout), CompletedAt: &done, TorqueNm: &torque, DurationMs: &ms}
	return store.ImportedActuation{Actuation: a, Event: ev(domain.EventActuationCompleted, valve, done)}
}

func TestImportedActuationsAreEndedAndNeverWrittenTwice(t *testing.T) {
	s := seeded(t)
	at := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	var acts []store.ImportedActuation
	for i := range 60 { // two transactions
		acts = append(acts, ended("v-101", at.Add(time.Duration(i)*time.Minute), domain.ActuationSucceeded))
	}
	if err := s.ImportActuations(ctx, acts); err != nil {
		t.Fatal(err)
	}
	ids, err := s.ActuationIDs(ctx, "v-101")
	if err != nil || len(ids) != 60 || !ids[acts[59].Actuation.ID] {
		t.Fatalf("ids = %d, %v", len(ids), err)
	}
	// Ended: not open on the valve, not waiting for a timeout.
	v, _ := s.Valve(ctx, "v-101")
	if v.OpenActuation != "" {
		t.Errorf("valve = %+v", v)
	}
	got, err := s.Actuation(ctx, "v-101", acts[0].Actuation.ID)
	if err != nil || got.State != domain.ActuationSucceeded || *got.DurationMs != 2000 || !got.RequestedAt.Equal(at) {
		t.Errorf("actuation = %+v, %v", got, err)
	}

	// A transaction holding one actuation already there writes none of
	// its others.
	again := []store.ImportedActuation{ended("v-101", at.Add(-time.Hour), domain.ActuationFailed), acts[3]}
	if err := s.ImportActuations(ctx, again); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if _, err := s.Actuation(ctx, "v-101", again[0].Actuation.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("half a transaction was written: %v", err)
	}
	if ids, _ := s.ActuationIDs(ctx, "v-102"); len(ids) != 0 {
		t.Errorf("another valve's ids: %v", ids)
	}
}

func TestTheLastActuationIsSetOnlyOverWhatWasRead(t *testing.T) {
	s := seeded(t)
	first := time.Date(2025, 3, 4, 10, 0, 0, 123456000, time.UTC)
	torque := 48.5
	if err := s.SetLastActuation(ctx, store.LastActuation{ValveID: "v-101", At: first, TorqueNm: &torque}); err != nil {
		t.Fatal(err)
	}
	// Seen nil means "had none": it has one now.
	if err := s.SetLastActuation(ctx, store.LastActuation{ValveID: "v-101", At: first.Add(time.Hour)}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("err = %v", err)
	}
	v, _ := s.Valve(ctx, "v-101")
	if !v.LastActuationTime.Equal(first) || *v.LastTorqueNm != 48.5 {
		t.Fatalf("valve = %+v", v)
	}
	// Seen as read: it moves, and a nil torque leaves the torque alone.
	if err := s.SetLastActuation(ctx, store.LastActuation{ValveID: "v-101", Seen: v.LastActuationTime, At: first.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	v, _ = s.Valve(ctx, "v-101")
	if !v.LastActuationTime.Equal(first.Add(time.Hour)) || *v.LastTorqueNm != 48.5 {
		t.Errorf("valve = %+v", v)
	}
	if err := s.SetLastActuation(ctx, store.LastActuation{ValveID: "v-999", At: first}); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("an unknown valve: err = %v", err)
	}
	if _, err := s.Valve(ctx, "v-999"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the update created a valve: %v", err)
	}
}

func TestAnImportedIncidentAppearsWithItsLastTransaction(t *testing.T) {
	s := seeded(t)
	start := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	resolved := start.Add(90 * time.Minute)
	in := domain.Incident{ID: "inc-old-1", Title: "Old", Severity: domain.SeverityCritical, Status: domain.IncidentResolved,
		AffectedModules: []string{}, StartedAt: start, UpdatedAt: resolved, ResolvedAt: &resolved, Version: 1}
	var entries []store.ImportedEntry
	for i := range 130 {
		entries = append(entries, store.ImportedEntry{
			Entry: domain.TimelineEntry{At: start.Add(time.Duration(i) * time.Second), Kind: "note", Message: fmt.Sprint("entry ", i)},
			Hash:  fmt.Sprintf("%08x", i), Metadata: `{"i":1}`,
		})
	}
	imp := store.ImportedIncident{Incident: in, New: true, LegacyID: "OLD 1", AlertIDs: []string{"alert-1"}, Timeline: entries,
		Event: ev(domain.EventIncidentCreated, in.ID, start)}
	if err := s.ImportIncident(ctx, imp); err != nil {
		t.Fatal(err)
	}
	rec, err := s.IncidentRecord(ctx, in.ID)
	if err != nil || !rec.Found || rec.LegacyID != "OLD 1" || len(rec.TimelineKeys) != 130 || !rec.TimelineKeys[entries[7].Key()] {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	got, tl, err := s.Incident(ctx, in.ID)
	if err != nil || got.Status != domain.IncidentResolved || len(tl) != 130 || tl[0].Message != "entry 129" {
		t.Fatalf("incident = %+v, %d entries, %v", got, len(tl), err)
	}
	// Resolved: counted with its time to resolution, not among the
	// unresolved.
	if c, _ := s.IncidentCounts(ctx); c.Total != 1 || c.Resolved != 1 || c.ResolutionMinutesTotal != 90 {
		t.Errorf("counts = %+v", c)
	}
	if un, _ := s.UnresolvedIncidents(ctx); len(un) != 0 {
		t.Errorf("unresolved = %+v", un)
	}
	// Again: the incident is there, so nothing of it is written.
	if err := s.ImportIncident(ctx, store.ImportedIncident{Incident: in, New: true, Event: ev(domain.EventIncidentCreated, in.ID, start)}); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("second import: err = %v", err)
	}
	if c, _ := s.IncidentCounts(ctx); c.Total != 1 {
		t.Errorf("counted twice: %+v", c)
	}
}

func TestTimelineKeysAndAnIncidentNeverImported(t *testing.T) {
	s := seeded(t)
	at := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	e := store.ImportedEntry{Entry: domain.TimelineEntry{At: at, Kind: "note", Message: "m"}, Seq: 2, Hash: "abcd0123"}
	if want := "TL#2025-03-04T10:00:00.000Z#0002#abcd0123"; e.Key() != want {
		t.Errorf("key = %s, want %s", e.Key(), want)
	}
	rec, err := s.IncidentRecord(ctx, "inc-none")
	if err != nil || rec.Found || len(rec.TimelineKeys) != 0 {
		t.Errorf("record = %+v, %v", rec, err)
	}
}
