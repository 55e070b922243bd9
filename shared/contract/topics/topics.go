// Package topics is the one place that names the MQTT topics devices and
// the cloud use, tells what a topic carries, and says who may use which:
// the IoT topic rules (Table), the device rights (Grants: the IoT policy
// the CDK stack writes and the local broker's access list), ingestion
// (Parse), the command publisher and the simulator all read it, so they
// cannot drift apart.
//
// A device may also send its telemetry through IoT Core's Basic Ingest:
// the same topic behind "$aws/rules/<rule name>/", which hands the message
// to that rule without the broker's messaging charge (docs/devices.md).
// The rule sees the topic without the prefix, as IoT Core's topic() gives
// it; Parse accepts both forms, so either way the device id comes from the
// topic.
package topics

import (
	"strings"

	"github.com/plainview/serverless/shared/core/domain"
)

// What a topic carries.
type Kind int

const (
	Unknown   Kind = iota
	Status         // valves/{valve}/status: a valve's report on an actuation
	Command        // valves/{valve}/command: the cloud's command to a valve
	Telemetry      // plainview/devices/{device}/telemetry: a device's readings
	Pressure       // pipeline/pressure/{section}: a gauge's section pressure
	Leak           // plainview/leaks: a gauge's leak report
)

func (k Kind) String() string {
	switch k {
	case Status:
		return "status"
	case Command:
		return "command"
	case Telemetry:
		return "telemetry"
	case Pressure:
		return "pressure"
	case Leak:
		return "leak"
	}
	return "unknown"
}

// The topics, by what they carry. Each is the topic of one valve, device
// or section; the Filter ones match every valve's, device's or section's.
func StatusOf(valve string) string     { return "valves/" + valve + "/status" }
func CommandOf(valve string) string    { return "valves/" + valve + "/command" }
func TelemetryOf(device string) string { return "plainview/devices/" + device + "/telemetry" }
func PressureOf(section string) string { return "pipeline/pressure/" + section }

const (
	Leaks           = "plainview/leaks"
	StatusFilter    = "valves/+/status"
	CommandFilter   = "valves/+/command"
	TelemetryFilter = "plainview/devices/+/telemetry"
	PressureFilter  = "pipeline/pressure/+"
)

// BasicIngestPrefix starts every Basic Ingest topic: "$aws/rules/<rule
// name>/<topic>".
const BasicIngestPrefix = "$aws/rules/"

// BasicIngest is topic sent straight to the IoT rule named rule.
func BasicIngest(rule, topic string) string { return BasicIngestPrefix + rule + "/" + topic }

// Topic is what Parse reads from a topic name.
type Topic struct {
	Kind Kind
	// ID is the valve (Status, Command), the device (Telemetry) or the
	// section (Pressure) the topic names; "" for Leak.
	ID string
	// Rule is the rule name of a Basic Ingest topic, "" otherwise; Name
	// is the topic without the Basic Ingest prefix.
	Rule, Name string
}

// Parse tells what a topic carries and whose it is. ok is false for a
// topic of none of the kinds, or whose id is not a valid id.
func Parse(topic string) (t Topic, ok bool) {
	if rest, found := strings.CutPrefix(topic, BasicIngestPrefix); found {
		rule, name, found := strings.Cut(rest, "/")
		if !found || rule == "" {
			return Topic{}, false
		}
		t, ok = Parse(name)
		if !ok || t.Rule != "" {
			return Topic{}, false
		}
		t.Rule = rule
		return t, true
	}
	t = Topic{Name: topic}
	p := strings.Split(topic, "/")
	switch {
	case len(p) == 3 && p[0] == "valves" && p[2] == "status":
		t.Kind, t.ID = Status, p[1]
	case len(p) == 3 && p[0] == "valves" && p[2] == "command":
		t.Kind, t.ID = Command, p[1]
	case len(p) == 4 && p[0] == "plainview" && p[1] == "devices" && p[3] == "telemetry":
		t.Kind, t.ID = Telemetry, p[2]
	case len(p) == 3 && p[0] == "pipeline" && p[1] == "pressure":
		t.Kind, t.ID = Pressure, p[2]
	case topic == Leaks:
		return Topic{Kind: Leak, Name: topic}, true
	default:
		return Topic{}, false
	}
	return t, domain.ValidID(t.ID)
}
