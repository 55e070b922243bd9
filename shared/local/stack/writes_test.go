package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/local/stack"
)

// End-to-end tests of the write routes: each request goes through the local
// API Gateway, the authorizer and the functions' handlers into DynamoDB
// Local, and commands out through the MQTT broker, as on AWS. The business
// rules they meet (one open actuation per valve, STOP, an unavailable
// valve, leak correlation, incident updates) are tested case by case over
// in-memory stores beside their packages: shared/core/actuation, leaks,
// incidents; these check that the pieces carry them end to end.

// writeStack starts a stack for the write tests: throttles off (the tests
// fire bursts on purpose), CORS for one origin.
func writeStack(t *testing.T) *stack.Stack {
	t.Helper()
	policy, err := cors.Parse("https://ops.example.com")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, t.TempDir())
	cfg.CORS, cfg.DisableThrottling = policy, true
	st, err := stack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newKey adds a key to the stack's key file and returns it.
func newKey(t *testing.T, st *stack.Stack, id string, scopes []string, assets ...string) string {
	t.Helper()
	ctx := context.Background()
	plain, k, err := auth.Generate(id, scopes, assets, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	file := auth.FileStore{Path: st.KeysFile}
	ring, err := file.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Add(k); err != nil {
		t.Fatal(err)
	}
	if err := file.Save(ctx, ring); err != nil {
		t.Fatal(err)
	}
	return plain
}

func revokeKey(t *testing.T, st *stack.Stack, id string) {
	t.Helper()
	ctx := context.Background()
	file := auth.FileStore{Path: st.KeysFile}
	ring, err := file.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Revoke(id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := file.Save(ctx, ring); err != nil {
		t.Fatal(err)
	}
}

type req struct {
	method, path, key, body string
	header                  map[string]string
}

func send(t *testing.T, st *stack.Stack, r req) answer {
	t.Helper()
	hr, err := http.NewRequest(r.method, st.APIURL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		hr.Header.Set("X-API-Key", r.key)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, b}
}

func post(t *testing.T, st *stack.Stack, key, path, body string) answer {
	t.Helper()
	return send(t, st, req{method: http.MethodPost, path: path, key: key, body: body})
}

func want(t *testing.T, a answer, status int) map[string]any {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	return a.json(t)
}

var allScopes = []string{"read", "valves:actuate", "valves:override", "incidents:write", "alerts:write"}

// tableDump is every item of the table, as DynamoDB JSON, sorted: two dumps
// are equal when the store is byte-for-byte the same.
func tableDump(t *testing.T, st *stack.Stack) string {
	t.Helper()
	db := store.NewClient(store.LocalConfig(), st.DynamoURL)
	var items []string
	var start map[string]types.AttributeValue
	for {
		out, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(st.TableName), ExclusiveStartKey: start})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			items = append(items, fmt.Sprintf("%#v", flatten(it)))
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	slices.Sort(items)
	return strings.Join(items, "\n")
}

func flatten(it map[string]types.AttributeValue) map[string]string {
	m := map[string]string{}
	for k, v := range it {
		m[k] = fmt.Sprintf("%#v", v)
	}
	return m
}

func TestWriteRoutesRefuseMissingBadRevokedAndUnderprivilegedKeys(t *testing.T) {
	st := writeStack(t)
	good := newKey(t, st, "ops", allScopes)
	readOnly := newKey(t, st, "reader", []string{"read"})
	otherAssets := newKey(t, st, "east", allScopes, "v-2*", "D-East")
	revoked := newKey(t, st, "gone", allScopes)
	revokeKey(t, st, "gone")
	forged := good[:len(good)-4] + "0000"

	inc := want(t, post(t, st, good, "/incidents", `{"title":"t","severity":"info"}`), 201)["id"].(string)
	leak := want(t, post(t, st, good, "/pipeline/alerts", `{"section":"A-North","severity":"minor"}`), 201)["id"].(string)

	routes := []struct{ path, body string }{
		{"/valves/v-101/actuate", `{"command":"OPEN"}`},
		{"/incidents", `{"title":"x","severity":"info"}`},
		{"/incidents/" + inc + "/update", `{"status":"acknowledged"}`},
		{"/pipeline/alerts", `{"section":"A-North","severity":"minor"}`},
		{"/pipeline/alerts/" + leak + "/acknowledge", ``},
		{"/pipeline/alerts/" + leak + "/resolve", ``},
	}
	before := tableDump(t, st)
	for _, r := range routes {
		for name, key := range map[string]string{"no key": "", "malformed": "not-a-key", "unknown": "pv_nobody_" + strings.Repeat("a", 64), "forged": forged, "revoked": revoked} {
			a := post(t, st, key, r.path, r.body)
			if a.status != 401 || errorCode(t, a) != "unauthorized" {
				t.Errorf("%s %s: %d %s, want 401", name, r.path, a.status, a.body)
			}
		}
		if a := post(t, st, readOnly, r.path, r.body); a.status != 403 || errorCode(t, a) != "forbidden" {
			t.Errorf("read-only key %s: %d %s, want 403", r.path, a.status, a.body)
		}
	}
	// Asset restrictions: v-101 and A-North are not the key's.
	for _, r := range []struct{ path, body string }{routes[0], routes[3], routes[4], routes[5]} {
		if a := post(t, st, otherAssets, r.path, r.body); a.status != 403 || errorCode(t, a) != "forbidden" {
			t.Errorf("foreign asset %s: %d %s, want 403", r.path, a.status, a.body)
		}
	}
	if after := tableDump(t, st); after != before {
		t.Errorf("refused requests changed the store")
	}
}

func TestBadRequestsGetTheirStatusAndWriteNothing(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "ops", allScopes)
	inc := want(t, post(t, st, key, "/incidents", `{"title":"t","severity":"info"}`), 201)["id"].(string)
	leak := want(t, post(t, st, key, "/pipeline/alerts", `{"section":"B-Central","severity":"minor"}`), 201)["id"].(string)
	want(t, post(t, st, key, "/pipeline/alerts/"+leak+"/resolve", ""), 200)
	time.Sleep(10 * time.Millisecond)
	before := tableDump(t, st)

	big := `{"title":"` + strings.Repeat("x", 70<<10) + `","severity":"info"}`
	tests := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"actuate unknown command", req{path: "/valves/v-101/actuate", body: `{"command":"EXPLODE"}`}, 400, "bad_request"},
		{"actuate lower-case command", req{path: "/valves/v-101/actuate", body: `{"command":"open"}`}, 400, "bad_request"},
		{"actuate unknown field", req{path: "/valves/v-101/actuate", body: `{"command":"OPEN","force":true}`}, 400, "bad_request"},
		{"actuate wrong type", req{path: "/valves/v-101/actuate", body: `{"command":1}`}, 400, "bad_request"},
		{"actuate angle out of range", req{path: "/valves/v-101/actuate", body: `{"command":"OPEN","params":{"target_angle_deg":400}}`}, 400, "bad_request"},
		{"actuate negative torque", req{path: "/valves/v-101/actuate", body: `{"command":"OPEN","params":{"torque_limit_nm":-5}}`}, 400, "bad_request"},
		{"actuate speed as string", req{path: "/valves/v-101/actuate", body: `{"command":"OPEN","params":{"speed":"fast"}}`}, 400, "bad_request"},
		{"actuate empty override reason", req{path: "/valves/v-101/actuate", body: `{"command":"OPEN","override":{"reason":" "}}`}, 400, "bad_request"},
		{"actuate malformed JSON", req{path: "/valves/v-101/actuate", body: `{"command":`}, 400, "bad_request"},
		{"actuate trailing data", req{path: "/valves/v-101/actuate", body: `{"command":"OPEN"}{}`}, 400, "bad_request"},
		{"actuate array body", req{path: "/valves/v-101/actuate", body: `["OPEN"]`}, 400, "bad_request"},
		{"actuate not JSON", req{path: "/valves/v-101/actuate", body: `command=OPEN`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"},
		{"actuate unknown valve", req{path: "/valves/v-999/actuate", body: `{"command":"OPEN"}`}, 404, "not_found"},
		{"actuate bad valve id", req{path: "/valves/v%20101/actuate", body: `{"command":"OPEN"}`}, 404, "not_found"},
		{"actuate query string", req{path: "/valves/v-101/actuate?force=1", body: `{"command":"OPEN"}`}, 400, "bad_request"},
		{"incident without title", req{path: "/incidents", body: `{"severity":"info"}`}, 400, "bad_request"},
		{"incident blank title", req{path: "/incidents", body: `{"title":"  ","severity":"info"}`}, 400, "bad_request"},
		{"incident bad severity", req{path: "/incidents", body: `{"title":"t","severity":"apocalyptic"}`}, 400, "bad_request"},
		{"incident unknown module", req{path: "/incidents", body: `{"title":"t","severity":"info","affected_modules":["coffee"]}`}, 400, "bad_request"},
		{"incident modules not a list", req{path: "/incidents", body: `{"title":"t","severity":"info","affected_modules":"flow-iq"}`}, 400, "bad_request"},
		{"incident empty body", req{path: "/incidents", body: ``}, 400, "bad_request"},
		{"incident too large", req{path: "/incidents", body: big}, 413, "payload_too_large"},
		{"incident text/plain", req{path: "/incidents", body: `{"title":"t","severity":"info"}`, header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type"},
		{"update nothing", req{path: "/incidents/" + inc + "/update", body: `{}`}, 400, "bad_request"},
		{"update bad status", req{path: "/incidents/" + inc + "/update", body: `{"status":"closed"}`}, 400, "bad_request"},
		{"update version not integer", req{path: "/incidents/" + inc + "/update", body: `{"status":"acknowledged","version":1.5}`}, 400, "bad_request"},
		{"update version zero", req{path: "/incidents/" + inc + "/update", body: `{"status":"acknowledged","version":0}`}, 400, "bad_request"},
		{"update unknown incident", req{path: "/incidents/inc-none/update", body: `{"status":"acknowledged"}`}, 404, "not_found"},
		{"update stale version", req{path: "/incidents/" + inc + "/update", body: `{"status":"acknowledged","version":7}`}, 409, "version_conflict"},
		{"leak unknown section", req{path: "/pipeline/alerts", body: `{"section":"Z-Nowhere","severity":"minor"}`}, 422, "unknown_section"},
		{"leak device severity word", req{path: "/pipeline/alerts", body: `{"section":"A-North","severity":"HIGH"}`}, 400, "bad_request"},
		{"leak negative volume", req{path: "/pipeline/alerts", body: `{"section":"A-North","severity":"minor","volume_estimate":-1}`}, 400, "bad_request"},
		{"leak off the planet", req{path: "/pipeline/alerts", body: `{"section":"A-North","severity":"minor","location":{"lat":99,"lon":0}}`}, 400, "bad_request"},
		{"leak location as text", req{path: "/pipeline/alerts", body: `{"section":"A-North","severity":"minor","location":"km 12"}`}, 400, "bad_request"},
		{"acknowledge unknown alert", req{path: "/pipeline/alerts/leak-none/acknowledge"}, 404, "not_found"},
		{"acknowledge repaired alert", req{path: "/pipeline/alerts/" + leak + "/acknowledge"}, 422, "alert_repaired"},
		{"resolve repaired alert", req{path: "/pipeline/alerts/" + leak + "/resolve"}, 422, "alert_repaired"},
		{"acknowledge with a body of junk", req{path: "/pipeline/alerts/" + leak + "/acknowledge", body: `junk`}, 400, "bad_request"},
		{"idempotency key with spaces", req{path: "/incidents", body: `{"title":"t","severity":"info"}`, header: map[string]string{"Idempotency-Key": "a b"}}, 400, "bad_request"},
	}
	if len(tests) < 30 {
		t.Fatalf("only %d bad requests", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.method, tt.r.key = http.MethodPost, key
			if tt.r.header == nil {
				tt.r.header = map[string]string{}
			}
			if _, ok := tt.r.header["Idempotency-Key"]; !ok {
				// Refused requests must store no idempotency record either.
				tt.r.header["Idempotency-Key"] = "bad-" + strings.ReplaceAll(tt.name, " ", "-")
			}
			a := send(t, st, tt.r)
			if a.status != tt.status || errorCode(t, a) != tt.code {
				t.Errorf("%d %s, want %d %s", a.status, a.body, tt.status, tt.code)
			}
		})
	}
	if after := tableDump(t, st); after != before {
		t.Errorf("bad requests changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestActuationGoesOutAsAnMQTTCommandAndIsRecorded(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "ops", allScopes)
	commands := watch(t, st, "valves/+/command")

	a := post(t, st, key, "/valves/v-101/actuate", `{"command":"OPEN","params":{"target_angle_deg":90}}`)
	body := want(t, a, 202)
	id := body["actuation_id"].(string)
	if loc := a.header.Get("Location"); loc != "/valves/v-101/actuations/"+id || body["state"] != "sent" || body["ok"] != true {
		t.Fatalf("Location %q, body %s", loc, a.body)
	}
	msg := <-commands
	var cmd struct {
		Command   string
		Params    map[string]float64
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(msg.payload), &cmd); err != nil || msg.topic != "valves/v-101/command" || cmd.Command != "OPEN" || cmd.RequestID != id || cmd.Params["target_angle_deg"] != 90 {
		t.Errorf("command on %s: %s (%v)", msg.topic, msg.payload, err)
	}
	got := want(t, call(t, http.MethodGet, st.APIURL+"/valves/v-101/actuations/"+id), 200)
	if got["state"] != "sent" || got["key_id"] != "ops" || got["command"] != "OPEN" {
		t.Errorf("actuation = %v", got)
	}
	ev := want(t, call(t, http.MethodGet, st.APIURL+"/events?asset=v-101"), 200)["items"].([]any)
	var types []string
	for _, e := range ev {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	if fmt.Sprint(types) != "[valve.actuation.sent valve.actuation.requested]" {
		t.Errorf("events = %v", types)
	}
	// An empty body keeps the old meaning: a torque test. The valve is busy.
	if a := post(t, st, key, "/valves/v-101/actuate", ""); a.status != 409 || errorCode(t, a) != "actuation_in_progress" {
		t.Errorf("second actuation: %d %s", a.status, a.body)
	}
	b := want(t, post(t, st, key, "/valves/v-102/actuate", ""), 202)
	if b["command"] != "TORQUE_TEST" {
		t.Errorf("empty body = %v", b)
	}
}

func TestConcurrentActuationsOfOneValveAdmitExactlyOne(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "ops", allScopes)
	statuses := fire(t, 20, func() answer { return post(t, st, key, "/valves/v-103/actuate", `{"command":"CLOSE"}`) })
	if statuses[202] != 1 || statuses[409] != 19 {
		t.Errorf("statuses = %v, want one 202 and nineteen 409", statuses)
	}
	items := want(t, call(t, http.MethodGet, st.APIURL+"/valves/v-103/actuations"), 200)["items"].([]any)
	if len(items) != 1 {
		t.Errorf("%d actuations recorded, want 1", len(items))
	}
}

func TestOneIdempotencyKeyMakesOneActuation(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "ops", allScopes)
	r := req{method: http.MethodPost, path: "/valves/v-102/actuate", key: key, body: `{"command":"INDEX"}`, header: map[string]string{"Idempotency-Key": "retry-42"}}
	var mu sync.Mutex
	var bodies []string
	statuses := fire(t, 20, func() answer {
		a := send(t, st, r)
		if a.status == 202 {
			mu.Lock()
			bodies = append(bodies, string(a.body))
			mu.Unlock()
		} else if a.status == 409 && (errorCode(t, a) != "idempotency_in_progress" || a.header.Get("Retry-After") == "") {
			t.Errorf("409 without idempotency_in_progress and Retry-After: %s", a.body)
		}
		return a
	})
	if statuses[202]+statuses[409] != 20 || statuses[202] == 0 {
		t.Fatalf("statuses = %v", statuses)
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("answers differ:\n%s\n%s", bodies[0], b)
		}
	}
	items := want(t, call(t, http.MethodGet, st.APIURL+"/valves/v-102/actuations"), 200)["items"].([]any)
	if len(items) != 1 {
		t.Errorf("%d actuations, want 1", len(items))
	}
	later := send(t, st, r)
	if later.status != 202 || string(later.body) != bodies[0] || later.header.Get("Idempotent-Replayed") != "true" || later.header.Get("Location") == "" {
		t.Errorf("retry: %d %s %v", later.status, later.body, later.header)
	}
	r.body = `{"command":"OPEN"}`
	if a := send(t, st, r); a.status != 422 || errorCode(t, a) != "idempotency_key_reused" {
		t.Errorf("same key, other body: %d %s", a.status, a.body)
	}
}

func TestStopIsAlwaysSentAndFailsTheOpenActuation(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "ops", allScopes)
	commands := watch(t, st, "valves/v-101/command")
	open := want(t, post(t, st, key, "/valves/v-101/actuate", `{"command":"OPEN"}`), 202)["actuation_id"].(string)
	<-commands
	stop := want(t, post(t, st, key, "/valves/v-101/actuate", `{"command":"STOP"}`), 202)["actuation_id"].(string)
	if m := <-commands; !strings.Contains(m.payload, `"STOP"`) || !strings.Contains(m.payload, stop) {
		t.Errorf("STOP command = %s", m.payload)
	}
	old := want(t, call(t, http.MethodGet, st.APIURL+"/valves/v-101/actuations/"+open), 200)
	if old["state"] != "failed" || old["reason"] != "stopped" || old["completed_at"] == nil {
		t.Errorf("stopped actuation = %v", old)
	}
}

