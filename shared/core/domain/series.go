package domain

import "time"

// Series sums a metric's readings into equal steps from a start: step i
// holds the readings from From + i×Step up to the next step's start, and
// the last step also those at its end. It is GET /telemetry/series' read
// model; the handler only parses the query and writes the answer.
type Series struct {
	From  time.Time
	Step  time.Duration
	steps []seriesStep
}

type seriesStep struct {
	stat MetricStat
	last float64
}

// SeriesPoint is one step of a series. Without readings, Count is 0 and
// the values nil.
type SeriesPoint struct {
	At                  time.Time
	Count               int
	Min, Max, Avg, Last *float64
}

// NewSeries returns an empty series of n steps.
func NewSeries(from time.Time, step time.Duration, n int) *Series {
	return &Series{From: from, Step: step, steps: make([]seriesStep, n)}
}

// Add counts a reading at at. Readings are added oldest first, so the
// last one added to a step is its last value; one before From is left out.
func (s *Series) Add(at time.Time, v float64) {
	if at.Before(s.From) || len(s.steps) == 0 {
		return
	}
	i := min(int(at.Sub(s.From)/s.Step), len(s.steps)-1)
	s.steps[i].stat = s.steps[i].stat.Add(v)
	s.steps[i].last = v
}

// Points returns the steps, each with its figures.
func (s *Series) Points() []SeriesPoint {
	out := make([]SeriesPoint, len(s.steps))
	for i, st := range s.steps {
		p := SeriesPoint{At: s.From.Add(time.Duration(i) * s.Step), Count: st.stat.Count}
		if st.stat.Count > 0 {
			lo, hi, avg, last := st.stat.Min, st.stat.Max, st.stat.Sum/float64(st.stat.Count), st.last
			p.Min, p.Max, p.Avg, p.Last = &lo, &hi, &avg, &last
		}
		out[i] = p
	}
	return out
}
