package leaks_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/leaks"
)

// The rules of leak reports, over an in-memory store (fakeStore) that keeps
// the promises of the real one: a leak is recorded only at the correlation
// version it was planned at, an alert id only once, and an alert changes
// only from one of the statuses the change names. The same rules against
// DynamoDB Local, end to end: shared/local/stack and shared/api/httpapi.

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

type fakeStore struct {
	sections  map[string]domain.Section
	alerts    map[string]domain.Alert
	incidents []domain.Incident // unresolved, newest first
	version   int
	recorded  []leaks.Leak
	changes   []leaks.AlertChange
	// beforeRecord, when set, runs before each RecordLeak, as another
	// writer would between the plan and the write; it gets the attempt.
	beforeRecord func(attempt int)
	attempts     int
}

func newStore() *fakeStore {
	return &fakeStore{
		sections: map[string]domain.Section{"A-North": {Name: "A-North"}, "B-Central": {Name: "B-Central"}},
		alerts:   map[string]domain.Alert{},
	}
}

func (f *fakeStore) Section(_ context.Context, name string) (domain.Section, error) {
	s, ok := f.sections[name]
	if !ok {
		return domain.Section{}, domain.ErrNotFound
	}
	return s, nil
}

func (f *fakeStore) Alert(_ context.Context, id string) (domain.Alert, error) {
	a, ok := f.alerts[id]
	if !ok {
		return domain.Alert{}, domain.ErrNotFound
	}
	return a, nil
}

func (f *fakeStore) UnresolvedIncidents(context.Context) ([]domain.Incident, error) {
	return slices.Clone(f.incidents), nil
}

func (f *fakeStore) CorrelationVersion(context.Context) (int, error) { return f.version, nil }

func (f *fakeStore) RecordLeak(_ context.Context, l leaks.Leak) error {
	f.attempts++
	if f.beforeRecord != nil {
		f.beforeRecord(f.attempts)
	}
	if l.Correlation != f.version {
		return domain.ErrConflict
	}
	if _, ok := f.alerts[l.Alert.ID]; ok {
		return domain.ErrConflict
	}
	i := slices.IndexFunc(f.incidents, func(in domain.Incident) bool { return in.ID == l.Incident.ID })
	switch {
	case l.NewIncident:
		f.incidents = append([]domain.Incident{l.Incident}, f.incidents...)
	case i < 0: // resolved meanwhile
		return domain.ErrConflict
	case l.Escalate != "":
		f.incidents[i].Severity = l.Escalate
	}
	f.version++
	f.alerts[l.Alert.ID] = l.Alert
	f.recorded = append(f.recorded, l)
	return nil
}

func (f *fakeStore) ChangeAlert(_ context.Context, c leaks.AlertChange) error {
	a, ok := f.alerts[c.AlertID]
	if !ok || !slices.Contains(c.From, a.Status) {
		return domain.ErrConflict
	}
	a.Status = c.To
	f.alerts[c.AlertID] = a
	f.changes = append(f.changes, c)
	return nil
}

type notifier struct{ subjects []string }

func (n *notifier) Notify(_ context.Context, subject, _ string) error {
	n.subjects = append(n.subjects, subject)
	return nil
}

func service(st *fakeStore) (*leaks.Service, *notifier) {
	n := &notifier{}
	return leaks.New(st, n, func() time.Time { return now }, nil), n
}

func incident(id, severity string, started time.Duration) domain.Incident {
	return domain.Incident{ID: id, Title: "earlier", Severity: severity, Status: domain.IncidentActive,
		StartedAt: now.Add(-started), UpdatedAt: now.Add(-started), Version: 1}
}