func TestAnUnavailableValveTakesOnlyStopOrAnOverride(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "ops", []string{"valves:actuate"})
	chief := newKey(t, st, "chief", []string{"valves:actuate", "valves:override"})
	setReading(t, st, "v-102", "temperature_c", 80) // over 75 °C: offline

	if a := post(t, st, key, "/valves/v-102/actuate", `{"command":"OPEN"}`); a.status != 422 || errorCode(t, a) != "valve_unavailable" {
		t.Fatalf("OPEN on an offline valve: %d %s", a.status, a.body)
	}
	override := `{"command":"OPEN","override":{"reason":"manual isolation, crew on site"}}`
	if a := post(t, st, key, "/valves/v-102/actuate", override); a.status != 403 {
		t.Errorf("override without the scope: %d %s", a.status, a.body)
	}
	id := want(t, post(t, st, chief, "/valves/v-102/actuate", override), 202)["actuation_id"].(string)
	ev := want(t, call(t, http.MethodGet, st.APIURL+"/events?asset=v-102&type=valve.actuation.requested"), 200)["items"].([]any)
	data := ev[0].(map[string]any)["data"].(map[string]any)
	if data["actuation_id"] != id || data["override"].(map[string]any)["reason"] != "manual isolation, crew on site" {
		t.Errorf("override not in the event: %v", data)
	}
	// STOP needs no override.
	want(t, post(t, st, key, "/valves/v-102/actuate", `{"command":"STOP"}`), 202)
}

