package domain_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

func TestARollupSumsEachMetricOfItsHour(t *testing.T) {
	hour := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return hour.Add(d) }
	r := domain.NewRollup("v-1", at(17*time.Minute), []domain.Reading{
		{At: at(time.Minute), Values: map[string]float64{"flow_rate_lpm": 4, "temperature_c": 20}},
		{At: at(30 * time.Minute), Values: map[string]float64{"flow_rate_lpm": 2}},
		{At: at(59 * time.Minute), Values: map[string]float64{"flow_rate_lpm": 6}},
	})
	want := domain.Rollup{Device: "v-1", Hour: hour, Metrics: map[string]domain.HourStat{
		"flow_rate_lpm": {MetricStat: domain.MetricStat{Count: 3, Sum: 12, Min: 2, Max: 6}, Last: 6, LastAt: at(59 * time.Minute)},
		"temperature_c": {MetricStat: domain.MetricStat{Count: 1, Sum: 20, Min: 20, Max: 20}, Last: 20, LastAt: at(time.Minute)},
	}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("roll-up = %+v, want %+v", r, want)
	}
}

// A series of whole hours gets the same steps from the hours' roll-ups as
// from their readings.
func TestASeriesOfWholeHoursFoldsRollupsAsTheirReadings(t *testing.T) {
	from := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	var readings []domain.Reading
	for i, v := range []float64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5} {
		at := from.Add(time.Duration(i) * 37 * time.Minute) // hours 0 to 6
		readings = append(readings, domain.Reading{At: at, Values: map[string]float64{"kpa": v}})
	}
	for _, tt := range []struct {
		name  string
		step  time.Duration
		steps int
	}{
		{"hourly", time.Hour, 7},
		{"two hours", 2 * time.Hour, 4},
		{"one step", 6 * time.Hour, 1}, // the reading at 6h10m: in the last step
	} {
		t.Run(tt.name, func(t *testing.T) {
			byReading := domain.NewSeries(from, tt.step, tt.steps)
			for _, r := range readings {
				byReading.Add(r.At, r.Values["kpa"])
			}
			byHour := domain.NewSeries(from, tt.step, tt.steps)
			hours := map[time.Time][]domain.Reading{}
			for _, r := range readings {
				hours[r.At.Truncate(time.Hour)] = append(hours[r.At.Truncate(time.Hour)], r)
			}
			for h := from; h.Before(from.Add(8 * time.Hour)); h = h.Add(time.Hour) {
				byHour.AddHour(domain.NewRollup("v-1", h, hours[h]), "kpa")
				byHour.AddHour(domain.NewRollup("v-1", h, hours[h]), "temperature_c") // not in the roll-up: nothing
			}
			if got, want := byHour.Points(), byReading.Points(); !reflect.DeepEqual(got, want) {
				t.Errorf("by hour = %s, by reading = %s", pointsText(got), pointsText(want))
			}
		})
	}
}

func pointsText(ps []domain.SeriesPoint) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s n=%d", p.At.Format("15:04"), p.Count)
		if p.Count > 0 {
			fmt.Fprintf(&b, " min=%g max=%g avg=%g last=%g", *p.Min, *p.Max, *p.Avg, *p.Last)
		}
		b.WriteString("; ")
	}
	return b.String()
}
