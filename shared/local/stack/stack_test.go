package stack_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/local/stack"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// testConfig is a stack on free ports over the test binary's DynamoDB
// Local, with a table of its own that lasts as long as the test: a stack
// started again on the same dir finds its table again.
func testConfig(t *testing.T, dir string) stack.Config {
	t.Helper()
	endpoint, _ := dynamotest.Endpoint(t)
	return testConfigAt(t, dir, endpoint)
}

// testConfigAt is testConfig over the DynamoDB at endpoint (an outage
// proxy in front of the binary's).
func testConfigAt(t *testing.T, dir, endpoint string) stack.Config {
	t.Helper()
	sum := sha256.Sum256([]byte(dir))
	table := "plainview-" + hex.EncodeToString(sum[:6])
	dynamotest.DeleteAtEnd(t, store.NewClient(store.LocalConfig(), endpoint), table)
	return stack.Config{
		DynamoEndpoint: endpoint, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: dir, TableName: table, Version: "test",
	}
}

func start(t *testing.T, dir string) *stack.Stack {
	t.Helper()
	st, err := stack.Start(context.Background(), testConfig(t, dir))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
	return m
}

func call(t *testing.T, method, u string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, b}
}

// errorCode checks the error shape and returns its code.
func errorCode(t *testing.T, a answer) string {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q", ct)
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(a.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("not the error shape: %s (%v)", a.body, err)
	}
	return e.Error.Code
}

// fixture writes what the write routes will write once they exist, through
// the store's transactions: two incidents, three leaks, some events.
func fixture(t *testing.T, s *store.Store) (incident string, events []domain.Event) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	in := domain.Incident{ID: domain.NewID("inc", now.Add(-10*time.Minute)), Title: "Leak on A-North", Severity: domain.SeverityCritical,
		Status: domain.IncidentActive, AffectedModules: []string{"pipeline-guard"}, StartedAt: now.Add(-10 * time.Minute), UpdatedAt: now, Version: 1}
	var tx store.Tx
	tx.PutIncident(in)
	tx.PutTimeline(in.ID, 0, domain.TimelineEntry{At: in.StartedAt, Kind: "created", Message: "opened by leak-a"})
	tx.PutTimeline(in.ID, 1, domain.TimelineEntry{At: in.StartedAt.Add(time.Minute), Kind: "alert", Message: "leak-b joined", AlertID: "leak-b"})
	vol := 120.5
	for i, a := range []domain.Alert{
		{ID: "leak-a", Section: "A-North", Severity: domain.LeakCritical, Status: domain.AlertActive, VolumeEstimate: &vol, CreatedAt: now.Add(-10 * time.Minute), IncidentID: in.ID},
		{ID: "leak-b", Section: "A-North", Severity: domain.LeakMinor, Status: domain.AlertAcknowledged, CreatedAt: now.Add(-9 * time.Minute), IncidentID: in.ID},
		{ID: "leak-c", Section: "C-South", Severity: domain.LeakMajor, Status: domain.AlertRepaired, CreatedAt: now.Add(-8 * time.Minute)},
	} {
		tx.PutAlert(a)
		e := domain.Event{ID: domain.NewID("evt", a.CreatedAt), Type: domain.EventAlertCreated, At: a.CreatedAt, Asset: a.Section, Data: json.RawMessage(fmt.Sprintf(`{"alert_id":%q,"n":%d}`, a.ID, i))}
		tx.PutEvent(e)
		events = append(events, e)
	}
	act := domain.Actuation{ID: domain.NewID("act", now), ValveID: "v-101", Command: "OPEN", State: domain.ActuationSucceeded, RequestedAt: now, Deadline: now.Add(30 * time.Second)}
	tx.PutActuation(act)
	if err := s.Commit(ctx, &tx); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return in.ID, events
}