func TestABrokerThatIsDownMeansA503AndARejectedActuation(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "ops", allScopes)
	if err := st.StopBroker(); err != nil {
		t.Fatal(err)
	}
	a := post(t, st, key, "/valves/v-101/actuate", `{"command":"OPEN"}`)
	if a.status != 503 || errorCode(t, a) != "unavailable" || a.header.Get("Retry-After") == "" {
		t.Fatalf("broker down: %d %s", a.status, a.body)
	}
	items := want(t, call(t, http.MethodGet, st.APIURL+"/valves/v-101/actuations"), 200)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["state"] != "rejected" {
		t.Fatalf("actuations = %v", items)
	}
	// A rejected actuation does not hold the valve.
	if v := want(t, call(t, http.MethodGet, st.APIURL+"/valves/v-101"), 200); v["id"] != "v-101" {
		t.Fatal(v)
	}
	if a := post(t, st, key, "/valves/v-101/actuate", `{"command":"OPEN"}`); a.status != 503 {
		t.Errorf("second try while down: %d %s, want 503 again (not 409)", a.status, a.body)
	}
}

func TestTwoLeaksWithinTwoMinutesMakeOneIncident(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "field", []string{"alerts:write", "incidents:write"})
	first := want(t, post(t, st, key, "/pipeline/alerts", `{"section":"A-North","severity":"critical","volume_estimate":40,"location":{"lat":52.1,"lon":13.2},"notes":"smell of gas"}`), 201)
	second := want(t, post(t, st, key, "/pipeline/alerts", `{"section":"C-South","severity":"minor"}`), 201)
	if first["incident_opened"] != true || second["incident_opened"] != false || first["incident_id"] != second["incident_id"] {
		t.Fatalf("first %v\nsecond %v", first, second)
	}
	inc := first["incident_id"].(string)
	in := want(t, call(t, http.MethodGet, st.APIURL+"/incidents/"+inc), 200)
	var alerts []string
	for _, e := range in["timeline"].([]any) {
		alerts = append(alerts, e.(map[string]any)["alert_id"].(string))
	}
	if fmt.Sprint(alerts) != fmt.Sprint([]string{second["id"].(string), first["id"].(string)}) || in["severity"] != "critical" {
		t.Errorf("incident %v: timeline alerts %v", in, alerts)
	}
	list := want(t, call(t, http.MethodGet, st.APIURL+"/incidents"), 200)
	if list["active_count"] != 1.0 {
		t.Errorf("incidents = %v", list)
	}
	pa := want(t, call(t, http.MethodGet, st.APIURL+"/pipeline/alerts"), 200)
	if pa["active_leak_count"] != 2.0 || pa["critical_count"] != 1.0 || pa["integrity"] != 50.0 {
		t.Errorf("pipeline alerts = %v", pa)
	}
	sec := want(t, call(t, http.MethodGet, st.APIURL+"/pipeline/sections/A-North"), 200)
	if sec["last_incident"].(map[string]any)["id"] != inc {
		t.Errorf("section = %v", sec)
	}
	// Acknowledge, then resolve: the leak leaves the active set.
	id := first["id"].(string)
	ack := want(t, post(t, st, key, "/pipeline/alerts/"+id+"/acknowledge", ""), 200)
	if ack["status"] != "acknowledged" || ack["acknowledged_by"] != "field" || ack["acknowledged_at"] == nil {
		t.Errorf("acknowledged = %v", ack)
	}
	if a := post(t, st, key, "/pipeline/alerts/"+id+"/acknowledge", ""); a.status != 422 {
		t.Errorf("second acknowledge: %d %s", a.status, a.body)
	}
	if r := want(t, post(t, st, key, "/pipeline/alerts/"+id+"/resolve", ""), 200); r["status"] != "repaired" {
		t.Errorf("resolved = %v", r)
	}
	if pa := want(t, call(t, http.MethodGet, st.APIURL+"/pipeline/alerts"), 200); pa["active_leak_count"] != 1.0 {
		t.Errorf("after resolve = %v", pa)
	}
}

