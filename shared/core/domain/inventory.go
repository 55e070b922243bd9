package domain

import "time"

// SeedValve is a valve of the seed inventory with its first readings.
type SeedValve struct {
	ID, Name     string
	TemperatureC float64
	PressurePa   float64
	// MaintenanceIn is how long after seeding maintenance falls due.
	MaintenanceIn time.Duration
}

// SeedInventory is what a new deployment starts with (docs/API.md).
func SeedInventory() (valves []SeedValve, sections []string) {
	const day = 24 * time.Hour
	valves = []SeedValve{
		{ID: "v-101", Name: "Wellhead A1", TemperatureC: 42.5, PressurePa: 2_100_000, MaintenanceIn: 90 * day},
		{ID: "v-102", Name: "Manifold B2", TemperatureC: 48.0, PressurePa: 2_400_000, MaintenanceIn: 60 * day},
		{ID: "v-103", Name: "Isolation C3", TemperatureC: 39.0, PressurePa: 1_800_000, MaintenanceIn: 120 * day},
	}
	sections = []string{"A-North", "B-Central", "C-South", "D-East", "E-West"}
	return valves, sections
}

// Module is one product module of GET /modules.
type Module struct {
	Key         string `json:"key"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// Modules are Plainview's product modules.
func Modules() []Module {
	return []Module{
		{Key: "valve-ops", Title: "Valve Ops", Description: "Remote actuation, torque tests and health of field valves."},
		{Key: "pipeline-guard", Title: "Pipeline Guard", Description: "Leak detection, pressure monitoring and pipeline integrity."},
		{Key: "flow-iq", Title: "Flow IQ", Description: "Flow analytics and anomaly detection over device telemetry."},
		{Key: "incidents", Title: "Incidents", Description: "Incident tracking from first alert to resolution."},
	}
}

// Device kinds.
const (
	DeviceValve = "valve" // a valve actuator: statuses, telemetry, leaks
	DeviceGauge = "gauge" // a section's pressure gauge: pressure, leaks
)

// Device is a field device of the inventory. Its id is its MQTT client id
// (its IoT thing name); Asset is the valve or section it reports for.
type Device struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Asset string `json:"asset"`
}

// SeedDevices are the devices of the seed inventory: every valve, and a
// pressure gauge named after each section.
func SeedDevices() []Device {
	valves, sections := SeedInventory()
	var out []Device
	for _, v := range valves {
		out = append(out, Device{ID: v.ID, Kind: DeviceValve, Asset: v.ID})
	}
	for _, s := range sections {
		out = append(out, Device{ID: s, Kind: DeviceGauge, Asset: s})
	}
	return out
}