func TestReadRoutesThroughTheLocalGateway(t *testing.T) {
	st := start(t, t.TempDir())
	incID, events := fixture(t, st.Store)
	api := st.APIURL

	type check func(t *testing.T, a answer)
	status := func(want int) check {
		return func(t *testing.T, a answer) {
			t.Helper()
			if a.status != want {
				t.Fatalf("status %d, want %d: %s", a.status, want, a.body)
			}
		}
	}
	field := func(key string, want any) check {
		return func(t *testing.T, a answer) {
			t.Helper()
			if got := a.json(t)[key]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s = %v, want %v (%s)", key, got, want, a.body)
			}
		}
	}
	errorOf := func(wantStatus int, wantCode string) check {
		return func(t *testing.T, a answer) {
			t.Helper()
			status(wantStatus)(t, a)
			if code := errorCode(t, a); code != wantCode {
				t.Errorf("code = %q, want %q", code, wantCode)
			}
		}
	}
	tests := []struct {
		route  string // the route pattern covered; "" for error cases
		path   string
		checks []check
	}{
		{"GET /{$}", "/", []check{status(200), field("service", "plainview"), field("version", "test")}},
		{"GET /health", "/health", []check{status(200), field("status", "ok"), field("checks", map[string]any{"database": "ok", "mqtt": "ok"}), field("version", "test")}},
		{"GET /livez", "/livez", []check{status(200), field("status", "ok")}},
		{"GET /readyz", "/readyz", []check{status(200), field("status", "ready")}},
		{"GET /modules", "/modules", []check{status(200), func(t *testing.T, a answer) {
			var mods []domain.Module
			json.Unmarshal(a.body, &mods)
			var keys []string
			for _, m := range mods {
				keys = append(keys, m.Key)
			}
			if fmt.Sprint(keys) != "[valve-ops pipeline-guard flow-iq incidents]" {
				t.Errorf("modules = %s", a.body)
			}
		}}},
		{"GET /valves", "/valves", []check{status(200), func(t *testing.T, a answer) {
			var vs []map[string]any
			if err := json.Unmarshal(a.body, &vs); err != nil || len(vs) != 3 {
				t.Fatalf("valves = %s", a.body)
			}
			for i, id := range []string{"v-101", "v-102", "v-103"} {
				if vs[i]["id"] != id || vs[i]["status"] != "ok" || vs[i]["connected"] != false {
					t.Errorf("valve %d = %v", i, vs[i])
				}
			}
		}}},
		{"GET /valves/{id}", "/valves/v-102", []check{status(200), field("id", "v-102"), field("name", "Manifold B2"), field("pressure_pa", 2.4e6), field("last_seen", nil),
			func(t *testing.T, a answer) {
				for _, k := range []string{"id", "name", "status", "temperature", "pressure_pa", "last_torque_nm", "last_actuation_time", "estimated_maintenance", "connected", "last_seen"} {
					if _, ok := a.json(t)[k]; !ok {
						t.Errorf("valve has no %q: %s", k, a.body)
					}
				}
			}}},
		{"", "/valves/v-999", []check{errorOf(404, "not_found")}},
		{"", "/valves/bad%20id", []check{errorOf(404, "not_found")}},
		{"", "/valves/a%25b", []check{errorOf(404, "not_found")}},
		{"", "/valves/" + strings.Repeat("x", 65), []check{errorOf(404, "not_found")}},
		{"GET /valves/{id}/health", "/valves/v-101/health", []check{status(200), field("valve_id", "v-101"), field("status", "ok"), field("health_score", 100),
			field("thresholds", map[string]any{"temperature_warning_c": 60, "temperature_offline_c": 75, "pressure_warning_pa": 2.8e6, "pressure_offline_pa": 3e6})}},
		{"GET /valves/{id}/actuations", "/valves/v-101/actuations", []check{status(200), func(t *testing.T, a answer) {
			items := a.json(t)["items"].([]any)
			if len(items) != 1 || items[0].(map[string]any)["command"] != "OPEN" {
				t.Errorf("actuations = %s", a.body)
			}
		}}},
		{"", "/valves/v-102/actuations", []check{status(200), field("items", []any{}), field("next_cursor", nil)}},
		{"", "/valves/v-101/actuations?limit=0", []check{errorOf(400, "bad_request")}},
		{"", "/valves/v-101/actuations?cursor=forged", []check{errorOf(400, "bad_request")}},
		{"", "/valves/v-101/actuations?colour=red", []check{errorOf(400, "bad_request")}},
		{"GET /valves/{id}/actuations/{actuation_id}", "/valves/v-101/actuations/act-none", []check{errorOf(404, "not_found")}},
		{"GET /incidents", "/incidents", []check{status(200), field("active_count", 1), func(t *testing.T, a answer) {
			m := a.json(t)
			if got := m["active_incidents"].([]any); len(got) != 1 || got[0].(map[string]any)["id"] != incID {
				t.Errorf("active = %v", got)
			}
			if got := m["recent_incidents"].([]any); len(got) != 1 {
				t.Errorf("recent = %v", got)
			}
		}}},
		{"GET /incidents/health", "/incidents/health", []check{status(200), field("total_incidents", 1), field("active_incidents", 1), field("critical_incidents", 1), field("system_health", "critical")}},
		{"GET /incidents/{id}", "/incidents/" + incID, []check{status(200), field("id", incID), field("title", "Leak on A-North"), func(t *testing.T, a answer) {
			tl := a.json(t)["timeline"].([]any)
			if len(tl) != 2 || tl[0].(map[string]any)["alert_id"] != "leak-b" {
				t.Errorf("timeline = %v, want newest first", tl)
			}
		}}},
		{"GET /incidents/{id}/timeline", "/incidents/" + incID + "/timeline", []check{status(200), field("incident_id", incID), field("status", "active"), field("resolved_at", nil)}},
		{"", "/incidents/inc-none/timeline", []check{errorOf(404, "not_found")}},
		{"GET /pipeline/alerts", "/pipeline/alerts", []check{status(200), field("active_leak_count", 2), field("critical_count", 1), field("integrity", 50), func(t *testing.T, a answer) {
			if got := a.json(t)["recent_history"].([]any); len(got) != 3 {
				t.Errorf("recent_history = %v", got)
			}
		}}},
		{"GET /pipeline/health", "/pipeline/health", []check{status(200), field("integrity_score", 50), field("active_leaks", 2), field("estimated_volume_lost", 120.5), func(t *testing.T, a answer) {
			p := a.json(t)["pressure_profile"].(map[string]any)
			if len(p) != 5 || p["A-North"].(map[string]any)["active_leaks"] != 2.0 {
				t.Errorf("pressure_profile = %v", p)
			}
		}}},
		{"GET /pipeline/sections/{section}", "/pipeline/sections/A-North", []check{status(200), field("section", "A-North"), field("risk_level", "low"), field("active_leak_count", 2)}},
		{"", "/pipeline/sections/C-South", []check{status(200), field("active_leak_count", 0), field("last_incident", nil)}},
		{"", "/pipeline/sections/Z-Nowhere", []check{errorOf(404, "not_found")}},
		{"GET /events", "/events", []check{status(200), func(t *testing.T, a answer) {
			m := a.json(t)
			items := m["items"].([]any)
			if len(items) != 3 || items[0].(map[string]any)["id"] != events[2].ID {
				t.Errorf("events = %s", a.body)
			}
			if m["poll_cursor"] == "" {
				t.Errorf("no poll_cursor: %s", a.body)
			}
		}}},
		{"", "/events?asset=A-North&type=alert.created&limit=1", []check{status(200), func(t *testing.T, a answer) {
			m := a.json(t)
			if items := m["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != events[1].ID || m["next_cursor"] == nil {
				t.Errorf("filtered page = %s", a.body)
			}
		}}},
		{"", "/events?type=valve.exploded", []check{errorOf(400, "bad_request")}},
		{"", "/events?since=bm90LWEtY3Vyc29y", []check{errorOf(400, "bad_request")}},
		{"", "/events?limit=201", []check{errorOf(400, "bad_request")}},
		{"GET /telemetry", "/telemetry", []check{status(200), field("items", []any{}), field("next_cursor", nil)}},
		{"", "/telemetry?metric=humidity", []check{errorOf(400, "bad_request")}},
		{"", "/telemetry?metric=kpa", []check{errorOf(400, "bad_request")}},
		{"GET /telemetry/series", "/telemetry/series?device=v-101&metric=flow_rate_lpm&step=1h", []check{status(200), field("device", "v-101"), field("step", "1h0m0s")}},
		{"", "/telemetry/series?device=v-101&metric=flow_rate_lpm&step=1s", []check{errorOf(400, "bad_request")}},
		{"GET /flow/metrics", "/flow/metrics", []check{status(200), field("current", map[string]any{}), field("history", []any{})}},
		{"GET /flow/anomalies", "/flow/anomalies", []check{status(200), field("items", []any{}), field("next_cursor", nil)}},
		{"GET /flow/health", "/flow/health", []check{status(200), field("health_score", 100), field("anomaly_count", 0), field("recent_anomalies", []any{})}},
		{"GET /openapi.json", "/openapi.json", []check{status(200), field("openapi", "3.1.0"), func(t *testing.T, a answer) {
			paths, _ := a.json(t)["paths"].(map[string]any)
			if _, ok := paths["/valves/{id}/actuate"]; !ok {
				t.Errorf("the document has no /valves/{id}/actuate: %d paths", len(paths))
			}
		}}},
		{"", "/health?verbose=1", []check{errorOf(400, "bad_request")}},
		{"", "/nowhere", []check{errorOf(404, "not_found")}},
		{"", "/valves/v-101/unknown", []check{errorOf(404, "not_found")}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.route] = true
		t.Run(tt.path, func(t *testing.T) {
			a := call(t, http.MethodGet, api+tt.path)
			if a.header.Get("X-Amzn-Requestid") == "" {
				t.Errorf("no x-amzn-RequestId")
			}
			for _, c := range tt.checks {
				c(t, a)
			}
		})
	}
	// Every read route of the table is covered above.
	for _, r := range routes.Table() {
		if r.Method == http.MethodGet && !covered[r.Pattern()] {
			t.Errorf("route %s has no test", r.Pattern())
		}
	}
}

