package stack_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/local/stack"
)

// Basic Ingest, end to end through the real broker with paho: a device's
// telemetry sent to $aws/rules/<telemetry rule>/<its topic> is stored as
// its reading, reaches no subscriber (it bypasses the broker on IoT Core),
// and another device's Basic Ingest topic is refused like any topic the
// device has no right to (the connection closes, nothing is stored).
func TestBasicIngestStoresTheDevicesReadingAndRefusesAnothersTopic(t *testing.T) {
	st := deviceStack(t)
	rule := topics.RuleName(stack.Environment, topics.TelemetryRule)
	op := operator(t, st)
	watcher := subscribe(t, op, "#")
	watcherBI := subscribe(t, op, "$aws/rules/#")

	valve := device(t, st, "v-101")
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	publish(t, valve, topics.BasicIngest(rule, topics.TelemetryOf("v-101")),
		fmt.Sprintf(`{"ts":%d,"temperature_c":41.5,"flow_rate_lpm":990}`, at.Unix()))
	// The old topic keeps working beside it.
	publish(t, valve, topics.TelemetryOf("v-101"), fmt.Sprintf(`{"ts":%d,"temperature_c":42.5}`, at.Add(time.Second).Unix()))

	// The broker acknowledged both only once stored: they are listed now.
	items := getJSON(t, st, "/telemetry?device=v-101")["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("v-101's readings = %v, want the two it sent", items)
	}
	oldest := items[1].(map[string]any)
	if oldest["at"] != at.UTC().Format(time.RFC3339) || oldest["values"].(map[string]any)["temperature_c"] != 41.5 ||
		oldest["values"].(map[string]any)["flow_rate_lpm"] != 990.0 {
		t.Errorf("the Basic Ingest reading = %v, want 41.5 °C and 990 l/min at %s", oldest, at.UTC().Format(time.RFC3339))
	}

	other := device(t, st, "v-101")
	tok := other.Publish(topics.BasicIngest(rule, topics.TelemetryOf("v-102")), 1, false, `{"temperature_c":99}`)
	tok.WaitTimeout(2 * time.Second)
	eventually(t, "v-101 publishing as v-102 through Basic Ingest: disconnected", func() bool { return !other.IsConnectionOpen() })
	for _, topic := range []string{
		topics.BasicIngest(topics.RuleName(stack.Environment, "valve_status"), topics.StatusOf("v-101")),
		topics.BasicIngest(topics.RuleName("production", topics.TelemetryRule), topics.TelemetryOf("v-101")),
	} {
		c := device(t, st, "v-101")
		c.Publish(topic, 1, false, `{"state":"IDLE"}`).WaitTimeout(2 * time.Second)
		eventually(t, topic+": disconnected", func() bool { return !c.IsConnectionOpen() })
	}
	// Nothing of the refused ones was stored, nor kept as a dead letter.
	time.Sleep(300 * time.Millisecond)
	for device, n := range map[string]int{"v-101": 2, "v-102": 0} {
		if items := getJSON(t, st, "/telemetry?device="+device)["items"].([]any); len(items) != n {
			t.Errorf("%s's readings after the refusals = %v, want %d", device, items, n)
		}
	}
	if dl, _, err := st.Store.DeadLetters(context.Background(), pageOf(10)); err != nil || len(dl) != 0 {
		t.Errorf("dead letters = %+v %v, want none", dl, err)
	}
	for _, in := range []*inbox{watcher, watcherBI} {
		for _, m := range in.got() {
			if len(m) > len(topics.BasicIngestPrefix) && m[:len(topics.BasicIngestPrefix)] == topics.BasicIngestPrefix {
				t.Errorf("a subscriber got a Basic Ingest message: %s", m)
			}
		}
	}
	if got := watcher.got(); len(got) != 1 || got[0][:len(topics.TelemetryOf("v-101"))] != topics.TelemetryOf("v-101") {
		t.Errorf("the operator watching # got %v, want only the plain-topic reading", got)
	}
}