// A leak opens an incident, or joins the newest unresolved one that started
// within the last two minutes, whatever its section; a graver leak raises
// the incident it joins to its own severity.
func TestALeakOpensAnIncidentOrJoinsOneOfTheLastTwoMinutes(t *testing.T) {
	for _, tc := range []struct {
		name         string
		unresolved   []domain.Incident // newest first
		severity     string
		wantJoined   string // the incident joined; "" when one is opened
		wantSeverity string // of the incident, after
		wantEscalate bool
	}{
		{"none unresolved: a minor leak opens a warning", nil, domain.LeakMinor, "", domain.SeverityWarning, false},
		{"none unresolved: a major leak opens a warning", nil, domain.LeakMajor, "", domain.SeverityWarning, false},
		{"none unresolved: a critical leak opens a critical", nil, domain.LeakCritical, "", domain.SeverityCritical, false},
		{"started 1m59s ago: joined",
			[]domain.Incident{incident("inc-1", domain.SeverityWarning, 119*time.Second)}, domain.LeakMinor, "inc-1", domain.SeverityWarning, false},
		{"started exactly 2m ago: still joined",
			[]domain.Incident{incident("inc-1", domain.SeverityWarning, 2*time.Minute)}, domain.LeakMinor, "inc-1", domain.SeverityWarning, false},
		{"started 2m and 1ms ago: a new one",
			[]domain.Incident{incident("inc-1", domain.SeverityWarning, 2*time.Minute+time.Millisecond)}, domain.LeakMinor, "", domain.SeverityWarning, false},
		{"two in the window: the newest is joined",
			[]domain.Incident{incident("inc-2", domain.SeverityWarning, 10*time.Second), incident("inc-1", domain.SeverityWarning, time.Minute)},
			domain.LeakMajor, "inc-2", domain.SeverityWarning, false},
		{"a critical leak raises a warning incident it joins",
			[]domain.Incident{incident("inc-1", domain.SeverityWarning, time.Minute)}, domain.LeakCritical, "inc-1", domain.SeverityCritical, true},
		{"an info incident joined by a minor leak becomes a warning",
			[]domain.Incident{incident("inc-1", domain.SeverityInfo, time.Minute)}, domain.LeakMinor, "inc-1", domain.SeverityWarning, true},
		{"a minor leak leaves a critical incident critical",
			[]domain.Incident{incident("inc-1", domain.SeverityCritical, time.Minute)}, domain.LeakMinor, "inc-1", domain.SeverityCritical, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore()
			st.incidents = tc.unresolved
			svc, _ := service(st)
			res, err := svc.Report(t.Context(), leaks.Report{Section: "B-Central", Severity: tc.severity, KeyID: "k1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(st.recorded) != 1 {
				t.Fatalf("%d leaks recorded, want 1", len(st.recorded))
			}
			l := st.recorded[0]
			if tc.wantJoined == "" {
				if !res.Opened || !l.NewIncident || res.Incident.ID == "" || slices.ContainsFunc(tc.unresolved, func(in domain.Incident) bool { return in.ID == res.Incident.ID }) {
					t.Errorf("opened %v, new %v, incident %q: want a new incident", res.Opened, l.NewIncident, res.Incident.ID)
				}
				if res.Incident.Status != domain.IncidentActive || !res.Incident.StartedAt.Equal(now) || res.Incident.Version != 1 {
					t.Errorf("opened incident %+v: want active, started now, version 1", res.Incident)
				}
			} else if res.Opened || l.NewIncident || res.Incident.ID != tc.wantJoined {
				t.Errorf("opened %v, new %v, incident %q: want %s joined", res.Opened, l.NewIncident, res.Incident.ID, tc.wantJoined)
			}
			if res.Incident.Severity != tc.wantSeverity || res.Escalated != tc.wantEscalate {
				t.Errorf("incident severity %s, escalated %v; want %s, %v", res.Incident.Severity, res.Escalated, tc.wantSeverity, tc.wantEscalate)
			}
			if want := map[bool]string{true: tc.wantSeverity, false: ""}[tc.wantEscalate]; l.Escalate != want {
				t.Errorf("escalate %q, want %q", l.Escalate, want)
			}
			if res.Alert.IncidentID != res.Incident.ID || l.Alert.IncidentID != res.Incident.ID {
				t.Errorf("alert names incident %q, want %q", res.Alert.IncidentID, res.Incident.ID)
			}
			// One transaction: the alert, its incident's timeline entry, and
			// the events alert.created then incident.created or .updated.
			types := []string{}
			for _, e := range l.Events {
				types = append(types, e.Type)
			}
			wantTypes := []string{domain.EventAlertCreated, domain.EventIncidentUpdated}
			if tc.wantJoined == "" {
				wantTypes[1] = domain.EventIncidentCreated
			}
			if !slices.Equal(types, wantTypes) || len(l.Timeline) != 1 || l.Timeline[0].AlertID != res.Alert.ID {
				t.Errorf("events %v, timeline %+v; want %v and one entry naming the alert", types, l.Timeline, wantTypes)
			}
			if l.Correlation != 0 {
				t.Errorf("planned at correlation version %d, want 0 (what the store had)", l.Correlation)
			}
		})
	}
}

