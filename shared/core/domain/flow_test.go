package domain_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// justUnder is the largest float64 strictly less than x: the first reading
// that crosses a limit below the mean.
func justUnder(x float64) float64 { return math.Nextafter(x, math.Inf(-1)) }

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// sec is the time of the i-th sample of a series: i seconds after t0.
func sec(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

// series is one device's samples of one metric, a second apart from t0.
func series(device, metric string, values ...float64) []domain.Sample {
	out := make([]domain.Sample, len(values))
	for i, v := range values {
		out[i] = domain.Sample{Device: device, At: sec(i), Values: map[string]float64{metric: v}}
	}
	return out
}

// then is values followed by more.
func then(values []float64, more ...float64) []float64 { return append(slices.Clone(values), more...) }

// brief is how a test names an anomaly: device, metric, the index of its
// sample, and severity.
func brief(as []domain.Anomaly) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%s %s #%d %s", a.Device, a.Metric, int(a.At.Sub(t0)/time.Second), a.Severity)
	}
	return out
}

func TestDetectAnomaliesAtEachThreshold(t *testing.T) {
	three := func(v float64) []float64 { return slices.Repeat([]float64{v}, 3) }
	tests := []struct {
		name      string
		metric    string
		values    []float64 // three equal values, then the one judged
		severity  string    // "" when the last value is no anomaly
		deviation float64
	}{
		// Flow rate: off by more than 25 % of the mean, high over 50 %.
		{"flow 25 % over is no anomaly", "flow_rate_lpm", then(three(1000), 1250), "", 0},
		{"flow 25 % under is no anomaly", "flow_rate_lpm", then(three(1000), 750), "", 0},
		{"flow just over 25 % over is medium", "flow_rate_lpm", then(three(1000), justOver(1250)), "medium", 25},
		{"flow just over 25 % under is medium", "flow_rate_lpm", then(three(1000), justUnder(750)), "medium", 25},
		{"flow 50 % over is medium", "flow_rate_lpm", then(three(1000), 1500), "medium", 50},
		{"flow just over 50 % over is high", "flow_rate_lpm", then(three(1000), justOver(1500)), "high", 50},
		{"flow 80 % over is high", "flow_rate_lpm", then(three(1000), 1800), "high", 80},
		{"flow stopping is high", "flow_rate_lpm", then(three(1000), 0), "high", 100},
		{"flow after a mean of zero is not judged", "flow_rate_lpm", then(three(0), 500), "", 0},
		// Pressure in pascals: off by more than 100 kPa, high over 200 kPa.
		{"pressure 100 kPa over is no anomaly", "pressure_pa", then(three(2e6), 2.1e6), "", 0},
		{"pressure 100 kPa under is no anomaly", "pressure_pa", then(three(2e6), 1.9e6), "", 0},
		{"pressure just over 100 kPa over is medium", "pressure_pa", then(three(2e6), justOver(2.1e6)), "medium", 100_000},
		{"pressure just over 100 kPa under is medium", "pressure_pa", then(three(2e6), justUnder(1.9e6)), "medium", 100_000},
		{"pressure 200 kPa over is medium", "pressure_pa", then(three(2e6), 2.2e6), "medium", 200_000},
		{"pressure just over 200 kPa over is high", "pressure_pa", then(three(2e6), justOver(2.2e6)), "high", 200_000},
		// A section gauge's pressure, in kilopascals: the same limits.
		{"kpa 100 over is no anomaly", "kpa", then(three(2400), 2500), "", 0},
		{"kpa just over 100 over is medium", "kpa", then(three(2400), justOver(2500)), "medium", 100},
		{"kpa 200 under is medium", "kpa", then(three(2400), 2200), "medium", 200},
		{"kpa just over 200 under is high", "kpa", then(three(2400), justUnder(2200)), "high", 200},
		// Temperature: off by more than 10 °C, high over 20 °C.
		{"temperature 10 °C over is no anomaly", "temperature_c", then(three(40), 50), "", 0},
		{"temperature 10 °C under is no anomaly", "temperature_c", then(three(40), 30), "", 0},
		{"temperature just over 10 °C over is medium", "temperature_c", then(three(40), justOver(50)), "medium", 10},
		{"temperature 20 °C over is medium", "temperature_c", then(three(40), 60), "medium", 20},
		{"temperature just over 20 °C under is high", "temperature_c", then(three(40), justUnder(20)), "high", 20},
		// Torque has no rule.
		{"torque is not judged", "torque_nm", then(three(50), 5000), "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := domain.DetectAnomalies(series("v-101", tt.metric, tt.values...))
			if tt.severity == "" {
				if len(got) != 0 {
					t.Fatalf("anomalies = %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("anomalies = %+v, want one", got)
			}
			a := got[0]
			last := sec(len(tt.values) - 1)
			wantID := fmt.Sprintf("v-101-%s-%d", tt.metric, last.UnixMilli())
			if a.ID != wantID || a.Device != "v-101" || a.Metric != tt.metric || !a.At.Equal(last) {
				t.Errorf("anomaly %q of %s %s at %v, want %q at %v", a.ID, a.Device, a.Metric, a.At, wantID, last)
			}
			if a.Value != tt.values[3] || a.Mean != tt.values[0] || a.Severity != tt.severity {
				t.Errorf("value %v, mean %v, severity %q; want %v, %v, %q", a.Value, a.Mean, a.Severity, tt.values[3], tt.values[0], tt.severity)
			}
			if math.Abs(a.Deviation-tt.deviation) > 1e-9 {
				t.Errorf("deviation = %v, want %v", a.Deviation, tt.deviation)
			}
		})
	}
}

func TestDetectAnomaliesJudgesFromTheFourthValueOn(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   []string
	}{
		{"nothing to compare the first value with", []float64{1000}, nil},
		{"one previous value is too few", []float64{1000, 5000}, nil},
		{"two previous values are too few", []float64{1000, 1000, 5000}, nil},
		{"three previous values are enough", []float64{1000, 1000, 1000, 5000}, []string{"v-101 flow_rate_lpm #3 high"}},
		{
			"an anomalous value counts in the mean of those after it",
			[]float64{1000, 1000, 1000, 5000, 1000},
			// The mean before the last is 2000: 1000 is 50 % under it.
			[]string{"v-101 flow_rate_lpm #4 medium", "v-101 flow_rate_lpm #3 high"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := brief(domain.DetectAnomalies(series("v-101", "flow_rate_lpm", tt.values...)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("anomalies = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDetectAnomaliesComparesWithTheTenPreviousValues(t *testing.T) {
	// Ten values at 20 °C, then ten at 28 °C: the window then holds only
	// the 28s. Against all twenty (mean 24) or the first ten (mean 20),
	// 37.5 would be an anomaly; against the last ten it is 9.5 off.
	base := then(slices.Repeat([]float64{20}, 10), slices.Repeat([]float64{28}, 10)...)
	if got := domain.DetectAnomalies(series("v-101", "temperature_c", then(base, 37.5)...)); len(got) != 0 {
		t.Errorf("37.5 after ten 28s: anomalies = %q, want none", brief(got))
	}
	got := domain.DetectAnomalies(series("v-101", "temperature_c", then(base, 38.5)...))
	if len(got) != 1 || got[0].Mean != 28 || got[0].Deviation != 10.5 || got[0].Severity != "medium" {
		t.Errorf("38.5 after ten 28s: anomalies = %+v, want one medium, mean 28, deviation 10.5", got)
	}
}

func TestDetectAnomaliesKeepsDevicesAndMetricsApart(t *testing.T) {
	// Two valves interleaved, each steady at its own flow; mixed together
	// every value would be 33 % off their common mean.
	var samples []domain.Sample
	for i := range 6 {
		samples = append(samples,
			domain.Sample{Device: "v-101", At: sec(2 * i), Values: map[string]float64{"flow_rate_lpm": 1000}},
			domain.Sample{Device: "v-102", At: sec(2*i + 1), Values: map[string]float64{"flow_rate_lpm": 2000}},
		)
	}
	if got := domain.DetectAnomalies(samples); len(got) != 0 {
		t.Errorf("two steady valves: anomalies = %q, want none", brief(got))
	}

	// One valve reporting temperature and pressure in the same messages:
	// each metric has its own history, and a message without a metric
	// adds nothing to that metric's.
	samples = nil
	for i := range 4 {
		samples = append(samples, domain.Sample{Device: "v-101", At: sec(i), Values: map[string]float64{"temperature_c": 40, "pressure_pa": 2e6}})
	}
	samples = append(samples,
		domain.Sample{Device: "v-101", At: sec(4), Values: map[string]float64{"temperature_c": 70}},
		domain.Sample{Device: "v-101", At: sec(5), Values: map[string]float64{"temperature_c": 40, "pressure_pa": 2.15e6}},
	)
	got := brief(domain.DetectAnomalies(samples))
	want := []string{"v-101 pressure_pa #5 medium", "v-101 temperature_c #4 high"}
	if !slices.Equal(got, want) {
		t.Errorf("anomalies = %q, want %q", got, want)
	}
}

func TestDetectAnomaliesTakesSamplesInAnyOrderAndAnswersNewestFirst(t *testing.T) {
	samples := slices.Concat(
		series("v-101", "flow_rate_lpm", 1000, 1000, 1000, 1400, 1000, 1000, 1000, 2000),
		series("v-102", "temperature_c", 40, 40, 40, 40, 40, 55),
	)
	want := []string{"v-101 flow_rate_lpm #7 high", "v-102 temperature_c #5 medium", "v-101 flow_rate_lpm #3 medium"}
	if got := brief(domain.DetectAnomalies(samples)); !slices.Equal(got, want) {
		t.Errorf("in time order: anomalies = %q, want %q", got, want)
	}
	slices.Reverse(samples) // as the store lists readings: newest first
	if got := brief(domain.DetectAnomalies(samples)); !slices.Equal(got, want) {
		t.Errorf("newest first: anomalies = %q, want %q", got, want)
	}
	if got := domain.DetectAnomalies(nil); len(got) != 0 {
		t.Errorf("no samples: anomalies = %+v", got)
	}
}

func TestFlowHealth(t *testing.T) {
	anomalies := func(medium, high int) []domain.Anomaly {
		var as []domain.Anomaly
		for range medium {
			as = append(as, domain.Anomaly{Severity: domain.AnomalyMedium})
		}
		for range high {
			as = append(as, domain.Anomaly{Severity: domain.AnomalyHigh})
		}
		return as
	}
	tests := []struct {
		name   string
		recent []domain.Anomaly
		want   int
	}{
		{"no anomalies is 100", nil, 100},
		{"a medium anomaly costs 5", anomalies(1, 0), 95},
		{"a high anomaly costs 10", anomalies(0, 1), 90},
		{"costs add up", anomalies(3, 2), 65},
		{"twenty medium reach exactly 0", anomalies(20, 0), 0},
		{"ten high reach exactly 0", anomalies(0, 10), 0},
		{"more stay at 0", anomalies(30, 30), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.FlowHealth(tt.recent); got != tt.want {
				t.Errorf("FlowHealth = %d, want %d", got, tt.want)
			}
		})
	}
}

// The score from counts is FlowHealth's rule: anomalies of another
// severity count in the total and cost nothing, and counts far past the
// floor stay at 0.
func TestFlowHealthOfCountsIsFlowHealthOfTheAnomaliesCounted(t *testing.T) {
	anomalies := func(severities ...string) []domain.Anomaly {
		var as []domain.Anomaly
		for _, s := range severities {
			as = append(as, domain.Anomaly{Severity: s})
		}
		return as
	}
	tests := []struct {
		name   string
		recent []domain.Anomaly
		counts domain.AnomalyCounts
		want   int
	}{
		{"none", nil, domain.AnomalyCounts{}, 100},
		{"one medium", anomalies("medium"), domain.AnomalyCounts{Total: 1, Medium: 1}, 95},
		{"one high", anomalies("high"), domain.AnomalyCounts{Total: 1, High: 1}, 90},
		{"mixed", anomalies("high", "medium", "medium", "high", "medium"), domain.AnomalyCounts{Total: 5, Medium: 3, High: 2}, 65},
		{"another severity counts, costs nothing", anomalies("low", "medium"), domain.AnomalyCounts{Total: 2, Medium: 1}, 95},
		{"exactly 0", anomalies("high", "high", "high", "high", "high", "medium", "medium", "medium", "medium", "medium", "medium", "medium", "medium", "medium", "medium"), domain.AnomalyCounts{Total: 15, Medium: 10, High: 5}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.CountAnomalies(tt.recent); got != tt.counts {
				t.Errorf("CountAnomalies = %+v, want %+v", got, tt.counts)
			}
			if got := domain.FlowHealthOfCounts(tt.counts); got != tt.want {
				t.Errorf("FlowHealthOfCounts(%+v) = %d, want %d", tt.counts, got, tt.want)
			}
			if got := domain.FlowHealth(tt.recent); got != tt.want {
				t.Errorf("FlowHealth = %d, want %d", got, tt.want)
			}
		})
	}
	for _, c := range []domain.AnomalyCounts{
		{Medium: 21}, {High: 11}, {Medium: math.MaxInt / 2, High: math.MaxInt / 2},
	} {
		if got := domain.FlowHealthOfCounts(c); got != 0 {
			t.Errorf("FlowHealthOfCounts(%+v) = %d, want 0", c, got)
		}
	}
	if got := (domain.AnomalyCounts{Total: 3, Medium: 1, High: 2}).Add(domain.AnomalyCounts{Total: 2, Medium: 2}); got != (domain.AnomalyCounts{Total: 5, Medium: 3, High: 2}) {
		t.Errorf("Add = %+v", got)
	}
}
