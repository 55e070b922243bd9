package store_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

var ctx = context.Background()

func seeded(t *testing.T) *store.Store {
	t.Helper()
	s := dynamotest.Store(t)
	if err := s.Seed(ctx); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return s
}

func commit(t *testing.T, s *store.Store, build func(tx *store.Tx)) {
	t.Helper()
	var tx store.Tx
	build(&tx)
	if err := s.Commit(ctx, &tx); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func TestSeedCreatesTheInventoryOnceAndKeepsLaterChanges(t *testing.T) {
	s := seeded(t)
	valves, err := s.Valves(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range valves {
		ids = append(ids, v.ID+" "+v.Name)
	}
	want := []string{"v-101 Wellhead A1", "v-102 Manifold B2", "v-103 Isolation C3"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("valves = %v, want %v", ids, want)
	}
	first := valves[0].EstimatedMaintenance

	// A second seed must not overwrite what is there.
	if err := s.Seed(ctx); err != nil {
		t.Fatalf("second seed: %v", err)
	}
	again, err := s.Valve(ctx, "v-101")
	if err != nil {
		t.Fatal(err)
	}
	if !again.EstimatedMaintenance.Equal(*first) {
		t.Errorf("reseeding changed maintenance date: %v -> %v", first, again.EstimatedMaintenance)
	}
	sections, err := s.Sections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sections) != 5 || sections[0].Name != "A-North" || sections[4].Name != "E-West" {
		t.Errorf("sections = %+v", sections)
	}
}

func TestUnknownRecordsAreNotFound(t *testing.T) {
	s := seeded(t)
	if _, err := s.Valve(ctx, "v-999"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Valve: err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Actuations(ctx, "v-999", domain.Page{Limit: 10}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Actuations: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Actuation(ctx, "v-101", "act-1"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Actuation: err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Incident(ctx, "inc-1"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Incident: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Section(ctx, "Z-Nowhere"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Section: err = %v, want ErrNotFound", err)
	}
}

func TestActuationsPageNewestFirstWithCursorsBoundToTheirValve(t *testing.T) {
	s := seeded(t)
	base := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5 {
		at := base.Add(time.Duration(i) * time.Minute)
		a := domain.Actuation{ID: domain.NewID("act", at), ValveID: "v-101", Command: "OPEN", State: domain.ActuationSucceeded, RequestedAt: at, Deadline: at.Add(30 * time.Second)}
		ids = append(ids, a.ID)
		commit(t, s, func(tx *store.Tx) { tx.PutActuation(a) })
	}
	var got []string
	cursor := ""
	for range 3 {
		page, next, err := s.Actuations(ctx, "v-101", domain.Page{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			got = append(got, a.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages = %v, want %v", got, want)
	}

	one, err := s.Actuation(ctx, "v-101", ids[2])
	if err != nil {
		t.Fatal(err)
	}
	if !one.Deadline.Equal(base.Add(2*time.Minute + 30*time.Second)) {
		t.Errorf("deadline = %v, not kept", one.Deadline)
	}

	_, next, err := s.Actuations(ctx, "v-101", domain.Page{Limit: 1})
	if err != nil || next == "" {
		t.Fatalf("first page: next=%q err=%v", next, err)
	}
	if _, _, err := s.Actuations(ctx, "v-102", domain.Page{Limit: 1, Cursor: next}); !errors.Is(err, domain.ErrBadCursor) {
		t.Errorf("v-101 cursor on v-102: err = %v, want ErrBadCursor", err)
	}
	for _, forged := range []string{"x", "!!!", "eyJwIjoiVkFMVkUjdi0xMDEifQ", "e30", "bnVsbA"} {
		if _, _, err := s.Actuations(ctx, "v-101", domain.Page{Limit: 1, Cursor: forged}); !errors.Is(err, domain.ErrBadCursor) {
			t.Errorf("cursor %q: err = %v, want ErrBadCursor", forged, err)
		}
	}
}

func TestIncidentsUnresolvedRecentTimelineAndCounts(t *testing.T) {
	s := seeded(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := domain.Incident{ID: domain.NewID("inc", now.Add(-48*time.Hour)), Title: "old", Severity: domain.SeverityWarning, Status: domain.IncidentActive, StartedAt: now.Add(-48 * time.Hour), Version: 1}
	crit := domain.Incident{ID: domain.NewID("inc", now.Add(-time.Hour)), Title: "leak", Severity: domain.SeverityCritical, Status: domain.IncidentActive, StartedAt: now.Add(-time.Hour), Version: 1}
	for _, in := range []domain.Incident{old, crit} {
		commit(t, s, func(tx *store.Tx) {
			tx.PutIncident(in)
			tx.PutTimeline(in.ID, 0, domain.TimelineEntry{At: in.StartedAt, Kind: "created", Message: "opened"})
			tx.PutTimeline(in.ID, 1, domain.TimelineEntry{At: in.StartedAt.Add(time.Minute), Kind: "note", Message: "second"})
		})
	}
	unresolved, err := s.UnresolvedIncidents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(unresolved) != 2 || unresolved[0].ID != crit.ID {
		t.Fatalf("unresolved = %+v, want newest (%s) first", unresolved, crit.ID)
	}
	recent, err := s.RecentIncidents(ctx, now.Add(-24*time.Hour), 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 1 || recent[0].ID != crit.ID {
		t.Fatalf("recent = %+v, want only %s", recent, crit.ID)
	}
	in, timeline, err := s.Incident(ctx, crit.ID)
	if err != nil {
		t.Fatal(err)
	}
	if in.Title != "leak" || !in.StartedAt.Equal(crit.StartedAt) {
		t.Errorf("incident = %+v", in)
	}
	if len(timeline) != 2 || timeline[0].Message != "second" {
		t.Errorf("timeline = %+v, want newest first", timeline)
	}
	counts, err := s.IncidentCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Total != 2 {
		t.Errorf("counts = %+v, want total 2", counts)
	}
	// The same incident twice is a conflict and writes nothing.
	var tx store.Tx
	tx.PutIncident(crit)
	if err := s.Commit(ctx, &tx); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("duplicate incident: err = %v, want ErrConflict", err)
	}
	if counts, _ := s.IncidentCounts(ctx); counts.Total != 2 {
		t.Errorf("failed transaction changed counts: %+v", counts)
	}
}

func TestAlertsActiveBySectionAndRecent(t *testing.T) {
	s := seeded(t)
	now := time.Now().UTC()
	alerts := []domain.Alert{
		{ID: "leak-1", Section: "A-North", Severity: domain.LeakMinor, Status: domain.AlertActive, CreatedAt: now.Add(-3 * time.Minute)},
		{ID: "leak-2", Section: "B-Central", Severity: domain.LeakCritical, Status: domain.AlertActive, CreatedAt: now.Add(-2 * time.Minute)},
		{ID: "leak-3", Section: "A-North", Severity: domain.LeakMajor, Status: domain.AlertRepaired, CreatedAt: now.Add(-time.Minute)},
	}
	for _, a := range alerts {
		commit(t, s, func(tx *store.Tx) { tx.PutAlert(a) })
	}
	active, err := s.ActiveAlerts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 2 || active[0].ID != "leak-2" || active[1].ID != "leak-1" {
		t.Errorf("active = %+v", active)
	}
	north, err := s.ActiveAlerts(ctx, "A-North")
	if err != nil {
		t.Fatal(err)
	}
	if len(north) != 1 || north[0].ID != "leak-1" {
		t.Errorf("A-North active = %+v", north)
	}
	recent, err := s.RecentAlerts(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 2 || recent[0].ID != "leak-3" || recent[1].ID != "leak-2" {
		t.Errorf("recent = %+v", recent)
	}
}

func TestEventLogFiltersPagesAndPolls(t *testing.T) {
	s := seeded(t)
	base := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	var all []domain.Event
	add := func(typ, asset string, i int) {
		at := base.Add(time.Duration(i) * time.Second)
		e := domain.Event{ID: domain.NewID("evt", at), Type: typ, At: at, Asset: asset, Data: json.RawMessage(`{"n":1}`)}
		all = append(all, e)
		commit(t, s, func(tx *store.Tx) { tx.PutEvent(e) })
	}
	add(domain.EventIncidentCreated, "inc-1", 0)
	add(domain.EventAlertCreated, "A-North", 1)
	add(domain.EventAlertAcknowledged, "A-North", 2)
	add(domain.EventAlertCreated, "B-Central", 3)

	ids := func(es []domain.Event) string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return fmt.Sprint(out)
	}
	page, next, err := s.Events(ctx, domain.EventFilter{}, domain.Page{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if ids(page) != ids([]domain.Event{all[3], all[2], all[1]}) || next == "" {
		t.Fatalf("first page = %s next=%q", ids(page), next)
	}
	if string(page[0].Data) != `{"n":1}` {
		t.Errorf("data = %s", page[0].Data)
	}
	byType, _, err := s.Events(ctx, domain.EventFilter{Type: domain.EventAlertCreated}, domain.Page{Limit: 10})
	if err != nil || ids(byType) != ids([]domain.Event{all[3], all[1]}) {
		t.Errorf("by type = %s, %v", ids(byType), err)
	}
	byAsset, _, err := s.Events(ctx, domain.EventFilter{Asset: "A-North"}, domain.Page{Limit: 10})
	if err != nil || ids(byAsset) != ids([]domain.Event{all[2], all[1]}) {
		t.Errorf("by asset = %s, %v", ids(byAsset), err)
	}
	both, _, err := s.Events(ctx, domain.EventFilter{Type: domain.EventAlertCreated, Asset: "A-North"}, domain.Page{Limit: 10})
	if err != nil || ids(both) != ids([]domain.Event{all[1]}) {
		t.Errorf("by type and asset = %s, %v", ids(both), err)
	}
	if _, _, err := s.Events(ctx, domain.EventFilter{Asset: "B-Central"}, domain.Page{Limit: 1, Cursor: next}); !errors.Is(err, domain.ErrBadCursor) {
		t.Errorf("unfiltered cursor on a filtered listing: err = %v, want ErrBadCursor", err)
	}

	// Polling: from the position of the first event, the rest, oldest first.
	from, err := s.EventCursor(domain.EventFilter{}, all[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	since, poll, err := s.EventsSince(ctx, domain.EventFilter{}, from, 50)
	if err != nil || ids(since) != ids(all[1:]) {
		t.Fatalf("since = %s, %v", ids(since), err)
	}
	quiet, same, err := s.EventsSince(ctx, domain.EventFilter{}, poll, 50)
	if err != nil || len(quiet) != 0 || same != poll {
		t.Errorf("nothing new: %s cursor %q (was %q), %v", ids(quiet), same, poll, err)
	}
	add(domain.EventIncidentUpdated, "inc-1", 4)
	fresh, _, err := s.EventsSince(ctx, domain.EventFilter{}, poll, 50)
	if err != nil || ids(fresh) != ids(all[4:]) {
		t.Errorf("after a new event: %s, %v", ids(fresh), err)
	}
	if _, _, err := s.EventsSince(ctx, domain.EventFilter{}, "", 50); !errors.Is(err, domain.ErrBadCursor) {
		t.Errorf("empty since: err = %v, want ErrBadCursor", err)
	}
}

func TestPingAndCreateTableTwice(t *testing.T) {
	s := dynamotest.Store(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := s.CreateTable(ctx); err != nil {
		t.Fatalf("second create: %v", err)
	}
}

func TestACursorOutsideTheKeyConditionIsABadCursor(t *testing.T) {
	s := seeded(t)
	// A well-formed cursor for v-101's partition whose sort key is not an
	// actuation: DynamoDB would refuse it as a start key.
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-101","sk":"META"}}`))
	if _, _, err := s.Actuations(ctx, "v-101", domain.Page{Limit: 1, Cursor: forged}); !errors.Is(err, domain.ErrBadCursor) {
		t.Errorf("err = %v, want ErrBadCursor", err)
	}
}