// A report the rules refuse writes nothing: a bad field is ErrInvalid, an
// unknown or retired section a rule (422).
func TestARefusedReportWritesNothing(t *testing.T) {
	retired := now.Add(-time.Hour)
	for _, tc := range []struct {
		name     string
		report   leaks.Report
		wantCode string // "" for ErrInvalid
	}{
		{"no section", leaks.Report{Severity: domain.LeakMinor}, ""},
		{"a section name that is no id", leaks.Report{Section: "A North", Severity: domain.LeakMinor}, ""},
		{"a device's severity word", leaks.Report{Section: "A-North", Severity: "HIGH"}, ""},
		{"a bad leak id", leaks.Report{ID: "leak/1", Section: "A-North", Severity: domain.LeakMinor}, ""},
		{"a negative volume", leaks.Report{Section: "A-North", Severity: domain.LeakMinor, VolumeEstimate: ptr(-1.0)}, ""},
		{"a volume over the bound", leaks.Report{Section: "A-North", Severity: domain.LeakMinor, VolumeEstimate: ptr(float64(leaks.MaxVolumeEstimate) + 1)}, ""},
		{"a confidence over 1", leaks.Report{Section: "A-North", Severity: domain.LeakMinor, Confidence: ptr(1.01)}, ""},
		{"a location off the Earth", leaks.Report{Section: "A-North", Severity: domain.LeakMinor, Location: &domain.Location{Lat: 91}}, ""},
		{"an unknown section", leaks.Report{Section: "Z-Nowhere", Severity: domain.LeakMinor}, "unknown_section"},
		{"a retired section", leaks.Report{Section: "Retired", Severity: domain.LeakMinor}, "section_retired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore()
			st.sections["Retired"] = domain.Section{Name: "Retired", RetiredAt: &retired}
			svc, n := service(st)
			_, err := svc.Report(t.Context(), tc.report)
			var rule *domain.RuleError
			switch {
			case tc.wantCode == "" && !errors.Is(err, domain.ErrInvalid):
				t.Errorf("err = %v, want ErrInvalid", err)
			case tc.wantCode != "" && (!errors.As(err, &rule) || rule.Code != tc.wantCode):
				t.Errorf("err = %v, want the rule %s", err, tc.wantCode)
			}
			if st.attempts != 0 || len(st.alerts) != 0 || len(n.subjects) != 0 {
				t.Errorf("%d writes, %d alerts, pages %v: want none", st.attempts, len(st.alerts), n.subjects)
			}
		})
	}
}

