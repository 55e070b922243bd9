package simulator

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// telemetry is plainview/devices/{id}/telemetry (docs/API.md).
type telemetry struct {
	TS           float64 `json:"ts"`
	TemperatureC float64 `json:"temperature_c"`
	PressurePa   float64 `json:"pressure_pa"`
	FlowRateLpm  float64 `json:"flow_rate_lpm"`
	TorqueNm     float64 `json:"torque_nm"`
}

// pressure is pipeline/pressure/{segment_id} (docs/API.md).
type pressure struct {
	TS  float64 `json:"ts"`
	KPa float64 `json:"kpa"`
}

// leak is plainview/leaks (docs/API.md).
type leak struct {
	ID             string          `json:"id"`
	TS             float64         `json:"ts"`
	AssetID        string          `json:"asset_id"`
	Location       domain.Location `json:"location"`
	Class          string          `json:"class"`
	Confidence     float64         `json:"confidence"`
	Severity       string          `json:"severity"`
	VolumeEstimate float64         `json:"volume_estimate"`
}

// The daily curves: a valve's readings swing this far either side of its
// mean over a day, and the noise on each reading is this wide (one
// standard deviation). The noise stays well inside the anomaly rules of
// docs/API.md (pressure off by 100 kPa, flow by 25 %, temperature by 10 °C
// from the mean of the last ten readings), so a quiet simulator raises no
// anomalies of its own.
const (
	temperatureSwingC = 5
	temperatureNoiseC = 0.3
	pressureSwingPa   = 300_000
	pressureNoisePa   = 10_000
	flowMeanLpm       = 1000
	flowSwingLpm      = 200
	flowNoiseLpm      = 10
	gaugeMeanKPa      = 2400
	gaugeSwingKPa     = 200
	gaugeNoiseKPa     = 5

	// A valve that is not in the seed inventory reads around these.
	defaultTemperatureC = 45
	defaultPressurePa   = 2_300_000
)

// daily is where the day stands on Clock's hour, from -1 at 03:00 to +1 at
// 15:00: a pipeline runs warmest, and under most load, in the afternoon.
func daily(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	return math.Sin(2 * math.Pi * (h - 9) / 24)
}

// unixSeconds is ts as docs/API.md has it: Unix seconds, to the millisecond so
// that readings a few milliseconds apart keep their order.
func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// round rounds v to the given number of decimals.
func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

// valveMeans are a valve's daily mean temperature and pressure: the seed
// inventory's first readings for a seed valve (so the simulator carries on
// from them), defaults for any other.
func valveMeans(id string) (temperatureC, pressurePa float64) {
	valves, _ := domain.SeedInventory()
	for _, v := range valves {
		if v.ID == id {
			return v.TemperatureC, v.PressurePa
		}
	}
	return defaultTemperatureC, defaultPressurePa
}

func (s *Simulator) valveTelemetry(d *device, now time.Time) telemetry {
	f := daily(now)
	_, torque := d.valve.position()
	return telemetry{
		TS:           unixSeconds(now),
		TemperatureC: round(d.temperatureC+temperatureSwingC*f+s.normal(temperatureNoiseC), 2),
		PressurePa:   math.Round(d.pressurePa + pressureSwingPa*f + s.normal(pressureNoisePa)),
		FlowRateLpm:  round(flowMeanLpm+flowSwingLpm*f+s.normal(flowNoiseLpm), 1),
		TorqueNm:     torque,
	}
}

func (s *Simulator) gaugePressure(now time.Time) pressure {
	return pressure{TS: unixSeconds(now), KPa: round(gaugeMeanKPa+gaugeSwingKPa*daily(now)+s.normal(gaugeNoiseKPa), 1)}
}

// weighted is a choice and how often it comes up.
type weighted struct {
	value  string
	weight int
}

func (s *Simulator) pick(choices []weighted) string {
	total := 0
	for _, c := range choices {
		total += c.weight
	}
	n := s.intN(total)
	for _, c := range choices {
		if n < c.weight {
			return c.value
		}
		n -= c.weight
	}
	return choices[len(choices)-1].value
}

// leakFrom is a leak reported by d, a gauge, on its own section: the only
// leak reports the broker and ingestion take (shared/contract/topics).
func (s *Simulator) leakFrom(d *device, now time.Time, seq int64) leak {
	section := d.Asset
	// Most leaks are small: mostly LOW, and the volume (litres) grows
	// with the severity.
	severity := s.pick([]weighted{{"LOW", 70}, {"MED", 20}, {"HIGH", 8}, {"CRITICAL", 2}})
	vol := map[string][2]float64{"LOW": {0.5, 20}, "MED": {20, 200}, "HIGH": {200, 1000}, "CRITICAL": {1000, 5000}}[severity]
	at := sectionLocation(section)
	return leak{
		ID:      leakID(d.ID, seq),
		TS:      unixSeconds(now),
		AssetID: section,
		Location: domain.Location{
			Lat: round(at.Lat+s.uniform(-0.002, 0.002), 6),
			Lon: round(at.Lon+s.uniform(-0.002, 0.002), 6),
		},
		Class:          s.pick([]weighted{{"METHANE", 40}, {"OIL", 30}, {"WATER", 20}, {"UNKNOWN", 10}}),
		Confidence:     round(s.uniform(0.5, 0.99), 2),
		Severity:       severity,
		VolumeEstimate: round(s.uniform(vol[0], vol[1]), 1),
	}
}

// leakID is "leak-<device>-<seq>", cut to docs/API.md's 64 characters: seq
// starts from the Clock's Unix milliseconds when Run starts, so a
// restarted simulator does not repeat the ids of the last run (ingestion
// takes a repeated id for a duplicate).
func leakID(device string, seq int64) string {
	suffix := fmt.Sprintf("-%d", seq)
	const prefix, limit = "leak-", 64
	if room := limit - len(prefix) - len(suffix); len(device) > room {
		device = device[:room]
	}
	return prefix + device + suffix
}

// sectionLocation places a section on the map near Plainview, Texas, at a
// spot derived from its name, so every leak on one section is reported
// around the same place.
func sectionLocation(section string) domain.Location {
	h := fnv.New32a()
	h.Write([]byte(section))
	sum := h.Sum32()
	return domain.Location{
		Lat: 34.18 + float64(sum%1000)/1000*0.2 - 0.1,
		Lon: -101.71 + float64(sum/1000%1000)/1000*0.2 - 0.1,
	}
}
