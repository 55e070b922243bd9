package legacy_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/plainview/serverless/scripts/import/legacy"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

var ctx = context.Background()

// table is a seeded table over the wire, with the raw client for scans.
type table struct {
	db    *dynamodb.Client
	name  string
	store *store.Store
}

func newTable(t *testing.T) table {
	t.Helper()
	db, name := dynamotest.Client(t)
	st := store.New(db, name, nil)
	if err := st.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	return table{db: db, name: name, store: st}
}

// scan is every item of the table as canonical JSON, ordered by key: two
// scans are equal byte for byte when the table did not change.
func (tb table) scan(t *testing.T) []byte {
	t.Helper()
	var items []map[string]any
	in := &dynamodb.ScanInput{TableName: aws.String(tb.name)}
	for {
		out, err := tb.db.Scan(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var page []map[string]any
		if err := attributevalue.UnmarshalListOfMaps(out.Items, &page); err != nil {
			t.Fatal(err)
		}
		items = append(items, page...)
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	slices.SortFunc(items, func(a, b map[string]any) int {
		return cmp.Or(cmp.Compare(a["pk"].(string), b["pk"].(string)), cmp.Compare(a["sk"].(string), b["sk"].(string)))
	})
	b, err := json.MarshalIndent(items, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func file(t *testing.T, path string) *legacy.File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &legacy.File{Name: path, Data: b}
}

func samples(t *testing.T) legacy.Files {
	return legacy.Files{Valves: file(t, "testdata/valves.json"), Incidents: file(t, "testdata/incidents.json")}
}

func plan(t *testing.T, im *legacy.Importer, f legacy.Files) *legacy.Plan {
	t.Helper()
	p, err := im.Plan(ctx, f, legacy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func utc(s string) time.Time {
	t, err := legacy.ParseTime(s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestTheImportBringsOverHistoryAndIncidentsAsTheAPIReadsThem(t *testing.T) {
	tb := newTable(t)
	im := legacy.New(tb.store)
	before := tb.scan(t)

	p := plan(t, im, samples(t))
	want := legacy.Summary{
		ValvesUpdated: 2, ActuationsAdded: 5, LastActuationsRaised: 2,
		IncidentsAdded: 4, TimelineEntriesAdded: 7,
	}
	if got := p.Summary(); got != want {
		t.Fatalf("plan = %+v\nwant %+v", got, want)
	}
	if !bytes.Equal(before, tb.scan(t)) {
		t.Fatal("planning (the dry run) wrote to the table")
	}
	var report strings.Builder
	p.Report(&report)
	for _, line := range []string{
		"valve v-101: 3 actuation(s) to add (2 succeeded, 1 failed), 0 already here; last actuation none → 2025-03-04T10:15:31.904512Z (torque 48.7 Nm)",
		"valve v-103: 0 actuation(s) to add (0 succeeded, 0 failed), 0 already here; the file has no last actuation",
		`incident ` + legacy.IncidentID("INC 2025/002") + ` (was "INC 2025/002"): to add, investigating, with 2 timeline entries`,
		"actuations added: 5 (already here: 0)",
		"incidents added: 4, unchanged: 0, differing (ours kept): 0; timeline entries added: 7",
	} {
		if !strings.Contains(report.String(), line) {
			t.Errorf("report lacks %q:\n%s", line, report.String())
		}
	}

	if err := im.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}

	// Valves: the last actuation of the file, where ours had none.
	v, err := tb.store.Valve(ctx, "v-101")
	if err != nil {
		t.Fatal(err)
	}
	if v.LastTorqueNm == nil || *v.LastTorqueNm != 48.7 || v.LastActuationTime == nil || !v.LastActuationTime.Equal(utc("2025-03-04T10:15:31.904512")) {
		t.Errorf("v-101 = %+v", v)
	}
	if v.OpenActuation != "" || v.Name != "Wellhead A1" {
		t.Errorf("the import must leave the rest of the valve alone: %+v", v)
	}
	if v3, _ := tb.store.Valve(ctx, "v-103"); v3.LastActuationTime != nil || v3.LastTorqueNm != nil {
		t.Errorf("v-103 had nothing to import: %+v", v3)
	}

	// History, newest first, as GET /valves/{id}/actuations reads it.
	acts, next, err := tb.store.Actuations(ctx, "v-101", domain.Page{Limit: 50})
	if err != nil || next != "" {
		t.Fatal(err, next)
	}
	var got []string
	for _, a := range acts {
		got = append(got, fmt.Sprintf("%s %s %s torque=%v ms=%d req=%s done=%s reason=%q",
			a.ID, a.Command, a.State, *a.TorqueNm, *a.DurationMs, a.RequestedAt.Format(time.RFC3339Nano), a.CompletedAt.Format(time.RFC3339Nano), a.Reason))
	}
	wantActs := []string{
		legacy.ActuationID("v-101", utc("2025-03-04T10:15:30.123456")) + " TORQUE_TEST succeeded torque=48.7 ms=1781 req=2025-03-04T10:15:30.123456Z done=2025-03-04T10:15:31.904512Z reason=\"\"",
		legacy.ActuationID("v-101", utc("2025-03-04T09:59:58.000120")) + " TORQUE_TEST failed torque=131 ms=3250 req=2025-03-04T09:59:58.00012Z done=2025-03-04T10:00:01.25012Z reason=\"unknown\"",
		legacy.ActuationID("v-101", utc("2025-03-03T08:00:00")) + " TORQUE_TEST succeeded torque=50.2 ms=2500 req=2025-03-03T08:00:00Z done=2025-03-03T08:00:02.5Z reason=\"\"",
	}
	if strings.Join(got, "\n") != strings.Join(wantActs, "\n") {
		t.Errorf("v-101 history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantActs, "\n"))
	}
	one, err := tb.store.Actuation(ctx, "v-102", legacy.ActuationID("v-102", utc("2025-02-19T07:30:00.500000")))
	if err != nil || one.State != domain.ActuationFailed || one.TorqueNm != nil || *one.DurationMs != 30000 {
		t.Errorf("v-102's failed actuation without torque = %+v, %v", one, err)
	}

	// Incidents, as GET /incidents/{id} reads them.
	in, timeline, err := tb.store.Incident(ctx, "inc-2025-001")
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != domain.IncidentResolved || in.Severity != domain.SeverityCritical || in.Title != "Over-torque on Wellhead A1" ||
		in.RootCause != "Seized stem packing" || in.ResolvedAt == nil || !in.ResolvedAt.Equal(utc("2025-03-04T11:30:00")) ||
		!in.StartedAt.Equal(utc("2025-03-04T10:00:01.250120")) || !in.UpdatedAt.Equal(utc("2025-03-04T11:30:00")) || in.Version != 1 {
		t.Errorf("incident = %+v", in)
	}
	got = nil
	for _, e := range timeline {
		got = append(got, e.At.Format(time.RFC3339Nano)+" "+e.Kind+" "+e.Message)
	}
	wantTL := []string{
		"2025-03-04T11:30:00Z resolution Resolved: Packing replaced",
		// Two entries of the same second keep the file's order.
		"2025-03-04T10:05:00Z note Crew dispatched: ETA 40 minutes",
		"2025-03-04T10:05:00Z status_change Acknowledged",
		"2025-03-04T10:00:01.25012Z created Incident opened: Torque test failed at 131 Nm",
	}
	if strings.Join(got, "\n") != strings.Join(wantTL, "\n") {
		t.Errorf("timeline, newest first:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantTL, "\n"))
	}
	mapped := legacy.IncidentID("INC 2025/002")
	if !domain.ValidID(mapped) || mapped == "INC 2025/002" {
		t.Fatalf("mapped id %q", mapped)
	}
	if in2, tl2, err := tb.store.Incident(ctx, mapped); err != nil || in2.Status != domain.IncidentInvestigating || len(tl2) != 2 || in2.ResolvedAt != nil {
		t.Errorf("mapped incident = %+v %+v %v", in2, tl2, err)
	}
	unresolved, err := tb.store.UnresolvedIncidents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, u := range unresolved {
		got = append(got, u.ID)
	}
	if want := []string{"inc-2025-003", mapped, "inc-2025-004"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("unresolved, newest first = %v, want %v", got, want)
	}
	counts, err := tb.store.IncidentCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Total != 4 || counts.Resolved != 1 || math.Abs(counts.ResolutionMinutesTotal-(89+58.74988/60)) > 1e-9 {
		t.Errorf("counts = %+v", counts)
	}

	// Each imported item has its event, marked as imported, at its time.
	evs, _, err := tb.store.Events(ctx, domain.EventFilter{Asset: "v-101"}, domain.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, e := range evs {
		var data map[string]any
		_ = json.Unmarshal(e.Data, &data)
		got = append(got, fmt.Sprintf("%s %s %v %v", e.Type, e.At.Format(time.RFC3339Nano), data["imported_from"], data["actuation_id"] != nil))
	}
	wantEv := []string{
		"valve.actuation.completed 2025-03-04T10:15:31.904512Z legacy true",
		"valve.actuation.failed 2025-03-04T10:00:01.25012Z legacy true",
		"valve.actuation.completed 2025-03-03T08:00:02.5Z legacy true",
	}
	if strings.Join(got, "\n") != strings.Join(wantEv, "\n") {
		t.Errorf("events of v-101:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantEv, "\n"))
	}
	created, _, err := tb.store.Events(ctx, domain.EventFilter{Type: domain.EventIncidentCreated}, domain.Page{Limit: 50})
	if err != nil || len(created) != 4 {
		t.Fatalf("incident.created events = %d, %v", len(created), err)
	}

	// A second run finds everything and writes nothing.
	after := tb.scan(t)
	again := plan(t, im, samples(t))
	if !again.Empty() {
		var r strings.Builder
		again.Report(&r)
		t.Fatalf("second plan is not empty:\n%s", r.String())
	}
	if s := again.Summary(); s.ActuationsPresent != 5 || s.IncidentsUnchanged != 4 {
		t.Errorf("second plan = %+v", s)
	}
	if err := im.Apply(ctx, again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, tb.scan(t)) {
		t.Error("the second run changed the table")
	}
}

func TestANewerLastActuationOfOursIsKept(t *testing.T) {
	tb := newTable(t)
	ours := utc("2025-06-01T00:00:00")
	torque := 61.0
	if err := tb.store.SetLastActuation(ctx, store.LastActuation{ValveID: "v-101", At: ours, TorqueNm: &torque}); err != nil {
		t.Fatal(err)
	}
	im := legacy.New(tb.store)
	p := plan(t, im, legacy.Files{Valves: file(t, "testdata/valves.json")})
	if s := p.Summary(); s.LastActuationsRaised != 1 || s.ActuationsAdded != 5 {
		t.Fatalf("plan = %+v (only v-102's last actuation is newer than ours)", s)
	}
	if err := im.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	v, _ := tb.store.Valve(ctx, "v-101")
	if !v.LastActuationTime.Equal(ours) || *v.LastTorqueNm != 61 {
		t.Errorf("v-101 = %+v, want ours kept", v)
	}
	v2, _ := tb.store.Valve(ctx, "v-102")
	if v2.LastActuationTime == nil || !v2.LastActuationTime.Equal(utc("2025-02-20T14:02:11")) || *v2.LastTorqueNm != 52 {
		t.Errorf("v-102 = %+v", v2)
	}
	// The history is imported all the same.
	acts, _, _ := tb.store.Actuations(ctx, "v-101", domain.Page{Limit: 50})
	if len(acts) != 3 {
		t.Errorf("v-101 history = %d actuations", len(acts))
	}
}

func TestAValveChangedBetweenPlanAndApplyIsNotOverwritten(t *testing.T) {
	tb := newTable(t)
	im := legacy.New(tb.store)
	p := plan(t, im, legacy.Files{Valves: file(t, "testdata/valves.json")})
	// An actuation ends after the plan read the valve.
	later := utc("2025-07-01T00:00:00")
	if err := tb.store.SetLastActuation(ctx, store.LastActuation{ValveID: "v-101", At: later}); err != nil {
		t.Fatal(err)
	}
	if err := im.Apply(ctx, p); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("apply = %v, want a conflict", err)
	}
	if v, _ := tb.store.Valve(ctx, "v-101"); !v.LastActuationTime.Equal(later) {
		t.Errorf("v-101 = %+v", v)
	}
	// Running again plans from what is there now and completes.
	p = plan(t, im, legacy.Files{Valves: file(t, "testdata/valves.json")})
	if err := im.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	if again := plan(t, im, legacy.Files{Valves: file(t, "testdata/valves.json")}); !again.Empty() {
		t.Errorf("third plan = %+v", again.Summary())
	}
}

func TestMalformedFilesWriteNothing(t *testing.T) {
	tb := newTable(t)
	im := legacy.New(tb.store)
	before := tb.scan(t)
	bad, err := os.ReadDir("testdata/bad")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range bad {
		// The bad file with a good partner: the good one is not imported
		// either.
		f := samples(t)
		if strings.HasPrefix(e.Name(), "valves") {
			f.Valves = file(t, "testdata/bad/"+e.Name())
		} else {
			f.Incidents = file(t, "testdata/bad/"+e.Name())
		}
		p, err := im.Plan(ctx, f, legacy.Options{})
		var refused *legacy.RefusedError
		if !errors.As(err, &refused) || p != nil {
			t.Errorf("%s: plan = %v, %v; want a refusal", e.Name(), p, err)
			continue
		}
		if refused.Problems[0].File != "testdata/bad/"+e.Name() {
			t.Errorf("%s: problem names %s", e.Name(), refused.Problems[0].File)
		}
	}
	if !bytes.Equal(before, tb.scan(t)) {
		t.Error("a refused import wrote to the table")
	}
}

func TestUnknownValvesAreRefusedUnlessSkipped(t *testing.T) {
	tb := newTable(t)
	im := legacy.New(tb.store)
	data := []byte(`{
  "v-101": {"lastTorqueNm": 50, "lastActuationTime": "2025-01-01T00:00:02", "updatedAt": "2025-01-01T00:00:02", "actuations": [
    {"valve_id": "v-101", "requested_at": "2025-01-01T00:00:00", "torque_nm": 50, "completed_at": "2025-01-01T00:00:02", "success": true, "duration": 2}]},
  "v-999": {"lastTorqueNm": 50, "lastActuationTime": null, "updatedAt": "2025-01-01T00:00:00", "actuations": []}
}`)
	f := legacy.Files{Valves: &legacy.File{Name: "valves.json", Data: data}}
	before := tb.scan(t)
	_, err := im.Plan(ctx, f, legacy.Options{})
	var refused *legacy.RefusedError
	if !errors.As(err, &refused) || len(refused.Problems) != 1 {
		t.Fatalf("err = %v", err)
	}
	if p := refused.Problems[0]; p.Line != 4 || p.Col != 3 || !strings.Contains(p.Reason, `valve "v-999" is not in the inventory`) {
		t.Errorf("problem = %s", p)
	}
	if !bytes.Equal(before, tb.scan(t)) {
		t.Fatal("refused, yet written")
	}

	p, err := im.Plan(ctx, f, legacy.Options{SkipUnknownValves: true})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Summary(); s.ValvesSkipped != 1 || s.ValvesUpdated != 1 || s.ActuationsAdded != 1 {
		t.Errorf("plan = %+v", s)
	}
	var r strings.Builder
	p.Report(&r)
	if !strings.Contains(r.String(), `skipped: valves.json:4:3: valve "v-999" is not in the inventory: left out`) {
		t.Errorf("report:\n%s", r.String())
	}
	if err := im.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.store.Valve(ctx, "v-999"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the import created a valve: %v", err)
	}
}

func TestAnIncidentIDOfTheServiceIsNotTakenOver(t *testing.T) {
	tb := newTable(t)
	now := utc("2025-03-04T10:00:00")
	in := domain.Incident{ID: "inc-2025-003", Title: "ours", Severity: "info", Status: "active", StartedAt: now, UpdatedAt: now, Version: 1}
	if err := tb.store.CreateIncident(ctx, in, domain.TimelineEntry{At: now, Kind: "created", Message: "ours"}, domain.NewEvent(domain.EventIncidentCreated, in.ID, "", now, nil)); err != nil {
		t.Fatal(err)
	}
	before := tb.scan(t)
	_, err := legacy.New(tb.store).Plan(ctx, samples(t), legacy.Options{})
	var refused *legacy.RefusedError
	if !errors.As(err, &refused) || len(refused.Problems) != 1 || !strings.Contains(refused.Problems[0].Reason, `incident id "inc-2025-003" is taken by an incident that was not imported`) {
		t.Fatalf("err = %v", err)
	}
	if !bytes.Equal(before, tb.scan(t)) {
		t.Fatal("refused, yet written")
	}
}

func TestLaterEntriesOfTheOldFileAreAddedAndOurChangesKept(t *testing.T) {
	tb := newTable(t)
	im := legacy.New(tb.store)
	f := legacy.Files{Incidents: file(t, "testdata/incidents.json")}
	if err := im.Apply(ctx, plan(t, im, f)); err != nil {
		t.Fatal(err)
	}
	// Since the first pass, operators moved an incident on here, and the
	// old service added a timeline entry to another.
	in, _, _ := tb.store.Incident(ctx, "inc-2025-003")
	after := in
	after.Status, after.Version = domain.IncidentAcknowledged, 2
	if err := tb.store.UpdateIncident(ctx, in, after, nil, domain.NewEvent(domain.EventIncidentUpdated, in.ID, "", in.StartedAt, nil)); err != nil {
		t.Fatal(err)
	}
	data := bytes.Replace(f.Incidents.Data, []byte(`"timeline": []`), []byte(`"timeline": [{"timestamp": "2025-03-07T08:00:00", "type": "note", "title": "Gauge back"}]`), 1)
	f.Incidents = &legacy.File{Name: "incidents.json", Data: data}

	p := plan(t, im, f)
	if s := p.Summary(); s.IncidentsKept != 1 || s.IncidentsUnchanged != 3 || s.TimelineEntriesAdded != 1 || s.IncidentsWithNewEntries != 1 {
		t.Fatalf("plan = %+v", s)
	}
	var r strings.Builder
	p.Report(&r)
	if !strings.Contains(r.String(), "incident inc-2025-003: here already and differs in [status]: ours kept; 1 timeline entry to add") {
		t.Errorf("report:\n%s", r.String())
	}
	if err := im.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, tl, err := tb.store.Incident(ctx, "inc-2025-003")
	if err != nil || got.Status != domain.IncidentAcknowledged || len(tl) != 1 || tl[0].Message != "Gauge back" {
		t.Errorf("incident = %+v %+v %v", got, tl, err)
	}
	if again := plan(t, im, f); !again.Empty() {
		t.Errorf("again = %+v", again.Summary())
	}
}

// failingDB is the real client with one TransactWriteItems call failing,
// as a lost connection would: what came before it is written, what comes
// after is not.
type failingDB struct {
	store.API
	failAt, calls int
}

func (f *failingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	f.calls++
	if f.calls == f.failAt {
		return nil, errors.New("connection reset")
	}
	return f.API.TransactWriteItems(ctx, in, opts...)
}

// bigFiles make a valve with 120 actuations and an incident with 150
// timeline entries: more than one transaction each.
func bigFiles() legacy.Files {
	var acts, entries []string
	start := utc("2025-01-01T00:00:00")
	for i := range 120 {
		at := start.Add(time.Duration(i) * time.Minute)
		acts = append(acts, fmt.Sprintf(`{"valve_id": "v-102", "requested_at": %q, "torque_nm": %d, "completed_at": %q, "success": %t, "duration": 2}`,
			at.Format("2006-01-02T15:04:05"), 40+i%20, at.Add(2*time.Second).Format("2006-01-02T15:04:05"), i%7 != 0))
	}
	for i := range 150 {
		entries = append(entries, fmt.Sprintf(`{"timestamp": %q, "type": "note", "title": "reading %d"}`,
			start.Add(time.Duration(i/2)*time.Second).Format("2006-01-02T15:04:05"), i))
	}
	valves := fmt.Sprintf(`{"v-102": {"lastTorqueNm": 45, "lastActuationTime": "2025-01-01T02:00:00", "updatedAt": "2025-01-01T02:00:00", "actuations": [%s]}}`, strings.Join(acts, ",\n"))
	incs := fmt.Sprintf(`[{"id": "long-one", "title": "Long", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00", "timeline": [%s]}]`, strings.Join(entries, ",\n"))
	return legacy.Files{Valves: &legacy.File{Name: "v.json", Data: []byte(valves)}, Incidents: &legacy.File{Name: "i.json", Data: []byte(incs)}}
}

func TestARunAfterAPartialFailureWritesTheRest(t *testing.T) {
	f := bigFiles()
	// Transactions: actuations 1-50, 51-100, 101-120, then the
	// incident's first 100 entries, then its last 50 with the incident.
	// Each failure point leaves a different part written.
	for failAt := 1; failAt <= 5; failAt++ {
		t.Run(fmt.Sprint("failing transaction ", failAt), func(t *testing.T) {
			tb := newTable(t)
			flaky := &failingDB{API: tb.db, failAt: failAt}
			im := legacy.New(store.New(flaky, tb.name, nil))
			if err := im.Apply(ctx, plan(t, im, f)); err == nil || !strings.Contains(err.Error(), "connection reset") {
				t.Fatalf("apply = %v", err)
			}
			if failAt <= 4 {
				// Until the last transaction the incident does not exist
				// for reads, however many of its entries are written.
				if _, _, err := tb.store.Incident(ctx, "long-one"); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("a half-imported incident is visible: %v", err)
				}
			}
			im = legacy.New(tb.store)
			if err := im.Apply(ctx, plan(t, im, f)); err != nil {
				t.Fatal(err)
			}
			if again := plan(t, im, f); !again.Empty() {
				t.Fatalf("after the second run: %+v", again.Summary())
			}
			acts, err := allActuations(tb.store, "v-102")
			if err != nil || len(acts) != 120 {
				t.Errorf("actuations = %d, %v", len(acts), err)
			}
			in, tl, err := tb.store.Incident(ctx, "long-one")
			if err != nil || len(tl) != 150 || in.Status != domain.IncidentActive {
				t.Errorf("incident = %+v, %d entries, %v", in, len(tl), err)
			}
			evs, _, _ := tb.store.Events(ctx, domain.EventFilter{Asset: "v-102"}, domain.Page{Limit: 200})
			if len(evs) != 120 {
				t.Errorf("events of v-102 = %d, want one per actuation", len(evs))
			}
			if c, _ := tb.store.IncidentCounts(ctx); c.Total != 1 {
				t.Errorf("counted %d incidents", c.Total)
			}
		})
	}
}

func allActuations(st *store.Store, valve string) ([]domain.Actuation, error) {
	var all []domain.Actuation
	cursor := ""
	for {
		page, next, err := st.Actuations(ctx, valve, domain.Page{Limit: domain.MaxLimit, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		cursor = next
	}
}

func TestARetiredValveIsKnownAndGetsItsHistory(t *testing.T) {
	tb := newTable(t)
	rec, err := tb.store.ValveRecord(ctx, "v-102")
	if err != nil {
		t.Fatal(err)
	}
	retired := utc("2025-06-01T00:00:00")
	if err := tb.store.RetireValve(ctx, "v-102", rec.Version, retired, domain.NewEvent(domain.EventInventoryChanged, "v-102", "", retired, nil)); err != nil {
		t.Fatal(err)
	}
	im := legacy.New(tb.store)
	if err := im.Apply(ctx, plan(t, im, legacy.Files{Valves: file(t, "testdata/valves.json")})); err != nil {
		t.Fatal(err)
	}
	acts, _, err := tb.store.Actuations(ctx, "v-102", domain.Page{Limit: 50})
	if err != nil || len(acts) != 2 {
		t.Errorf("a retired valve's history = %d, %v", len(acts), err)
	}
	if v, _ := tb.store.Valve(ctx, "v-102"); v.RetiredAt == nil || !v.RetiredAt.Equal(retired) {
		t.Errorf("the import must not bring a valve back into service: %+v", v)
	}
}
