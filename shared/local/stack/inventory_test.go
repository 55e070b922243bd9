package stack_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plainview/serverless/shared/local/stack"
)

// End-to-end tests of the inventory: registrations, changes and retirements
// through the API, seen by the broker's logins and by the devices. The
// inventory's rules are tested case by case in shared/core/inventory.

// inventoryDevice connects as a device registered after the stack
// started: the stack syncs its logins from the inventory, as it does every
// few seconds on its own.
func inventoryDevice(t *testing.T, st *stack.Stack, id string) (paho.Client, error) {
	t.Helper()
	logins, err := st.SyncDevices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	token := "not-registered"
	for _, d := range logins {
		if d.ID == id {
			token = d.Token
		}
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(st.MQTTURL).SetClientID(id).SetUsername(id).SetPassword(token).
		SetAutoReconnect(false).SetConnectRetry(false))
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("%s: connect timed out", id)
	}
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(50) })
	}
	return c, tok.Error()
}

func listedValves(t *testing.T, st *stack.Stack, query ...string) map[string]map[string]any {
	t.Helper()
	a := call(t, http.MethodGet, st.APIURL+"/valves"+strings.Join(query, ""))
	var vs []map[string]any
	if a.status != 200 || json.Unmarshal(a.body, &vs) != nil {
		t.Fatalf("GET /valves: %d %s", a.status, a.body)
	}
	out := map[string]map[string]any{}
	for _, v := range vs {
		out[v["id"].(string)] = v
	}
	return out
}

