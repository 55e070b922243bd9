package incidents_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/incidents"
)

// The rules of incident updates, over an in-memory store that keeps the
// real one's promise: an update lands only on the version it was computed
// from. The same rules against DynamoDB Local, end to end:
// shared/local/stack and shared/api/httpapi.

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

type fakeStore struct {
	incidents map[string]domain.Incident
	timelines map[string][]domain.TimelineEntry // newest first
	created   int
	updates   int // UpdateIncident calls, landed or not
	// meddle, when set, runs before each UpdateIncident with its attempt,
	// as another request would between the read and the write.
	meddle func(attempt int)
}

func newStore(in ...domain.Incident) *fakeStore {
	f := &fakeStore{incidents: map[string]domain.Incident{}, timelines: map[string][]domain.TimelineEntry{}}
	for _, i := range in {
		f.incidents[i.ID] = i
	}
	return f
}

func (f *fakeStore) Incident(_ context.Context, id string) (domain.Incident, []domain.TimelineEntry, error) {
	in, ok := f.incidents[id]
	if !ok {
		return domain.Incident{}, nil, domain.ErrNotFound
	}
	return in, f.timelines[id], nil
}

func (f *fakeStore) CreateIncident(_ context.Context, in domain.Incident, entry domain.TimelineEntry, _ domain.Event) error {
	if _, ok := f.incidents[in.ID]; ok {
		return domain.ErrConflict
	}
	f.created++
	f.incidents[in.ID] = in
	f.timelines[in.ID] = []domain.TimelineEntry{entry}
	return nil
}

func (f *fakeStore) UpdateIncident(_ context.Context, before, after domain.Incident, entries []domain.TimelineEntry, _ domain.Event) error {
	f.updates++
	if f.meddle != nil {
		f.meddle(f.updates)
	}
	if f.incidents[before.ID].Version != before.Version {
		return domain.ErrConflict
	}
	f.incidents[after.ID] = after
	for _, e := range entries {
		f.timelines[after.ID] = append([]domain.TimelineEntry{e}, f.timelines[after.ID]...)
	}
	return nil
}

type notifier struct{ subjects []string }

func (n *notifier) Notify(_ context.Context, subject, _ string) error {
	n.subjects = append(n.subjects, subject)
	return nil
}

func service(st *fakeStore) (*incidents.Service, *notifier) {
	n := &notifier{}
	return incidents.New(st, n, func() time.Time { return now }, nil), n
}

func active(id string, version int) domain.Incident {
	return domain.Incident{ID: id, Title: "Pump 3 vibration", Severity: domain.SeverityWarning, Status: domain.IncidentActive,
		StartedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour), Version: version}
}

// Opening by hand: what a person types is checked, a critical incident
// pages the operators, and the answer is what was written.
func TestOpeningAnIncident(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opening incidents.Opening
		invalid bool
		paged   bool
	}{
		{"a warning", incidents.Opening{Title: "Pump 3 vibration", Severity: domain.SeverityWarning}, false, false},
		{"a critical one pages", incidents.Opening{Title: "Fire at B2", Severity: domain.SeverityCritical}, false, true},
		{"with modules", incidents.Opening{Title: "x", Severity: domain.SeverityInfo, AffectedModules: []string{"valve-ops", "incidents"}}, false, false},
		{"a blank title", incidents.Opening{Title: "   ", Severity: domain.SeverityInfo}, true, false},
		{"a title too long", incidents.Opening{Title: strings.Repeat("t", incidents.MaxTitle+1), Severity: domain.SeverityInfo}, true, false},
		{"a leak's severity word", incidents.Opening{Title: "x", Severity: domain.LeakMajor}, true, false},
		{"an unknown module", incidents.Opening{Title: "x", Severity: domain.SeverityInfo, AffectedModules: []string{"mission-control"}}, true, false},
		{"a description too long", incidents.Opening{Title: "x", Severity: domain.SeverityInfo, Description: strings.Repeat("d", incidents.MaxText+1)}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore()
			svc, n := service(st)
			in, tl, err := svc.Create(t.Context(), tc.opening)
			if tc.invalid {
				if !errors.Is(err, domain.ErrInvalid) || st.created != 0 || len(n.subjects) != 0 {
					t.Errorf("err = %v, %d created, pages %v: want ErrInvalid, nothing written, no page", err, st.created, n.subjects)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stored := st.incidents[in.ID]
			if st.created != 1 || stored.Status != domain.IncidentActive || stored.Version != 1 || !stored.StartedAt.Equal(now) || stored.AffectedModules == nil {
				t.Errorf("stored %+v: want one active incident, version 1, started now, modules a list", stored)
			}
			if len(tl) != 1 || tl[0].Kind != "created" {
				t.Errorf("timeline %+v, want the created entry", tl)
			}
			if got := len(n.subjects) > 0; got != tc.paged {
				t.Errorf("paged %v, want %v", got, tc.paged)
			}
		})
	}
}

