package topics

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
	// Stream puts into the telemetry stream, keyed by the publishing
	// device, which the ingest function reads in batches: the volume. A
	// batch holds each device's messages of the batching window, so a
	// device's readings are written together (docs/decisions.md, "The
	// telemetry stream").
	Stream Target = "stream"
)

// Rule is one IoT topic rule. The CDK stack builds IoT CfnTopicRules from
// Table; the local stack's rules engine applies the same table to what
// the embedded broker receives.
type Rule struct {
	Name   string // the rule's short name: letters, digits and _ (RuleName gives the deployed one)
	Topic  string // the MQTT topic filter
	Kind   Kind   // what the topics it matches carry
	Target Target
}

// The rules' short names that others refer to.
const TelemetryRule = "device_telemetry"

// Table returns every topic rule.
func Table() []Rule {
	return []Rule{
		{Name: "valve_status", Topic: StatusFilter, Kind: Status, Target: Direct},
		{Name: "leaks", Topic: Leaks, Kind: Leak, Target: Direct},
		{Name: TelemetryRule, Topic: TelemetryFilter, Kind: Telemetry, Target: Stream},
		{Name: "pipeline_pressure", Topic: PressureFilter, Kind: Pressure, Target: Stream},
	}
}

// LocalEnvironment is the local stack's environment: its rules are named
// as a deployed environment's, so a device's Basic Ingest topic there is
// $aws/rules/plainview_local_device_telemetry/plainview/devices/<id>/telemetry.
const LocalEnvironment = "local"

// RuleName is the IoT rule name of the rule called name in an
// environment: rule names are per account and region, and the
// environment in the name lets development and production share an
// account. Letters, digits and _ only, as IoT demands.
func RuleName(environment, name string) string {
	return "plainview_" + environment + "_" + name
}

// SQL is the rule's IoT SQL statement. It selects the payload as base64,
// whatever it is, with the topic, the publishing client id and the broker's
// receive time: the ingest function validates everything itself, so a
// payload that is not JSON still reaches it and becomes a dead letter with
// its reason, instead of being dropped by the rules engine. Through Basic
// Ingest, topic() is the topic without the "$aws/rules/<rule>/" prefix.
func (r Rule) SQL() string {
	return fmt.Sprintf("SELECT encode(*, 'base64') AS payload, topic() AS topic, clientid() AS client_id, timestamp() AS received_ms FROM '%s'", r.Topic)
}

// Match returns the rule whose filter matches topic. A Basic Ingest topic
// matches only the rule it names (by its short name, in environment),
// and only if the topic behind the prefix is one that rule takes: IoT
// Core hands such a message to that rule alone.
func Match(table []Rule, environment, topic string) (Rule, bool) {
	if rest, ok := strings.CutPrefix(topic, BasicIngestPrefix); ok {
		name, inner, ok := strings.Cut(rest, "/")
		if !ok {
			return Rule{}, false
		}
		for _, r := range table {
			if RuleName(environment, r.Name) == name && TopicMatches(r.Topic, inner) {
				return r, true
			}
		}
		return Rule{}, false
	}
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

// NewMessage is the message a rule makes of a publish: its topic is the
// one topic() gives, without a Basic Ingest prefix.
func NewMessage(topic, clientID string, payload []byte, receivedMs int64) Message {
	if t, ok := Parse(topic); ok {
		topic = t.Name
	}
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

// TargetOf is where the rules send a topic's messages: Stream for
// telemetry and pressure, Direct for statuses and leaks, "" for a topic
// no rule takes. A Basic Ingest topic goes where its topic would.
func TargetOf(topic string) Target {
	t, ok := Parse(topic)
	if !ok {
		return ""
	}
	for _, r := range Table() {
		if r.Kind == t.Kind {
			return r.Target
		}
	}
	return ""
}
