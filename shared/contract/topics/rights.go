package topics

import (
	"strings"

	"github.com/plainview/serverless/shared/core/domain"
)

// Action is an IoT policy action on a topic.
type Action string

const (
	Publish   Action = "iot:Publish"
	Subscribe Action = "iot:Subscribe" // on a topic filter
	Receive   Action = "iot:Receive"   // delivery of a message on a topic
)

// The placeholders of a Grant's topic: the device's own id (its IoT thing
// name and MQTT client id), the asset it reports for (the thing's "asset"
// attribute, which provisioning sets from the inventory) and the
// environment the rules are deployed in (their names carry it).
const (
	DeviceID    = "{id}"
	Asset       = "{asset}"
	Environment = "{environment}"
)

// Grant is one right of the devices of one kind.
type Grant struct {
	Sid    string // the policy statement's id: letters and digits
	Kind   string // domain.DeviceValve or domain.DeviceGauge
	Action Action
	Topic  string // a topic, with the placeholders above standing for the device's own
}

// Grants is every right a device has; what is not here is refused. A
// valve reports its statuses and telemetry and takes its own commands; a
// gauge reports its section's pressure, its telemetry, and leaks. Leak
// reports name the section they are on, and only a section's own gauge
// may report one (ingest also checks that the report is on the gauge's
// own section): a valve is on no section the inventory knows of. Each
// device may send its own telemetry through Basic Ingest to the telemetry
// rule, and nothing else under $aws/rules.
func Grants() []Grant {
	basicIngest := BasicIngest(RuleName(Environment, TelemetryRule), TelemetryOf(DeviceID))
	return []Grant{
		{"ValvePublishStatus", domain.DeviceValve, Publish, StatusOf(DeviceID)},
		{"ValvePublishTelemetry", domain.DeviceValve, Publish, TelemetryOf(DeviceID)},
		{"ValveBasicIngestTelemetry", domain.DeviceValve, Publish, basicIngest},
		{"ValveSubscribeCommands", domain.DeviceValve, Subscribe, CommandOf(DeviceID)},
		{"ValveReceiveCommands", domain.DeviceValve, Receive, CommandOf(DeviceID)},
		{"GaugePublishPressure", domain.DeviceGauge, Publish, PressureOf(Asset)},
		{"GaugePublishTelemetry", domain.DeviceGauge, Publish, TelemetryOf(DeviceID)},
		{"GaugeBasicIngestTelemetry", domain.DeviceGauge, Publish, basicIngest},
		{"GaugePublishLeaks", domain.DeviceGauge, Publish, Leaks},
	}
}

// Resolve is g's topic for device d in environment.
func (g Grant) Resolve(d domain.Device, environment string) string {
	return strings.NewReplacer(DeviceID, d.ID, Asset, d.Asset, Environment, environment).Replace(g.Topic)
}

// Allowed says whether device d may take action on topic in environment.
// Topics are compared exactly: a wildcard in a subscription is a
// different filter, and refused, as the policy's topicfilter resources
// treat + and # as plain characters.
func Allowed(d domain.Device, environment string, action Action, topic string) bool {
	for _, g := range Grants() {
		if g.Kind == d.Kind && g.Action == action && g.Resolve(d, environment) == topic {
			return true
		}
	}
	return false
}
