package domain_test

import (
	"slices"
	"testing"

	"github.com/plainview/serverless/shared/core/domain"
)

func TestSeedInventoryIsThatOfAPIMD(t *testing.T) {
	valves, sections := domain.SeedInventory()
	var got [][2]string
	for _, v := range valves {
		got = append(got, [2]string{v.ID, v.Name})
		if !domain.ValidID(v.ID) {
			t.Errorf("seed valve id %q is not a valid id", v.ID)
		}
		// A new deployment starts healthy: every seeded valve is ok.
		th := domain.DefaultThresholds()
		if v.TemperatureC > th.TemperatureWarningC || v.PressurePa > th.PressureWarningPa || v.MaintenanceIn <= 0 {
			t.Errorf("seed valve %s does not start ok: %+v", v.ID, v)
		}
	}
	want := [][2]string{{"v-101", "Wellhead A1"}, {"v-102", "Manifold B2"}, {"v-103", "Isolation C3"}}
	if !slices.Equal(got, want) {
		t.Errorf("seed valves = %v, want %v", got, want)
	}
	if want := []string{"A-North", "B-Central", "C-South", "D-East", "E-West"}; !slices.Equal(sections, want) {
		t.Errorf("seed sections = %v, want %v", sections, want)
	}
	for _, s := range sections {
		if !domain.ValidID(s) {
			t.Errorf("seed section %q is not a valid id", s)
		}
	}
}

func TestEventTypesAreThoseOfAPIMDTheInventoryAndTheLiveStream(t *testing.T) {
	want := []string{
		"valve.actuation.requested", "valve.actuation.sent",
		"valve.actuation.progress", "valve.actuation.completed",
		"valve.actuation.failed", "valve.actuation.timed_out",
		"valve.actuation.rejected", "alert.created", "alert.acknowledged",
		"alert.resolved", "incident.created", "incident.updated",
		"inventory.changed", // issue 8: the inventory's changes
		"anomaly.detected",  // issue 16: the old dashboard's, found on ingestion
	}
	if !slices.Equal(domain.EventTypes, want) {
		t.Errorf("EventTypes = %v, want %v", domain.EventTypes, want)
	}
}
