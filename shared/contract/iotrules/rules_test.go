package iotrules

import (
	"strings"
	"testing"
)

func TestEveryDeviceTopicOfTheContractHasARule(t *testing.T) {
	for topic, want := range map[string]string{
		"valves/v-101/status":               "valve_status",
		"plainview/leaks":                   "leaks",
		"plainview/devices/v-101/telemetry": "device_telemetry",
		"pipeline/pressure/A-North":         "pipeline_pressure",
	} {
		r, ok := Match(Table(), topic)
		if !ok || r.Name != want {
			t.Errorf("%s -> %v %v, want %s", topic, r.Name, ok, want)
		}
	}
	for _, topic := range []string{"valves/v-101/command", "valves//status", "plainview/devices/x/telemetry/extra", "pipeline/pressure"} {
		if r, ok := Match(Table(), topic); ok {
			t.Errorf("%s matched %s", topic, r.Name)
		}
	}
}

func TestStatusesAndLeaksAreDirectTelemetryIsQueued(t *testing.T) {
	for _, r := range Table() {
		direct := r.Name == "valve_status" || r.Name == "leaks"
		if (r.Target == Direct) != direct {
			t.Errorf("%s target %s", r.Name, r.Target)
		}
		sql := r.SQL()
		for _, part := range []string{"encode(*, 'base64')", "clientid() AS client_id", "topic() AS topic", "FROM '" + r.Topic + "'"} {
			if !strings.Contains(sql, part) {
				t.Errorf("%s: SQL %q lacks %q", r.Name, sql, part)
			}
		}
	}
}

func TestAMessageCarriesAnyPayloadIntact(t *testing.T) {
	raw := []byte("not json \x00\xff")
	m := NewMessage("valves/v-101/status", "v-101", raw, 1)
	got, err := m.Bytes()
	if err != nil || string(got) != string(raw) {
		t.Fatalf("round trip: %q %v", got, err)
	}
	if _, err := (Message{Payload: "%%%"}).Bytes(); err == nil {
		t.Error("bad base64 accepted")
	}
}

func TestTopicFilters(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/+/c", "a/b/c", true}, {"a/+/c", "a/b/d", false}, {"a/#", "a/b/c", true},
		{"a/b", "a/b/c", false}, {"a/b/c", "a/b", false}, {"+", "", false},
	} {
		if got := TopicMatches(c.filter, c.topic); got != c.want {
			t.Errorf("TopicMatches(%q, %q) = %v", c.filter, c.topic, got)
		}
	}
}
