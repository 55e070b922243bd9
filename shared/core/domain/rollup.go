package domain

import "time"

// Rollup is a device's readings of one UTC hour, summed per metric: what
// GET /telemetry/series reads for a long window instead of the hour's
// readings (docs/data-model.md, "Hourly roll-ups"). It is always folded
// from all of the hour's stored readings, never incremented, so writing
// it again is harmless.
type Rollup struct {
	Device  string
	Hour    time.Time // the hour's start, UTC
	Metrics map[string]HourStat
}

// HourStat is one metric of a roll-up: its figures and its newest value.
type HourStat struct {
	MetricStat
	Last   float64
	LastAt time.Time
}

// NewRollup folds a device's readings of the hour that holds hour, given
// oldest first (the store's order), into a roll-up.
func NewRollup(device string, hour time.Time, readings []Reading) Rollup {
	r := Rollup{Device: device, Hour: hour.UTC().Truncate(time.Hour), Metrics: map[string]HourStat{}}
	for _, rd := range readings {
		r.Add(rd)
	}
	return r
}

// Add folds a reading in; readings come oldest first, so the last one
// added holds each metric's last value.
func (r *Rollup) Add(rd Reading) {
	for m, v := range rd.Values {
		st := r.Metrics[m]
		st.MetricStat = st.MetricStat.Add(v)
		st.Last, st.LastAt = v, rd.At
		r.Metrics[m] = st
	}
}

// AddHour folds a roll-up's metric into the step that holds its hour.
// Hours are added oldest first, and a step is a whole number of hours
// from an hour, so the step of a series of whole hours gets the same
// figures from an hour's roll-up as from the hour's readings, folded
// hour by hour.
func (s *Series) AddHour(r Rollup, metric string) {
	st, ok := r.Metrics[metric]
	if !ok || st.Count == 0 || r.Hour.Before(s.From) || len(s.steps) == 0 {
		return
	}
	i := min(int(r.Hour.Sub(s.From)/s.Step), len(s.steps)-1)
	s.steps[i].stat = s.steps[i].stat.Merge(st.MetricStat)
	s.steps[i].last = st.Last
}
