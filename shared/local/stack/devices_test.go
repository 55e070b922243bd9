package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/local/stack"
)

// End-to-end tests of device traffic: real MQTT clients against the local
// broker, the topic rules, ingestion and DynamoDB Local, and the API to
// read what came of it. The rules the messages meet are tested case by
// case beside their packages (shared/core/ingest, actuation, leaks).

func deviceStack(t *testing.T) *stack.Stack {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	cfg.DisableThrottling = true
	cfg.ActuationTimeout, cfg.TimeoutEvery = 2*time.Second, 100*time.Millisecond
	st, err := stack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// device connects as a device of the inventory, with its token.
func device(t *testing.T, st *stack.Stack, id string) paho.Client {
	t.Helper()
	token := ""
	for _, d := range st.Devices {
		if d.ID == id {
			token = d.Token
		}
	}
	opts := paho.NewClientOptions().AddBroker(st.MQTTURL).SetClientID(id).SetUsername(id).SetPassword(token).
		SetAutoReconnect(false).SetConnectRetry(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("%s connect: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func publish(t *testing.T, c paho.Client, topic string, payload any) {
	t.Helper()
	var b []byte
	switch p := payload.(type) {
	case string:
		b = []byte(p)
	default:
		b, _ = json.Marshal(p)
	}
	if tok := c.Publish(topic, 1, false, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// eventually polls f until it holds, or fails after a bounded wait.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for range 100 {
		if f() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within 5 s", what)
}

func getJSON(t *testing.T, st *stack.Stack, path string) map[string]any {
	t.Helper()
	return want(t, call(t, http.MethodGet, st.APIURL+path), 200)
}

func TestAnActuationComesBackCompletedFromTheValve(t *testing.T) {
	st := deviceStack(t)
	key := newKey(t, st, "ops", allScopes)
	valve := device(t, st, "v-101")
	commands := make(chan map[string]any, 4)
	if tok := valve.Subscribe("valves/v-101/command", 1, func(_ paho.Client, m paho.Message) {
		var c map[string]any
		json.Unmarshal(m.Payload(), &c)
		commands <- c
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	id := want(t, post(t, st, key, "/valves/v-101/actuate", `{"command":"OPEN"}`), 202)["actuation_id"].(string)
	cmd := <-commands
	if cmd["request_id"] != id || cmd["command"] != "OPEN" {
		t.Fatalf("command = %v", cmd)
	}
	status := func(state string, torque float64) map[string]any {
		return map[string]any{"state": state, "request_id": id, "angle_deg": 90, "torque_nm": torque,
			"interlocks": map[string]bool{"e_stop": false, "over_torque": false, "over_temp": false}}
	}
	for _, s := range []string{"ALIGNING", "ACTUATING", "VERIFYING"} {
		publish(t, valve, "valves/v-101/status", status(s, 30))
	}
	publish(t, valve, "valves/v-101/status", status("DONE", 51.5))
	eventually(t, "succeeded", func() bool {
		return getJSON(t, st, "/valves/v-101/actuations/"+id)["state"] == "succeeded"
	})
	a := getJSON(t, st, "/valves/v-101/actuations/"+id)
	if a["torque_nm"] != 51.5 || a["duration_ms"] == nil || a["completed_at"] == nil {
		t.Errorf("actuation = %v", a)
	}
	v := getJSON(t, st, "/valves/v-101")
	if v["last_torque_nm"] != 51.5 || v["last_actuation_time"] == nil || v["connected"] != true {
		t.Errorf("valve = %v", v)
	}
	// A duplicate DONE and a late ALIGNING change nothing.
	publish(t, valve, "valves/v-101/status", status("DONE", 99))
	publish(t, valve, "valves/v-101/status", status("ALIGNING", 1))
	time.Sleep(300 * time.Millisecond)
	if a := getJSON(t, st, "/valves/v-101/actuations/"+id); a["state"] != "succeeded" || a["torque_nm"] != 51.5 {
		t.Errorf("after duplicates: %v", a)
	}
	// Statuses are direct, asynchronous invocations: they may be taken in
	// out of order, and a step that comes after a later one is dropped.
	// Each is stamped when it is taken in, so a step handled alongside DONE
	// may carry a later time; what holds: one completion, one to three
	// progress events, and the request first.
	var types []string
	for _, e := range getJSON(t, st, "/events?asset=v-101&limit=20")["items"].([]any) {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	progress := strings.Count(strings.Join(types, " "), "valve.actuation.progress")
	completed := strings.Count(strings.Join(types, " "), "valve.actuation.completed")
	if len(types) < 3 || completed != 1 || types[len(types)-1] != "valve.actuation.requested" || progress < 1 || progress > 3 {
		t.Errorf("events = %v", types)
	}
	// The valve is free again.
	want(t, post(t, st, key, "/valves/v-101/actuate", `{"command":"CLOSE"}`), 202)
}

func TestAnOverTorqueFailsAndSilenceTimesOut(t *testing.T) {
	st := deviceStack(t)
	key := newKey(t, st, "ops", allScopes)
	valve := device(t, st, "v-102")
	id := want(t, post(t, st, key, "/valves/v-102/actuate", `{"command":"OPEN","params":{"torque_limit_nm":10}}`), 202)["actuation_id"].(string)
	publish(t, valve, "valves/v-102/status", map[string]any{"state": "ERROR", "request_id": id, "torque_nm": 48,
		"interlocks": map[string]bool{"over_torque": true}, "notes": "over torque"})
	eventually(t, "failed", func() bool {
		a := getJSON(t, st, "/valves/v-102/actuations/"+id)
		return a["state"] == "failed" && a["reason"] == "over_torque"
	})
	// Nobody answers this one: after its deadline (2 s here) it times out.
	silent := want(t, post(t, st, key, "/valves/v-103/actuate", `{"command":"CLOSE"}`), 202)["actuation_id"].(string)
	for range 100 {
		if getJSON(t, st, "/valves/v-103/actuations/"+silent)["state"] == "timed_out" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := getJSON(t, st, "/valves/v-103/actuations/"+silent); a["state"] != "timed_out" || a["reason"] != "timed_out" {
		t.Fatalf("silent actuation = %v", a)
	}
	ev := getJSON(t, st, "/events?type=valve.actuation.timed_out")["items"].([]any)
	if len(ev) != 1 {
		t.Errorf("timed_out events = %v", ev)
	}
}

func TestDeviceLeaksBecomeAlertsAndIncidents(t *testing.T) {
	st := deviceStack(t)
	gauge := device(t, st, "B-Central")
	leak := func(id, sev string) map[string]any {
		return map[string]any{"id": id, "ts": time.Now().Unix(), "asset_id": "B-Central", "location": map[string]float64{"lat": 51.9, "lon": 4.5},
			"class": "METHANE", "confidence": 0.9, "severity": sev, "volume_estimate": 12.5}
	}
	publish(t, gauge, "plainview/leaks", leak("gauge-leak-1", "HIGH"))
	publish(t, gauge, "plainview/leaks", leak("gauge-leak-1", "HIGH")) // a repeat: deduplicated
	publish(t, gauge, "plainview/leaks", leak("gauge-leak-2", "LOW"))
	eventually(t, "two alerts", func() bool { return getJSON(t, st, "/pipeline/alerts")["active_leak_count"] == 2.0 })
	pa := getJSON(t, st, "/pipeline/alerts")
	if pa["critical_count"] != 1.0 {
		t.Errorf("alerts = %v", pa)
	}
	inc := getJSON(t, st, "/incidents")
	if inc["active_count"] != 1.0 {
		t.Fatalf("incidents = %v", inc)
	}
	active := inc["active_incidents"].([]any)[0].(map[string]any)
	full := getJSON(t, st, "/incidents/"+active["id"].(string))
	if len(full["timeline"].([]any)) != 2 || full["severity"] != "critical" {
		t.Errorf("incident = %v", full)
	}
	for _, a := range pa["active_leaks"].([]any) {
		if a.(map[string]any)["reporter"] != "B-Central" {
			t.Errorf("reporter not recorded: %v", a)
		}
	}
}

func TestADeviceMayOnlyUseItsOwnTopics(t *testing.T) {
	st := deviceStack(t)
	before := tableDump(t, st)
	intruder := device(t, st, "v-101")
	// IoT Core disconnects a client that publishes where its policy does
	// not allow; the embedded broker does the same for QoS 1.
	tok := intruder.Publish("valves/v-102/status", 1, false, `{"state":"DONE","request_id":"act-x"}`)
	tok.WaitTimeout(2 * time.Second)
	eventually(t, "disconnected", func() bool { return !intruder.IsConnectionOpen() })
	time.Sleep(200 * time.Millisecond)
	if after := tableDump(t, st); after != before {
		t.Errorf("a refused publish changed the store")
	}
	// Wrong token, or another device's id as client id: refused at connect.
	for _, o := range []*paho.ClientOptions{
		paho.NewClientOptions().AddBroker(st.MQTTURL).SetClientID("v-101").SetUsername("v-101").SetPassword("wrong"),
		paho.NewClientOptions().AddBroker(st.MQTTURL).SetClientID("v-102").SetUsername("v-101").SetPassword(st.Devices[0].Token),
		paho.NewClientOptions().AddBroker(st.MQTTURL).SetClientID("stranger").SetUsername("stranger").SetPassword("x"),
	} {
		c := paho.NewClient(o.SetAutoReconnect(false))
		if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			t.Errorf("%s connected", o.ClientID)
			c.Disconnect(10)
		}
	}
}

func TestBadMessagesBecomeDeadLettersWhileGoodOnesAreStored(t *testing.T) {
	st := deviceStack(t)
	valve := device(t, st, "v-101")
	gauge := device(t, st, "A-North")
	now := time.Now().Unix()
	bad := []struct{ topic, payload string }{
		{"plainview/devices/v-101/telemetry", `not json`},
		{"plainview/devices/v-101/telemetry", `[1,2,3]`},
		{"plainview/devices/v-101/telemetry", `{"ts":"yesterday","temperature_c":40}`},
		{"plainview/devices/v-101/telemetry", `{"temperature_c":"hot"}`},
		{"plainview/devices/v-101/telemetry", `{"temperature_c":9000}`},
		{"plainview/devices/v-101/telemetry", `{"pressure_pa":-5}`},
		{"plainview/devices/v-101/telemetry", `{}`},
		{"plainview/devices/v-101/telemetry", fmt.Sprintf(`{"ts":%d,"temperature_c":40}`, now-10*86400)},
		{"plainview/devices/v-101/telemetry", `{"temperature_c":40,`},
		{"pipeline/pressure/A-North", `{"ts":1}`},
		{"pipeline/pressure/A-North", `{"kpa":-1}`},
		{"pipeline/pressure/A-North", `{"kpa":"high"}`},
		{"valves/v-101/status", `{"state":"DANCING","request_id":"act-1"}`},
		{"valves/v-101/status", `{"state":"DONE","request_id":"act-none"}`},
		{"valves/v-101/status", `{"state":"DONE","request_id":"bad id!"}`},
		{"valves/v-101/status", `{"state":"DONE","request_id":"act-1","torque_nm":-3}`},
		{"valves/v-101/status", `{"state":5}`},
		{"plainview/leaks", `{"id":"l-1","asset_id":"A-North","class":"METHANE","severity":"APOCALYPTIC"}`},
		{"plainview/leaks", `{"id":"l-2","asset_id":"A-North","class":"GAS","severity":"LOW"}`},
		{"plainview/leaks", `{"id":"l-3","asset_id":"Z-Nowhere","class":"OIL","severity":"LOW"}`},
		{"plainview/leaks", `{"id":"l 4","asset_id":"A-North","class":"OIL","severity":"LOW"}`},
		{"plainview/leaks", `{"id":"l-5","asset_id":"A-North","class":"OIL","severity":"LOW","location":{"lat":100,"lon":0}}`},
		{"plainview/leaks", `{"id":"l-6","asset_id":"A-North","class":"OIL","severity":"LOW","confidence":7}`},
	}
	for i, b := range bad {
		c := valve
		if strings.HasPrefix(b.topic, "pipeline/") || b.topic == "plainview/leaks" {
			c = gauge // only a section's own gauge may report leaks
		}
		publish(t, c, b.topic, b.payload)
		// Valid messages around the bad ones are stored.
		publish(t, valve, "plainview/devices/v-101/telemetry", map[string]any{"ts": now, "temperature_c": 40 + float64(i)/10, "pressure_pa": 2.2e6})
		publish(t, gauge, "pipeline/pressure/A-North", map[string]any{"ts": now, "kpa": 2400 + i})
	}
	db := store.NewClient(store.LocalConfig(), st.DynamoURL)
	count := func(pk string) int {
		out, err := db.Query(context.Background(), &dynamodb.QueryInput{TableName: aws.String(st.TableName),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Items)
	}
	eventually(t, "every bad message dead-lettered", func() bool { return count("DEADLETTERS") == len(bad) })
	eventually(t, "every good reading stored", func() bool {
		return count("READINGS#v-101") == len(bad) && count("READINGS#A-North") == len(bad)
	})
	// The section's latest value is written after the batch's readings,
	// so it may show a moment later.
	var sec map[string]any
	eventually(t, "the section showing the last pressure", func() bool {
		sec = getJSON(t, st, "/pipeline/sections/A-North")
		return sec["pressure_kpa"] == float64(2400+len(bad)-1)
	})

	// (The redrive after a fix is scripts/deadletters' test.)
	s := st.Store
	dl, _, err := s.DeadLetters(context.Background(), domain.Page{Limit: 200})
	if err != nil || len(dl) != len(bad) {
		t.Fatalf("dead letters = %d, %v", len(dl), err)
	}
	for _, d := range dl {
		if d.Reason == "" || d.Topic == "" || d.ClientID == "" || d.Payload == "" {
			t.Errorf("dead letter without its reason, topic, client or payload: %+v", d)
		}
	}
}
