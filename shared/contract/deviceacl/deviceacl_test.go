package deviceacl_test

import (
	"testing"

	"github.com/plainview/serverless/shared/contract/deviceacl"
	"github.com/plainview/serverless/shared/core/domain"
)

func TestEachDeviceMayUseItsOwnTopicsOnly(t *testing.T) {
	valve := domain.Device{ID: "v-101", Kind: domain.DeviceValve, Asset: "v-101"}
	gauge := domain.Device{ID: "g-7", Kind: domain.DeviceGauge, Asset: "F-Spur"}
	for _, c := range []struct {
		d      domain.Device
		action deviceacl.Action
		topic  string
		want   bool
	}{
		{valve, deviceacl.Publish, "valves/v-101/status", true},
		{valve, deviceacl.Publish, "plainview/devices/v-101/telemetry", true},
		{valve, deviceacl.Subscribe, "valves/v-101/command", true},
		{valve, deviceacl.Receive, "valves/v-101/command", true},
		{valve, deviceacl.Publish, "valves/v-102/status", false},
		{valve, deviceacl.Publish, "valves/v-101/command", false}, // its own commands come from the cloud
		{valve, deviceacl.Publish, "valves/v-102/command", false},
		{valve, deviceacl.Publish, "plainview/leaks", false}, // a valve is on no section
		{valve, deviceacl.Publish, "pipeline/pressure/v-101", false},
		{valve, deviceacl.Subscribe, "valves/+/command", false},
		{valve, deviceacl.Subscribe, "#", false},
		{gauge, deviceacl.Publish, "pipeline/pressure/F-Spur", true}, // its asset, not its id
		{gauge, deviceacl.Publish, "pipeline/pressure/g-7", false},
		{gauge, deviceacl.Publish, "plainview/devices/g-7/telemetry", true},
		{gauge, deviceacl.Publish, "plainview/leaks", true},
		{gauge, deviceacl.Publish, "valves/g-7/status", false},
		{gauge, deviceacl.Subscribe, "valves/g-7/command", false},
		{gauge, deviceacl.Publish, "$SYS/x", false},
	} {
		if got := deviceacl.Allowed(c.d, c.action, c.topic); got != c.want {
			t.Errorf("%s %s %s: %v, want %v", c.d.ID, c.action, c.topic, got, c.want)
		}
	}
}

func TestGrantsAreWellFormed(t *testing.T) {
	sids := map[string]bool{}
	for _, g := range deviceacl.Grants() {
		if sids[g.Sid] || g.Sid == "" {
			t.Errorf("statement id %q empty or repeated (the IoT policy needs unique ones)", g.Sid)
		}
		sids[g.Sid] = true
		if g.Kind != domain.DeviceValve && g.Kind != domain.DeviceGauge {
			t.Errorf("%s: kind %q", g.Sid, g.Kind)
		}
	}
}
