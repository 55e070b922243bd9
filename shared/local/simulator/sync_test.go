package simulator_test

import (
	"testing"
	"time"

	"github.com/plainview/serverless/shared/local/simulator"
)

// A device the inventory gains while the simulator runs connects and
// reports; one it loses disconnects; the others carry on. Sync before Run
// is an error, as is a fleet with a device listed twice.
func TestSyncAddsAndRemovesDevicesWhileRunning(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	sim, err := simulator.New(simulator.Options{URL: b.url(), Devices: []simulator.Device{aValve()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sim.Sync([]simulator.Device{aValve(), aGauge()}); err == nil {
		t.Error("Sync before Run: no error")
	}
	sim, _ = run(t, b, simulator.Options{Devices: []simulator.Device{aValve()}, TelemetryEvery: 50 * time.Millisecond})
	subscribed(t, rec, valveID, 1)

	if _, _, err := sim.Sync([]simulator.Device{aGauge(), aGauge()}); err == nil {
		t.Error("a device listed twice: no error")
	}
	newValve := simulator.Device{ID: "v-200", Kind: "valve", Asset: "v-200", Token: "tok-v-200"}
	added, removed, err := sim.Sync([]simulator.Device{aValve(), newValve})
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 || added[0] != "v-200" || len(removed) != 0 {
		t.Errorf("added %v, removed %v; want v-200 added, none removed", added, removed)
	}
	subscribed(t, rec, "v-200", 1)
	waitFor(t, "telemetry from v-200", func() bool {
		for _, p := range rec.published() {
			if p.Client == "v-200" && p.Topic == "plainview/devices/v-200/telemetry" {
				return true
			}
		}
		return false
	})

	added, removed, err = sim.Sync([]simulator.Device{newValve})
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 0 || len(removed) != 1 || removed[0] != valveID {
		t.Errorf("added %v, removed %v; want %s removed", added, removed, valveID)
	}
	waitFor(t, valveID+" disconnected", func() bool {
		cl, ok := b.srv.Clients.Get(valveID)
		return !ok || cl.Closed()
	})
	if cl, ok := b.srv.Clients.Get("v-200"); !ok || cl.Closed() {
		t.Error("v-200 went away with the device removed")
	}
}
