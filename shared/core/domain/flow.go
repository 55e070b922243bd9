package domain

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Telemetry metrics: the readings a device may report (docs/API.md).
const (
	MetricTemperature = "temperature_c"
	MetricPressure    = "pressure_pa"
	MetricFlowRate    = "flow_rate_lpm"
	MetricTorque      = "torque_nm"
	MetricPressureKPa = "kpa" // a section's pressure gauge
)

// Metrics lists every telemetry metric, for validating filters.
var Metrics = []string{MetricTemperature, MetricPressure, MetricFlowRate, MetricTorque, MetricPressureKPa}

// Anomaly severities.
const (
	AnomalyMedium = "medium"
	AnomalyHigh   = "high"
)

// AnomalySeverities lists the anomaly severities.
var AnomalySeverities = []string{AnomalyMedium, AnomalyHigh}

// Sample is one telemetry message of a device: the values it reported at
// one time.
type Sample struct {
	Device string
	At     time.Time
	Values map[string]float64
}

// Anomaly is a reading far from the mean of the readings of the same
// device and metric before it.
type Anomaly struct {
	ID     string    `json:"id"` // device, metric and time: the same reading always has the same id
	Device string    `json:"device"`
	Metric string    `json:"metric"`
	At     time.Time `json:"at"`
	Value  float64   `json:"value"`
	Mean   float64   `json:"mean"`
	// Deviation is how far Value is from Mean: in the metric's unit, but
	// in percent of the mean for the flow rate.
	Deviation float64 `json:"deviation"`
	Severity  string  `json:"severity"`
}

// AnomalyID is the id of the anomaly of device's metric at at.
func AnomalyID(device, metric string, at time.Time) string {
	return fmt.Sprintf("%s-%s-%d", device, metric, at.UnixMilli())
}

// Anomaly detection (docs/API.md): a reading is compared with the mean of up to
// the AnomalyWindow previous readings of its device and metric, once there
// are at least AnomalyMinHistory of them.
const (
	AnomalyWindow     = 10
	AnomalyMinHistory = 3
)

// anomalyRule says how far from the mean a metric may go: a deviation
// strictly over medium is an anomaly, strictly over high a high one.
type anomalyRule struct {
	medium, high float64
	percent      bool // deviations are in percent of the mean
}

// anomalyRules are the limits of docs/API.md; metrics without one (torque) are
// not checked. Pressure limits are 100 kPa and 200 kPa in either unit.
var anomalyRules = map[string]anomalyRule{
	MetricFlowRate:    {medium: 25, high: 50, percent: true},
	MetricPressure:    {medium: 100_000, high: 200_000},
	MetricPressureKPa: {medium: 100, high: 200},
	MetricTemperature: {medium: 10, high: 20},
}

// AnomalyMediumLimit is the deviation past which a reading of metric is
// an anomaly, in the unit of Anomaly.Deviation (percent for the flow
// rate); ok is false for a metric that is not checked.
func AnomalyMediumLimit(metric string) (limit float64, ok bool) {
	rule, ok := anomalyRules[metric]
	return rule.medium, ok
}

// DetectAnomalies finds the anomalous readings among samples, which may
// come in any order: per device and metric, in time order, each value is
// compared with the mean of up to ten values before it, from the fourth
// value on. Flow rate is anomalous off by more than 25 % of the mean (high
// over 50 %), pressure off by more than 100 kPa (high over 200 kPa),
// temperature off by more than 10 °C (high over 20 °C); a deviation exactly
// at a limit does not cross it. A flow rate after a mean of zero has no
// relative deviation and is not judged. The result is newest first.
func DetectAnomalies(samples []Sample) []Anomaly {
	ordered := slices.Clone(samples)
	slices.SortStableFunc(ordered, func(a, b Sample) int { return a.At.Compare(b.At) })

	type series struct{ device, metric string }
	history := map[series][]float64{}
	var out []Anomaly
	for _, s := range ordered {
		for metric, v := range s.Values {
			rule, ok := anomalyRules[metric]
			if !ok {
				continue
			}
			k := series{s.Device, metric}
			prev := history[k]
			if len(prev) >= AnomalyMinHistory {
				if a, ok := judge(rule, prev, v); ok {
					a.ID, a.Device, a.Metric, a.At = AnomalyID(s.Device, metric, s.At), s.Device, metric, s.At
					out = append(out, a)
				}
			}
			if len(prev) == AnomalyWindow {
				prev = slices.Delete(prev, 0, 1)
			}
			history[k] = append(prev, v)
		}
	}
	slices.SortStableFunc(out, func(a, b Anomaly) int {
		return cmp.Or(b.At.Compare(a.At), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// judge compares v with the mean of prev under rule.
func judge(rule anomalyRule, prev []float64, v float64) (Anomaly, bool) {
	sum := 0.0
	for _, p := range prev {
		sum += p
	}
	mean := sum / float64(len(prev))
	dev := math.Abs(v - mean)
	medium, high := rule.medium, rule.high
	if rule.percent {
		if mean <= 0 {
			return Anomaly{}, false
		}
		// Compare in the metric's unit, so a value exactly at the limit
		// is not pushed over it by a rounded division.
		medium, high = mean*medium/100, mean*high/100
	}
	var severity string
	switch {
	case dev > high:
		severity = AnomalyHigh
	case dev > medium:
		severity = AnomalyMedium
	default:
		return Anomaly{}, false
	}
	if rule.percent {
		dev = dev / mean * 100
	}
	return Anomaly{Value: v, Mean: mean, Deviation: dev, Severity: severity}, true
}

// AnomalyCounts counts anomalies by severity; Total counts every one.
type AnomalyCounts struct {
	Total, Medium, High int
}

// CountAnomalies counts as by severity.
func CountAnomalies(as []Anomaly) AnomalyCounts {
	var c AnomalyCounts
	for _, a := range as {
		c.Total++
		switch a.Severity {
		case AnomalyMedium:
			c.Medium++
		case AnomalyHigh:
			c.High++
		}
	}
	return c
}

// Add is the counts of both.
func (c AnomalyCounts) Add(d AnomalyCounts) AnomalyCounts {
	return AnomalyCounts{Total: c.Total + d.Total, Medium: c.Medium + d.Medium, High: c.High + d.High}
}

// FlowHealth scores flow from its recent anomalies: 100, minus 5 per
// medium anomaly, minus 10 per high one, never below 0.
func FlowHealth(recent []Anomaly) int {
	return FlowHealthOfCounts(CountAnomalies(recent))
}

// FlowHealthOfCounts is FlowHealth from the anomalies' counts, for when
// there are too many anomalies to read. Twenty medium or ten high ones
// already reach 0, so larger counts are capped before they are multiplied.
func FlowHealthOfCounts(c AnomalyCounts) int {
	return max(100-5*min(c.Medium, 20)-10*min(c.High, 10), 0)
}
