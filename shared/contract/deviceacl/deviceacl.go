// Package deviceacl declares once what a field device may do on MQTT: the
// CDK stack writes the IoT policy every device certificate gets from this
// table, and the local broker checks each publish and subscribe against
// the same table, so the two cannot drift apart (infra's test evaluates
// the synthesized policy against Allowed).
package deviceacl

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
// name and MQTT client id) and the asset it reports for (the thing's
// "asset" attribute, which provisioning sets from the inventory).
const (
	DeviceID = "{id}"
	Asset    = "{asset}"
)

// Grant is one right of the devices of one kind.
type Grant struct {
	Sid    string // the policy statement's id: letters and digits
	Kind   string // domain.DeviceValve or domain.DeviceGauge
	Action Action
	Topic  string // a topic, with DeviceID or Asset standing for the device's own
}

// Grants is every right a device has; what is not here is refused. A
// valve reports its statuses and telemetry and takes its own commands; a
// gauge reports its section's pressure, its telemetry, and leaks. Leak
// reports name the section they are on, and only a section's own gauge
// may report one (ingest also checks that the report is on the gauge's
// own section): a valve is on no section the inventory knows of.
func Grants() []Grant {
	return []Grant{
		{"ValvePublishStatus", domain.DeviceValve, Publish, "valves/" + DeviceID + "/status"},
		{"ValvePublishTelemetry", domain.DeviceValve, Publish, "plainview/devices/" + DeviceID + "/telemetry"},
		{"ValveSubscribeCommands", domain.DeviceValve, Subscribe, "valves/" + DeviceID + "/command"},
		{"ValveReceiveCommands", domain.DeviceValve, Receive, "valves/" + DeviceID + "/command"},
		{"GaugePublishPressure", domain.DeviceGauge, Publish, "pipeline/pressure/" + Asset},
		{"GaugePublishTelemetry", domain.DeviceGauge, Publish, "plainview/devices/" + DeviceID + "/telemetry"},
		{"GaugePublishLeaks", domain.DeviceGauge, Publish, "plainview/leaks"},
	}
}

// Resolve is g's topic for device d.
func (g Grant) Resolve(d domain.Device) string {
	return strings.NewReplacer(DeviceID, d.ID, Asset, d.Asset).Replace(g.Topic)
}

// Allowed says whether device d may take action on topic. Topics are
// compared exactly: a wildcard in a subscription is a different filter,
// and refused, as the policy's topicfilter resources treat + and # as
// plain characters.
func Allowed(d domain.Device, action Action, topic string) bool {
	for _, g := range Grants() {
		if g.Kind == d.Kind && g.Action == action && g.Resolve(d) == topic {
			return true
		}
	}
	return false
}