func TestAValveRegisteredThroughTheAPIIsListedTakesCommandsAndItsDeviceReports(t *testing.T) {
	st := deviceStack(t)
	admin := newKey(t, st, "admin", []string{"admin", "read"})
	ops := newKey(t, st, "ops", allScopes)

	if a := post(t, st, ops, "/valves", `{"id":"v-200","name":"Bypass D4"}`); a.status != 403 {
		t.Fatalf("a key without admin: %d %s, want 403", a.status, a.body)
	}
	a := post(t, st, admin, "/valves", `{"id":"v-200","name":"Bypass D4","location":"km 12.5",
		"thresholds":{"temperature_warning_c":40,"temperature_offline_c":50}}`)
	v := want(t, a, 201)
	if a.header.Get("Location") != "/valves/v-200" || v["id"] != "v-200" || v["location"] != "km 12.5" || v["status"] != "ok" {
		t.Errorf("201: Location %q, body %v", a.header.Get("Location"), v)
	}
	if _, ok := listedValves(t, st)["v-200"]; !ok {
		t.Fatal("v-200 is not in GET /valves")
	}
	if a := post(t, st, admin, "/valves", `{"id":"v-200","name":"again"}`); a.status != 409 || errorCode(t, a) != "asset_exists" {
		t.Errorf("the same id again: %d %s, want 409 asset_exists", a.status, a.body)
	}

	// Its device connects with the token the stack gave it, takes its
	// commands, and its readings are judged by the valve's own limits:
	// 45 °C is fine by the defaults (60) but over its own 40.
	dev, err := inventoryDevice(t, st, "v-200")
	if err != nil {
		t.Fatalf("the new valve's device cannot connect: %v", err)
	}
	commands := make(chan []byte, 1)
	if tok := dev.Subscribe("valves/v-200/command", 1, func(_ paho.Client, m paho.Message) { commands <- m.Payload() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	want(t, post(t, st, ops, "/valves/v-200/actuate", `{"command":"OPEN"}`), 202)
	select {
	case c := <-commands:
		var cmd struct{ Command string }
		if json.Unmarshal(c, &cmd) != nil || cmd.Command != "OPEN" {
			t.Errorf("command = %s", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the command did not reach the new valve's device")
	}
	publish(t, dev, "plainview/devices/v-200/telemetry", map[string]any{"ts": time.Now().Unix(), "temperature_c": 45, "pressure_pa": 1.5e6})
	eventually(t, "v-200 warns at 45 °C by its own thresholds", func() bool {
		return getJSON(t, st, "/valves/v-200")["status"] == "warning"
	})
	th := getJSON(t, st, "/valves/v-200/health")["thresholds"].(map[string]any)
	if th["temperature_warning_c"] != 40.0 || th["pressure_warning_pa"] != 2.8e6 {
		t.Errorf("thresholds = %v, want its own temperatures and the default pressures", th)
	}

	// Back to the defaults: 45 °C is fine again.
	want(t, post(t, st, admin, "/valves/v-200/update", `{"thresholds":null,"name":"Bypass D4 (east)"}`), 200)
	if v := getJSON(t, st, "/valves/v-200"); v["status"] != "ok" || v["name"] != "Bypass D4 (east)" {
		t.Errorf("after clearing its thresholds: %v", v)
	}

	// Every change is an event with the key that made it.
	evs := getJSON(t, st, "/events?type=inventory.changed&asset=v-200")["items"].([]any)
	if len(evs) != 2 {
		t.Fatalf("%d inventory.changed events for v-200, want 2: %v", len(evs), evs)
	}
	for _, e := range evs {
		if e.(map[string]any)["key_id"] != "admin" {
			t.Errorf("event without the admin key: %v", e)
		}
	}
}

func TestARetiredValveRefusesCommandsKeepsItsHistoryAndItsDeviceIsShutOut(t *testing.T) {
	st := deviceStack(t)
	admin := newKey(t, st, "admin", []string{"admin", "read"})
	ops := newKey(t, st, "ops", allScopes)

	id := want(t, post(t, st, ops, "/valves/v-103/actuate", `{"command":"OPEN"}`), 202)["actuation_id"].(string)
	v := want(t, post(t, st, admin, "/valves/v-103/retire", ""), 200)
	if v["status"] != "retired" || v["retired_at"] == nil {
		t.Errorf("retire answered %v", v)
	}
	if _, ok := listedValves(t, st)["v-103"]; ok {
		t.Error("a retired valve is still in GET /valves")
	}
	all := listedValves(t, st, "?retired=true")
	if all["v-103"]["retired_at"] == nil || all["v-101"]["retired_at"] != nil || len(all) != len(listedValves(t, st))+1 {
		t.Errorf("GET /valves?retired=true = %v, want the valves in service and v-103 with its retired_at", all)
	}
	if a := call(t, http.MethodGet, st.APIURL+"/valves?retired=yes"); a.status != 400 {
		t.Errorf("GET /valves?retired=yes: %d, want 400", a.status)
	}
	if v := getJSON(t, st, "/valves/v-103"); v["status"] != "retired" {
		t.Errorf("GET /valves/v-103 = %v", v)
	}
	if acts := getJSON(t, st, "/valves/v-103/actuations")["items"].([]any); len(acts) != 1 || acts[0].(map[string]any)["actuation_id"] != id {
		t.Errorf("history after retiring: %v", acts)
	}
	for _, body := range []string{`{"command":"CLOSE"}`, `{"command":"STOP"}`, `{"command":"OPEN","override":{"reason":"field test"}}`} {
		if a := post(t, st, ops, "/valves/v-103/actuate", body); a.status != 422 || errorCode(t, a) != "valve_retired" {
			t.Errorf("%s on a retired valve: %d %s, want 422 valve_retired", body, a.status, a.body)
		}
	}
	for path, body := range map[string]string{"/valves/v-103/retire": "", "/valves/v-103/update": `{"name":"x"}`} {
		if a := post(t, st, admin, path, body); a.status != 422 || errorCode(t, a) != "valve_retired" {
			t.Errorf("%s: %d %s, want 422 valve_retired", path, a.status, a.body)
		}
	}
	if _, err := inventoryDevice(t, st, "v-103"); err == nil {
		t.Error("the retired valve's device may still connect")
	}
}

func TestASectionRegisteredThroughTheAPIHasAGaugeAndRetiringItEndsItsLeakReports(t *testing.T) {
	st := deviceStack(t)
	admin := newKey(t, st, "admin", []string{"admin", "read"})
	ops := newKey(t, st, "ops", allScopes)

	a := post(t, st, admin, "/pipeline/sections", `{"section":"F-Spur","location":"spur to the terminal"}`)
	if s := want(t, a, 201); s["section"] != "F-Spur" || a.header.Get("Location") != "/pipeline/sections/F-Spur" {
		t.Errorf("201: %v, Location %q", s, a.header.Get("Location"))
	}
	gauge, err := inventoryDevice(t, st, "F-Spur")
	if err != nil {
		t.Fatalf("the new section's gauge cannot connect: %v", err)
	}
	publish(t, gauge, "pipeline/pressure/F-Spur", map[string]any{"ts": time.Now().Unix(), "kpa": 640})
	eventually(t, "F-Spur's pressure", func() bool {
		return getJSON(t, st, "/pipeline/sections/F-Spur")["pressure_kpa"] == 640.0
	})
	want(t, post(t, st, admin, "/pipeline/sections/F-Spur/update", `{"location":"spur to the north terminal"}`), 200)
	want(t, post(t, st, ops, "/pipeline/alerts", `{"section":"F-Spur","severity":"minor"}`), 201)

	if _, ok := getJSON(t, st, "/pipeline/health")["pressure_profile"].(map[string]any)["F-Spur"]; !ok {
		t.Error("a section in service is missing from the pressure profile")
	}
	want(t, post(t, st, admin, "/pipeline/sections/F-Spur/retire", ""), 200)
	if a := post(t, st, ops, "/pipeline/alerts", `{"section":"F-Spur","severity":"minor"}`); a.status != 422 || errorCode(t, a) != "section_retired" {
		t.Errorf("a leak on a retired section: %d %s, want 422 section_retired", a.status, a.body)
	}
	if _, ok := getJSON(t, st, "/pipeline/health")["pressure_profile"].(map[string]any)["F-Spur"]; ok {
		t.Error("a retired section is still in the pressure profile")
	}
	if s := getJSON(t, st, "/pipeline/sections/F-Spur"); s["section"] != "F-Spur" || s["retired_at"] == nil ||
		s["location"] != "spur to the north terminal" {
		t.Errorf("a retired section reads %v, want it with its location and retired_at", s)
	}
}

func TestBadInventoryInputIsRefusedAndWritesNothing(t *testing.T) {
	st := writeStack(t)
	admin := newKey(t, st, "admin", []string{"admin", "read"})
	limited := newKey(t, st, "limited", []string{"admin"}, "v-9*")
	before := tableDump(t, st)

	long := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'x'
		}
		return string(b)
	}
	tests := []struct {
		name, key, path, body string
		status                int
	}{
		{"no key", "", "/valves", `{"id":"v-300","name":"n"}`, 401},
		{"no admin scope", newKey(t, st, "ops", allScopes), "/valves", `{"id":"v-300","name":"n"}`, 403},
		{"an asset the key may not use", limited, "/valves", `{"id":"v-300","name":"n"}`, 403},
		{"an id with a space", admin, "/valves", `{"id":"v 300","name":"n"}`, 400},
		{"an id of 65 characters", admin, "/valves", `{"id":"` + long(65) + `","name":"n"}`, 400},
		{"no id", admin, "/valves", `{"name":"n"}`, 400},
		{"no name", admin, "/valves", `{"id":"v-300"}`, 400},
		{"a blank name", admin, "/valves", `{"id":"v-300","name":"   "}`, 400},
		{"a name of 101 characters", admin, "/valves", `{"id":"v-300","name":"` + long(101) + `"}`, 400},
		{"a control character", admin, "/valves", `{"id":"v-300","name":"a\u0007b"}`, 400},
		{"a location of 201 characters", admin, "/valves", `{"id":"v-300","name":"n","location":"` + long(201) + `"}`, 400},
		{"an unknown field", admin, "/valves", `{"id":"v-300","name":"n","colour":"red"}`, 400},
		{"an unknown threshold", admin, "/valves", `{"id":"v-300","name":"n","thresholds":{"flow":1}}`, 400},
		{"a warning over its offline limit", admin, "/valves", `{"id":"v-300","name":"n","thresholds":{"temperature_warning_c":80}}`, 400},
		{"a negative pressure", admin, "/valves", `{"id":"v-300","name":"n","thresholds":{"pressure_warning_pa":-1}}`, 400},
		{"a maintenance date that is no date", admin, "/valves", `{"id":"v-300","name":"n","estimated_maintenance":"soon"}`, 400},
		{"a number for a name", admin, "/valves", `{"id":"v-300","name":7}`, 400},
		{"not JSON", admin, "/valves", `{"id":`, 400},
		{"an empty body", admin, "/valves", ``, 400},
		{"trailing data", admin, "/valves", `{"id":"v-300","name":"n"} {}`, 400},
		{"a query string", admin, "/valves?dry_run=1", `{"id":"v-300","name":"n"}`, 400},
		{"a change of nothing", admin, "/valves/v-101/update", `{}`, 400},
		{"a name cleared", admin, "/valves/v-101/update", `{"name":null}`, 400},
		{"a threshold of the wrong type", admin, "/valves/v-101/update", `{"thresholds":{"temperature_warning_c":"hot"}}`, 400},
		{"thresholds that cross", admin, "/valves/v-101/update", `{"thresholds":{"pressure_warning_pa":3500000}}`, 400},
		{"an unknown valve", admin, "/valves/v-999/update", `{"name":"n"}`, 404},
		{"an unknown valve to retire", admin, "/valves/v-999/retire", ``, 404},
		{"a body to retire", admin, "/valves/v-101/retire", `{"why":"old"}`, 400},
		{"a section with a slash", admin, "/pipeline/sections", `{"section":"A/B"}`, 400},
		{"a section named after a valve", admin, "/pipeline/sections", `{"section":"v-101"}`, 409},
		{"a section that exists", admin, "/pipeline/sections", `{"section":"A-North"}`, 409},
		{"a section change of nothing", admin, "/pipeline/sections/A-North/update", `{}`, 400},
		{"an unknown section", admin, "/pipeline/sections/Z-Nowhere/retire", ``, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a := post(t, st, tt.key, tt.path, tt.body); a.status != tt.status {
				t.Errorf("%d %s, want %d", a.status, a.body, tt.status)
			}
		})
	}
	if after := tableDump(t, st); after != before {
		t.Error("a refused inventory request changed the table")
	}
}

// The stack's own periodic sync hands the inventory's devices to a
// follower (the simulator of make run), so it need not read the
// inventory again: a valve registered through the API is in a later
// delivery, with its login.
func TestAValveRegisteredThroughTheAPIComesInTheNextDeviceSync(t *testing.T) {
	st := deviceStack(t)
	admin := newKey(t, st, "admin", []string{"admin", "read"})
	want(t, post(t, st, admin, "/valves", `{"id":"v-201","name":"Bypass D5"}`), 201)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case logins := <-st.DeviceSyncs():
			for _, d := range logins {
				if d.ID == "v-201" && d.Token != "" {
					return
				}
			}
		case <-deadline:
			t.Fatal("no device sync with v-201 within 30 s")
		}
	}
}