func TestIncidentsMoveForwardWithVersions(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "ops", []string{"incidents:write"})
	a := post(t, st, key, "/incidents", `{"title":"Pump 3 vibration","severity":"warning","affected_modules":["flow-iq"],"description":"seen on the night shift"}`)
	in := want(t, a, 201)
	id := in["id"].(string)
	if a.header.Get("Location") != "/incidents/"+id || in["version"] != 1.0 || in["status"] != "active" {
		t.Fatalf("created: %v %s", a.header, a.body)
	}
	up := want(t, post(t, st, key, "/incidents/"+id+"/update", `{"status":"investigating","root_cause":"bearing wear","version":1}`), 200)
	if up["status"] != "investigating" || up["version"] != 2.0 || len(up["timeline"].([]any)) != 3 {
		t.Errorf("updated = %v", up)
	}
	if a := post(t, st, key, "/incidents/"+id+"/update", `{"status":"acknowledged","version":1}`); a.status != 409 || errorCode(t, a) != "version_conflict" {
		t.Errorf("stale version: %d %s", a.status, a.body)
	}
	if a := post(t, st, key, "/incidents/"+id+"/update", `{"status":"acknowledged"}`); a.status != 422 || errorCode(t, a) != "status_backwards" {
		t.Errorf("backwards: %d %s", a.status, a.body)
	}
	res := want(t, post(t, st, key, "/incidents/"+id+"/update", `{"resolution":"bearing replaced"}`), 200)
	if res["status"] != "resolved" || res["resolved_at"] == nil {
		t.Errorf("resolved = %v", res)
	}
	h := want(t, call(t, http.MethodGet, st.APIURL+"/incidents/health"), 200)
	if h["total_incidents"] != 1.0 || h["active_incidents"] != 0.0 || h["system_health"] != "healthy" {
		t.Errorf("health = %v", h)
	}
	if a := post(t, st, key, "/incidents/"+id+"/update", `{"root_cause":"late"}`); a.status != 422 || errorCode(t, a) != "incident_resolved" {
		t.Errorf("after resolve: %d %s", a.status, a.body)
	}
	ev := want(t, call(t, http.MethodGet, st.APIURL+"/events?asset="+id), 200)["items"].([]any)
	if len(ev) != 3 {
		t.Errorf("incident events = %d, want created + 2 updates", len(ev))
	}
}