// An update is checked before anything is read; the incident's rules
// (forward only, resolved is final) refuse with a 422; a version other than
// the incident's is a 409; a change to nothing writes nothing.
func TestApplyingAnUpdate(t *testing.T) {
	resolved := active("inc-1", 5)
	resolved.Status = domain.IncidentResolved
	acknowledged := active("inc-1", 2)
	acknowledged.Status = domain.IncidentAcknowledged
	for _, tc := range []struct {
		name        string
		incident    domain.Incident
		update      incidents.Update
		wantInvalid bool
		wantCode    string // a rule's or a conflict's code
		wantStatus  string
		wantVersion int
		wantEntries int // new timeline entries
	}{
		{"nothing to update", active("inc-1", 1), incidents.Update{ID: "inc-1"}, true, "", "", 0, 0},
		{"a status that is none", active("inc-1", 1), incidents.Update{ID: "inc-1", Status: ptr("closed")}, true, "", "", 0, 0},
		{"version 0", active("inc-1", 1), incidents.Update{ID: "inc-1", Status: ptr(domain.IncidentAcknowledged), Version: ptr(0)}, true, "", "", 0, 0},
		{"a resolution too long", active("inc-1", 1), incidents.Update{ID: "inc-1", Resolution: ptr(strings.Repeat("r", incidents.MaxText+1))}, true, "", "", 0, 0},
		{"forward", active("inc-1", 1), incidents.Update{ID: "inc-1", Status: ptr(domain.IncidentInvestigating)}, false, "", domain.IncidentInvestigating, 2, 1},
		{"forward, at the version seen", active("inc-1", 4), incidents.Update{ID: "inc-1", Status: ptr(domain.IncidentAcknowledged), Version: ptr(4)}, false, "", domain.IncidentAcknowledged, 5, 1},
		{"a stale version", active("inc-1", 4), incidents.Update{ID: "inc-1", Status: ptr(domain.IncidentAcknowledged), Version: ptr(3)}, false, "version_conflict", "", 0, 0},
		{"a resolution resolves", active("inc-1", 1), incidents.Update{ID: "inc-1", Resolution: ptr("bearing replaced")}, false, "", domain.IncidentResolved, 2, 2},
		{"root cause and status at once", active("inc-1", 1), incidents.Update{ID: "inc-1", Status: ptr(domain.IncidentInvestigating), RootCause: ptr("bearing")}, false, "", domain.IncidentInvestigating, 2, 2},
		{"backwards", acknowledged, incidents.Update{ID: "inc-1", Status: ptr(domain.IncidentActive)}, false, "status_backwards", "", 0, 0},
		{"resolved is final", resolved, incidents.Update{ID: "inc-1", RootCause: ptr("late")}, false, "incident_resolved", "", 0, 0},
		{"the same status again changes nothing", acknowledged, incidents.Update{ID: "inc-1", Status: ptr(domain.IncidentAcknowledged)}, false, "", domain.IncidentAcknowledged, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(tc.incident)
			svc, _ := service(st)
			in, tl, err := svc.Apply(t.Context(), tc.update)
			var rule *domain.RuleError
			var conflict *domain.ConflictError
			switch {
			case tc.wantInvalid:
				if !errors.Is(err, domain.ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
			case tc.wantCode != "":
				if (!errors.As(err, &rule) || rule.Code != tc.wantCode) && (!errors.As(err, &conflict) || conflict.Code != tc.wantCode) {
					t.Errorf("err = %v, want %s", err, tc.wantCode)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if in.Status != tc.wantStatus || in.Version != tc.wantVersion || st.incidents["inc-1"].Version != tc.wantVersion {
					t.Errorf("answered %s v%d, stored v%d; want %s v%d", in.Status, in.Version, st.incidents["inc-1"].Version, tc.wantStatus, tc.wantVersion)
				}
				if len(tl) != tc.wantEntries {
					t.Errorf("timeline %+v, want %d entries", tl, tc.wantEntries)
				}
				if tc.wantStatus == domain.IncidentResolved && (in.ResolvedAt == nil || !in.ResolvedAt.Equal(now)) {
					t.Errorf("resolved_at = %v, want now", in.ResolvedAt)
				}
			}
			wantWrites := 0
			if !tc.wantInvalid && tc.wantCode == "" && tc.wantEntries > 0 {
				wantWrites = 1
			}
			if st.updates != wantWrites {
				t.Errorf("%d writes, want %d", st.updates, wantWrites)
			}
		})
	}
	t.Run("an unknown incident", func(t *testing.T) {
		svc, _ := service(newStore())
		if _, _, err := svc.Apply(t.Context(), incidents.Update{ID: "inc-404", Status: ptr(domain.IncidentAcknowledged)}); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
}

// The retry-on-conflict branches: an update without a version that meets
// another is applied again on top of it; one with a version is not (the
// client asked for that version); a conflict that never clears ends in a
// 409 after a bounded number of attempts; and an update that meets a
// resolution is refused by the rule, not written over it.
func TestAnUpdateThatMeetsAnother(t *testing.T) {
	rootCause := func(st *fakeStore) func(int) {
		return func(attempt int) {
			if attempt == 1 {
				in := st.incidents["inc-1"]
				in.RootCause, in.Version = "another's root cause", in.Version+1
				st.incidents["inc-1"] = in
			}
		}
	}
	t.Run("without a version: applied on top of the other", func(t *testing.T) {
		st := newStore(active("inc-1", 1))
		st.meddle = rootCause(st)
		svc, _ := service(st)
		in, _, err := svc.Apply(t.Context(), incidents.Update{ID: "inc-1", Status: ptr(domain.IncidentInvestigating)})
		if err != nil {
			t.Fatal(err)
		}
		if st.updates != 2 || in.Version != 3 || in.RootCause != "another's root cause" || in.Status != domain.IncidentInvestigating {
			t.Errorf("after %d writes: %+v; want both changes, version 3", st.updates, in)
		}
	})
	t.Run("with a version: a 409, not written over", func(t *testing.T) {
		st := newStore(active("inc-1", 1))
		st.meddle = rootCause(st)
		svc, _ := service(st)
		_, _, err := svc.Apply(t.Context(), incidents.Update{ID: "inc-1", Status: ptr(domain.IncidentInvestigating), Version: ptr(1)})
		var conflict *domain.ConflictError
		if !errors.As(err, &conflict) || conflict.Code != "version_conflict" || st.updates != 1 {
			t.Errorf("err = %v after %d writes, want version_conflict after 1", err, st.updates)
		}
		if st.incidents["inc-1"].Status != domain.IncidentActive {
			t.Errorf("stored %+v: the stale update must not land", st.incidents["inc-1"])
		}
	})
	t.Run("a conflict that never clears", func(t *testing.T) {
		st := newStore(active("inc-1", 1))
		st.meddle = func(int) {
			in := st.incidents["inc-1"]
			in.Version++
			st.incidents["inc-1"] = in
		}
		svc, _ := service(st)
		_, _, err := svc.Apply(t.Context(), incidents.Update{ID: "inc-1", Status: ptr(domain.IncidentInvestigating)})
		var conflict *domain.ConflictError
		if !errors.As(err, &conflict) || conflict.Code != "version_conflict" {
			t.Fatalf("err = %v, want version_conflict", err)
		}
		if st.updates < 2 || st.updates > 5 {
			t.Errorf("%d attempts, want a few", st.updates)
		}
	})
	t.Run("another resolved it meanwhile: the rule refuses", func(t *testing.T) {
		st := newStore(active("inc-1", 1))
		st.meddle = func(attempt int) {
			if attempt == 1 {
				in := st.incidents["inc-1"]
				in.Status, in.Version = domain.IncidentResolved, 2
				st.incidents["inc-1"] = in
			}
		}
		svc, _ := service(st)
		_, _, err := svc.Apply(t.Context(), incidents.Update{ID: "inc-1", RootCause: ptr("late")})
		var rule *domain.RuleError
		if !errors.As(err, &rule) || rule.Code != "incident_resolved" || st.incidents["inc-1"].RootCause != "" {
			t.Errorf("err = %v, stored %+v; want incident_resolved and nothing written", err, st.incidents["inc-1"])
		}
	})
}