func TestAMethodThePathDoesNotHaveIs405WithAllow(t *testing.T) {
	st := start(t, t.TempDir())
	before := tableDump(t, st)
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodDelete, "/valves/v-101", "GET, HEAD, OPTIONS"},
		{http.MethodPut, "/valves/v-101", "GET, HEAD, OPTIONS"},
		{http.MethodPatch, "/incidents", "GET, HEAD, POST, OPTIONS"},
		{http.MethodPost, "/valves/v-101/health", "GET, HEAD, OPTIONS"},
		{http.MethodGet, "/valves/v-101/actuate", "POST, OPTIONS"},
	} {
		a := call(t, c.method, st.APIURL+c.path)
		if a.status != 405 || a.header.Get("Allow") != c.allow || errorCode(t, a) != "method_not_allowed" {
			t.Errorf("%s %s: %d Allow %q %s", c.method, c.path, a.status, a.header.Get("Allow"), a.body)
		}
	}
	if a := call(t, http.MethodDelete, st.APIURL+"/nothing/here"); a.status != 404 || errorCode(t, a) != "not_found" {
		t.Errorf("an unknown path: %d %s", a.status, a.body)
	}
	// HEAD on a GET route: the GET's status and headers, no body.
	get, head := call(t, http.MethodGet, st.APIURL+"/valves/v-101"), call(t, http.MethodHead, st.APIURL+"/valves/v-101")
	if head.status != 200 || len(head.body) != 0 || head.header.Get("Content-Type") != get.header.Get("Content-Type") {
		t.Errorf("HEAD: %d %q %v", head.status, head.body, head.header)
	}
	if after := tableDump(t, st); after != before {
		t.Errorf("refused methods changed the store")
	}
}

func TestDataSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	st := start(t, dir)
	incID, _ := fixture(t, st.Store)
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	again := start(t, dir)
	a := call(t, http.MethodGet, again.APIURL+"/incidents/"+incID)
	if a.status != 200 || a.json(t)["title"] != "Leak on A-North" {
		t.Fatalf("after restart: %d %s", a.status, a.body)
	}
	if v := call(t, http.MethodGet, again.APIURL+"/valves"); v.status != 200 || strings.Count(string(v.body), `"id"`) != 3 {
		t.Errorf("valves after restart: %s", v.body)
	}
	if a := call(t, http.MethodGet, again.APIURL+"/incidents/health"); a.json(t)["total_incidents"] != 1.0 {
		t.Errorf("counts after restart: %s", a.body)
	}
	if st.Operator != again.Operator {
		t.Errorf("operator login changed across restart")
	}
}

func TestOperatorMayUseTheBrokerOthersMayNot(t *testing.T) {
	st := start(t, t.TempDir())
	connect := func(user, pass string) (paho.Client, error) {
		opts := paho.NewClientOptions().AddBroker(st.MQTTURL).SetClientID("t-" + user).
			SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectRetry(false)
		c := paho.NewClient(opts)
		tok := c.Connect()
		if !tok.WaitTimeout(5 * time.Second) {
			return nil, fmt.Errorf("connect timed out")
		}
		return c, tok.Error()
	}
	if _, err := connect("operator", "wrong"); err == nil {
		t.Errorf("wrong password accepted")
	}
	if _, err := connect("someone", st.Operator.Password); err == nil {
		t.Errorf("unknown user accepted")
	}
	c, err := connect(st.Operator.Username, st.Operator.Password)
	if err != nil {
		t.Fatalf("operator refused: %v", err)
	}
	defer c.Disconnect(100)
	// It watches every topic (and publishes on none:
	// TestTheOperatorWatchesButCannotCommand).
	if tok := c.Subscribe("#", 1, func(paho.Client, paho.Message) {}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
}