// A device's leak id seen before is a duplicate delivery: the alert as it
// stands, nothing written again, nobody paged again.
func TestARepeatedLeakIDChangesNothing(t *testing.T) {
	st := newStore()
	svc, n := service(st)
	first, err := svc.Report(t.Context(), leaks.Report{ID: "gauge-leak-7", Section: "A-North", Severity: domain.LeakCritical, Reporter: "A-North"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.Report(t.Context(), leaks.Report{ID: "gauge-leak-7", Section: "A-North", Severity: domain.LeakCritical, Reporter: "A-North"})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Alert.ID != first.Alert.ID || again.Alert.IncidentID != first.Alert.IncidentID {
		t.Errorf("again = %+v, want the first alert as a duplicate", again)
	}
	if len(st.recorded) != 1 || len(st.incidents) != 1 || len(n.subjects) != 1 {
		t.Errorf("%d recorded, %d incidents, pages %v: want 1, 1, one page", len(st.recorded), len(st.incidents), n.subjects)
	}
}

// The retry-on-conflict branches: a leak recorded by another writer between
// the plan and the write makes the write conflict, and the report is
// planned again over what that writer did: it joins the incident the
// other leak opened, rather than opening a second one. A conflict that
// never clears ends in a 409, after a bounded number of attempts.
func TestALeakThatMeetsAnotherIsPlannedAgain(t *testing.T) {
	t.Run("another leak opened an incident meanwhile: joined", func(t *testing.T) {
		st := newStore()
		st.beforeRecord = func(attempt int) {
			if attempt == 1 {
				st.version++
				st.incidents = append(st.incidents, incident("inc-other", domain.SeverityWarning, time.Second))
			}
		}
		svc, _ := service(st)
		res, err := svc.Report(t.Context(), leaks.Report{Section: "A-North", Severity: domain.LeakMinor})
		if err != nil {
			t.Fatal(err)
		}
		if res.Opened || res.Incident.ID != "inc-other" || st.attempts != 2 {
			t.Errorf("opened %v, incident %q after %d attempts: want inc-other joined at the second", res.Opened, res.Incident.ID, st.attempts)
		}
	})
	t.Run("the incident to join was resolved meanwhile: a new one", func(t *testing.T) {
		st := newStore()
		st.incidents = []domain.Incident{incident("inc-1", domain.SeverityWarning, time.Second)}
		st.beforeRecord = func(attempt int) {
			if attempt == 1 {
				st.incidents = nil
			}
		}
		svc, _ := service(st)
		res, err := svc.Report(t.Context(), leaks.Report{Section: "A-North", Severity: domain.LeakMinor})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Opened || res.Incident.ID == "inc-1" || st.attempts != 2 {
			t.Errorf("opened %v, incident %q after %d attempts: want a new one at the second", res.Opened, res.Incident.ID, st.attempts)
		}
	})
	t.Run("the same id recorded by another delivery meanwhile: a duplicate", func(t *testing.T) {
		st := newStore()
		st.beforeRecord = func(attempt int) {
			if attempt == 1 {
				st.alerts["leak-7"] = domain.Alert{ID: "leak-7", Section: "A-North", Status: domain.AlertActive, IncidentID: "inc-x"}
			}
		}
		svc, n := service(st)
		res, err := svc.Report(t.Context(), leaks.Report{ID: "leak-7", Section: "A-North", Severity: domain.LeakCritical})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Duplicate || res.Alert.IncidentID != "inc-x" || st.attempts != 1 || len(n.subjects) != 0 {
			t.Errorf("result %+v after %d attempts, pages %v: want the other delivery's alert, no page", res, st.attempts, n.subjects)
		}
	})
	t.Run("a conflict that never clears: 409 after a bounded number of attempts", func(t *testing.T) {
		st := newStore()
		st.beforeRecord = func(int) { st.version++ }
		svc, _ := service(st)
		_, err := svc.Report(t.Context(), leaks.Report{Section: "A-North", Severity: domain.LeakMinor})
		var conflict *domain.ConflictError
		if !errors.As(err, &conflict) || conflict.Code != "conflict" {
			t.Fatalf("err = %v, want a ConflictError", err)
		}
		if st.attempts < 2 || st.attempts > 10 || len(st.alerts) != 0 {
			t.Errorf("%d attempts, %d alerts: want a few attempts, nothing written", st.attempts, len(st.alerts))
		}
	})
}

// Operators are paged for a critical leak, and for an incident that a leak
// opened or raised to critical; not for the rest.
func TestWhoIsPaged(t *testing.T) {
	for _, tc := range []struct {
		name       string
		unresolved []domain.Incident
		severity   string
		paged      bool
	}{
		{"a minor leak opening a warning incident", nil, domain.LeakMinor, false},
		{"a major leak joining a warning incident", []domain.Incident{incident("inc-1", domain.SeverityWarning, time.Minute)}, domain.LeakMajor, false},
		{"a critical leak opening a critical incident", nil, domain.LeakCritical, true},
		{"a critical leak joining a critical incident", []domain.Incident{incident("inc-1", domain.SeverityCritical, time.Minute)}, domain.LeakCritical, true},
		{"a minor leak joining a critical incident", []domain.Incident{incident("inc-1", domain.SeverityCritical, time.Minute)}, domain.LeakMinor, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore()
			st.incidents = tc.unresolved
			svc, n := service(st)
			if _, err := svc.Report(t.Context(), leaks.Report{Section: "A-North", Severity: tc.severity}); err != nil {
				t.Fatal(err)
			}
			if got := len(n.subjects) > 0; got != tc.paged {
				t.Errorf("paged %v (%v), want %v", got, n.subjects, tc.paged)
			}
		})
	}
}

// An alert moves forward only: active → acknowledged → repaired, or
// straight to repaired; any other step is a rule (422 alert_<status>), and
// an alert changed by another request meanwhile a 409.
func TestAnAlertMovesForwardOnly(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   string
		resolve  bool // Resolve; otherwise Acknowledge
		wantCode string
		wantTo   string
	}{
		{"acknowledge an active alert", domain.AlertActive, false, "", domain.AlertAcknowledged},
		{"resolve an active alert", domain.AlertActive, true, "", domain.AlertRepaired},
		{"resolve an acknowledged alert", domain.AlertAcknowledged, true, "", domain.AlertRepaired},
		{"acknowledge an acknowledged alert", domain.AlertAcknowledged, false, "alert_acknowledged", ""},
		{"acknowledge a repaired alert", domain.AlertRepaired, false, "alert_repaired", ""},
		{"resolve a repaired alert", domain.AlertRepaired, true, "alert_repaired", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore()
			st.alerts["leak-1"] = domain.Alert{ID: "leak-1", Section: "A-North", Severity: domain.LeakMinor, Status: tc.status}
			svc, _ := service(st)
			move := svc.Acknowledge
			if tc.resolve {
				move = svc.Resolve
			}
			a, err := move(t.Context(), "leak-1", "k1")
			if tc.wantCode != "" {
				var rule *domain.RuleError
				if !errors.As(err, &rule) || rule.Code != tc.wantCode || len(st.changes) != 0 {
					t.Errorf("err = %v, %d changes; want the rule %s and none", err, len(st.changes), tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != tc.wantTo || st.alerts["leak-1"].Status != tc.wantTo || len(st.changes) != 1 {
				t.Fatalf("answered %s, stored %s, %d changes; want %s once", a.Status, st.alerts["leak-1"].Status, len(st.changes), tc.wantTo)
			}
			c := st.changes[0]
			if !slices.Contains(c.From, tc.status) || c.Event.Asset != "A-North" || c.Event.KeyID != "k1" {
				t.Errorf("change %+v: want one from %s with an event on the section by the key", c, tc.status)
			}
			if tc.resolve && (a.ResolvedAt == nil || !a.ResolvedAt.Equal(now)) {
				t.Errorf("resolved_at = %v, want now", a.ResolvedAt)
			}
			if !tc.resolve && (a.AcknowledgedAt == nil || a.AcknowledgedBy != "k1") {
				t.Errorf("acknowledged at %v by %q, want now by k1", a.AcknowledgedAt, a.AcknowledgedBy)
			}
		})
	}
	t.Run("changed meanwhile", func(t *testing.T) {
		st := newStore()
		st.alerts["leak-1"] = domain.Alert{ID: "leak-1", Section: "A-North", Status: domain.AlertActive}
		racing := &racingChange{fakeStore: st}
		svc := leaks.New(racing, &notifier{}, func() time.Time { return now }, nil)
		_, err := svc.Acknowledge(t.Context(), "leak-1", "k1")
		var conflict *domain.ConflictError
		if !errors.As(err, &conflict) || conflict.Code != "conflict" {
			t.Errorf("err = %v, want a ConflictError", err)
		}
	})
	t.Run("an unknown alert", func(t *testing.T) {
		svc, _ := service(newStore())
		if _, err := svc.Resolve(t.Context(), "leak-404", "k1"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
}

// racingChange repairs the alert just before the service's change lands.
type racingChange struct{ *fakeStore }

func (r *racingChange) ChangeAlert(ctx context.Context, c leaks.AlertChange) error {
	a := r.alerts[c.AlertID]
	a.Status = domain.AlertRepaired
	r.alerts[c.AlertID] = a
	return r.fakeStore.ChangeAlert(ctx, c)
}