func TestCORSAllowsTheListedOriginOnly(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "ops", allScopes)
	pre := send(t, st, req{method: http.MethodOptions, path: "/valves/v-101/actuate", header: map[string]string{
		"Origin": "https://ops.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key,content-type"}})
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Origin") != "https://ops.example.com" || !strings.Contains(pre.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}
	evil := send(t, st, req{method: http.MethodOptions, path: "/valves/v-101/actuate", header: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}})
	if evil.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused origin got %v", evil.header)
	}
	got := send(t, st, req{method: http.MethodGet, path: "/valves", header: map[string]string{"Origin": "https://ops.example.com"}})
	if got.header.Get("Access-Control-Allow-Origin") != "https://ops.example.com" {
		t.Errorf("GET from the allowed origin: %v", got.header)
	}
	denied := send(t, st, req{method: http.MethodPost, path: "/incidents", body: `{}`, header: map[string]string{"Origin": "https://ops.example.com"}})
	if denied.status != 401 || denied.header.Get("Access-Control-Allow-Origin") != "https://ops.example.com" {
		t.Errorf("gateway's own 401 lacks CORS: %d %v", denied.status, denied.header)
	}
	other := send(t, st, req{method: http.MethodPost, path: "/incidents", key: key, body: `{"title":"t","severity":"info"}`, header: map[string]string{"Origin": "https://evil.example"}})
	if other.status != 201 || other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: %d %v", other.status, other.header)
	}
}