// GET /valves pages: a plain array of at most limit valves, the next
// page named by the Link header, followed here as a client would (a
// reference relative to the request), until the last page has none.
func TestValvesArePagedThroughTheLinkHeader(t *testing.T) {
	st := deviceStack(t)
	admin := newKey(t, st, "admin", []string{"admin", "read"})
	for _, id := range []string{"v-201", "v-202", "v-203", "v-204"} {
		want(t, post(t, st, admin, "/valves", `{"id":"`+id+`","name":"Valve `+id+`","location":"km 1"}`), 201)
	}
	want(t, post(t, st, admin, "/valves/v-202/retire", ""), 200)

	walk := func(first string) (ids []string, pages int) {
		t.Helper()
		u, _ := url.Parse(st.APIURL + first)
		for u != nil {
			a := call(t, http.MethodGet, u.String())
			var vs []map[string]any
			if a.status != 200 || json.Unmarshal(a.body, &vs) != nil {
				t.Fatalf("GET %s: %d %s", u, a.status, a.body)
			}
			if len(vs) > 2 {
				t.Errorf("GET %s: %d valves, over the limit of 2", u, len(vs))
			}
			for _, v := range vs {
				ids = append(ids, v["id"].(string))
			}
			pages++
			link := a.header.Get("Link")
			if link == "" {
				break
			}
			ref, ok := strings.CutSuffix(link, `>; rel="next"`)
			if !ok || !strings.HasPrefix(ref, "<?") {
				t.Fatalf("Link %q, want <?...>; rel=\"next\"", link)
			}
			if u, _ = u.Parse(ref[1:]); pages > 10 {
				t.Fatal("more than 10 pages of 2 for 7 valves")
			}
		}
		return ids, pages
	}
	inService, pages := walk("/valves?limit=2")
	if want := []string{"v-101", "v-102", "v-103", "v-201", "v-203", "v-204"}; !slices.Equal(inService, want) || pages < 3 {
		t.Errorf("the valves in service over %d pages = %v, want %v in id order over 3 or more", pages, inService, want)
	}
	all, _ := walk("/valves?retired=true&limit=2")
	if want := []string{"v-101", "v-102", "v-103", "v-201", "v-202", "v-203", "v-204"}; !slices.Equal(all, want) {
		t.Errorf("every valve = %v, want %v", all, want)
	}
	// Without paging parameters: the first page of up to 200, here all.
	if a := call(t, http.MethodGet, st.APIURL+"/valves"); a.header.Get("Link") != "" || len(listedValves(t, st)) != 6 {
		t.Errorf("GET /valves: Link %q and %d valves, want no Link and the 6 in service", a.header.Get("Link"), len(listedValves(t, st)))
	}

	// GET /pipeline/health's pressure profile pages the same way, with
	// next_cursor in the answer; the leak figures are the pipeline's.
	for _, name := range []string{"F-1", "F-2", "F-3"} {
		want(t, post(t, st, admin, "/pipeline/sections", `{"section":"`+name+`","location":"spur"}`), 201)
	}
	want(t, post(t, st, admin, "/pipeline/sections/F-2/retire", ""), 200)
	var sections []string
	for q, pages := "?limit=2", 0; ; pages++ {
		h := getJSON(t, st, "/pipeline/health"+q)
		profile := h["pressure_profile"].(map[string]any)
		if len(profile) > 2 || pages > 10 {
			t.Fatalf("page %d of /pipeline/health?limit=2: %d sections", pages, len(profile))
		}
		sections = append(sections, slices.Sorted(maps.Keys(profile))...)
		next, ok := h["next_cursor"].(string)
		if !ok {
			break
		}
		q = "?limit=2&cursor=" + url.QueryEscape(next)
	}
	if want := []string{"A-North", "B-Central", "C-South", "D-East", "E-West", "F-1", "F-3"}; !slices.Equal(sections, want) {
		t.Errorf("the pressure profile over its pages = %v, want %v", sections, want)
	}
	if h := getJSON(t, st, "/pipeline/health"); len(h["pressure_profile"].(map[string]any)) != 7 || h["next_cursor"] != nil {
		t.Errorf("GET /pipeline/health = %v, want the 7 sections in service on one page", h)
	}
	if a := call(t, http.MethodGet, st.APIURL+"/pipeline/health?limit=0"); a.status != 400 {
		t.Errorf("GET /pipeline/health?limit=0: %d, want 400", a.status)
	}

	// A cursor of another listing, a made-up one and a bad limit are the
	// client's 400, and change nothing.
	actCursor := ""
	ops := newKey(t, st, "ops", allScopes)
	for range 3 {
		want(t, post(t, st, ops, "/valves/v-101/actuate", `{"command":"STOP"}`), 202)
	}
	if c, ok := getJSON(t, st, "/valves/v-101/actuations?limit=1")["next_cursor"].(string); ok {
		actCursor = c
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=", "cursor=bm90LWEtY3Vyc29y", "cursor=" + url.QueryEscape(actCursor), "page=2"} {
		if a := call(t, http.MethodGet, st.APIURL+"/valves?"+q); a.status != 400 || errorCode(t, a) != "bad_request" {
			t.Errorf("GET /valves?%s: %d %s, want 400 bad_request", q, a.status, a.body)
		}
	}
}
