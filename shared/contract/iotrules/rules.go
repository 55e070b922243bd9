// Package rules declares the IoT topic rules once: what each rule listens
// to, what it selects and where it sends it. The CDK stack builds IoT
// CfnTopicRules from this table; the local stack's rules engine applies
// the same table to what the embedded broker receives.
package iotrules

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Target is where a rule sends what it selects.
type Target string

const (
	// Direct invokes the ingest function asynchronously, one message per
	// invocation: statuses and leaks, which are few and need low latency.
	Direct Target = "direct"
	// Queue sends to the telemetry queue, which the ingest function reads
	// in batches: the volume.
	Queue Target = "queue"
)

// Rule is one IoT topic rule.
type Rule struct {
	Name   string // the IoT rule name: letters, digits and _
	Topic  string // the MQTT topic filter
	Target Target
}

// SQL is the rule's IoT SQL statement. It selects the payload as base64,
// whatever it is, with the topic, the publishing client id and the broker's
// receive time: the ingest function validates everything itself, so a
// payload that is not JSON still reaches it and becomes a dead letter with
// its reason, instead of being dropped by the rules engine.
func (r Rule) SQL() string {
	return fmt.Sprintf("SELECT encode(*, 'base64') AS payload, topic() AS topic, clientid() AS client_id, timestamp() AS received_ms FROM '%s'", r.Topic)
}

// Table returns every topic rule.
func Table() []Rule {
	return []Rule{
		{Name: "valve_status", Topic: "valves/+/status", Target: Direct},
		{Name: "leaks", Topic: "plainview/leaks", Target: Direct},
		{Name: "device_telemetry", Topic: "plainview/devices/+/telemetry", Target: Queue},
		{Name: "pipeline_pressure", Topic: "pipeline/pressure/+", Target: Queue},
	}
}

// Match returns the rule whose filter matches topic.
func Match(table []Rule, topic string) (Rule, bool) {
	for _, r := range table {
		if TopicMatches(r.Topic, topic) {
			return r, true
		}
	}
	return Rule{}, false
}

// TopicMatches applies an MQTT topic filter (+ and # wildcards) to a topic.
func TopicMatches(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, part := range f {
		switch {
		case part == "#":
			return true
		case i >= len(t):
			return false
		case part == "+":
			if t[i] == "" {
				return false
			}
		case part != t[i]:
			return false
		}
	}
	return len(f) == len(t)
}

// Message is what a rule delivers to the ingest function: the fields its
// SQL selects.
type Message struct {
	Payload    string `json:"payload"` // base64 of the bytes the device sent
	Topic      string `json:"topic"`
	ClientID   string `json:"client_id"`
	ReceivedMs int64  `json:"received_ms"`
}

// NewMessage is the message a rule makes of a publish.
func NewMessage(topic, clientID string, payload []byte, receivedMs int64) Message {
	return Message{Payload: base64.StdEncoding.EncodeToString(payload), Topic: topic, ClientID: clientID, ReceivedMs: receivedMs}
}

// Bytes decodes the payload.
func (m Message) Bytes() ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(m.Payload)
	if err != nil {
		return nil, fmt.Errorf("payload is not base64: %w", err)
	}
	return b, nil
}

// JSON encodes the message as a rule sends it.
func (m Message) JSON() []byte {
	b, _ := json.Marshal(m) // strings and an int always marshal
	return b
}