// fire runs f n times at once and counts the statuses.
func fire(t *testing.T, n int, f func() answer) map[int]int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a := f()
			mu.Lock()
			counts[a.status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return counts
}

type message struct{ topic, payload string }

// watch subscribes with the operator login, as a person at the console.
func watch(t *testing.T, st *stack.Stack, filter string) <-chan message {
	t.Helper()
	out := make(chan message, 16)
	opts := paho.NewClientOptions().AddBroker(st.MQTTURL).SetClientID("watch-" + t.Name()).
		SetUsername(st.Operator.Username).SetPassword(st.Operator.Password)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	if tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { out <- message{m.Topic(), string(m.Payload())} }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return out
}

// setReading changes a valve's reading in the table, as ingestion will.
func setReading(t *testing.T, st *stack.Stack, valve, attr string, v float64) {
	t.Helper()
	db := store.NewClient(store.LocalConfig(), st.DynamoURL)
	_, err := db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.TableName),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "VALVE#" + valve}, "sk": &types.AttributeValueMemberS{Value: "META"}},
		UpdateExpression:          aws.String("SET #a = :v"),
		ExpressionAttributeNames:  map[string]string{"#a": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(v)}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLeaksReportedAtOnceOpenOneIncident(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "field", []string{"alerts:write"})
	statuses := fire(t, 10, func() answer {
		return post(t, st, key, "/pipeline/alerts", `{"section":"D-East","severity":"major"}`)
	})
	if statuses[201] != 10 {
		t.Fatalf("statuses = %v", statuses)
	}
	inc := want(t, call(t, http.MethodGet, st.APIURL+"/incidents"), 200)
	if inc["active_count"] != 1.0 {
		t.Fatalf("%v incidents, want 1", inc["active_count"])
	}
	id := inc["active_incidents"].([]any)[0].(map[string]any)["id"].(string)
	if tl := want(t, call(t, http.MethodGet, st.APIURL+"/incidents/"+id), 200)["timeline"].([]any); len(tl) != 10 {
		t.Errorf("timeline has %d entries, want one per alert", len(tl))
	}
}
