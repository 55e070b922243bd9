package domain

import "time"

// MetricStat summarises readings of one metric.
type MetricStat struct {
	Count int     `json:"count"`
	Sum   float64 `json:"sum"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
}

// Add folds v in.
func (m MetricStat) Add(v float64) MetricStat {
	if m.Count == 0 || v < m.Min {
		m.Min = v
	}
	if m.Count == 0 || v > m.Max {
		m.Max = v
	}
	m.Count++
	m.Sum += v
	return m
}

// Merge folds o in.
func (m MetricStat) Merge(o MetricStat) MetricStat {
	switch {
	case o.Count == 0:
		return m
	case m.Count == 0:
		return o
	}
	return MetricStat{Count: m.Count + o.Count, Sum: m.Sum + o.Sum, Min: min(m.Min, o.Min), Max: max(m.Max, o.Max)}
}

// CurrentFlow is a valve device's newest value of each metric and when it
// was read.
type CurrentFlow struct {
	Device string               `json:"device"`
	Asset  string               `json:"asset"`
	At     time.Time            `json:"at"` // the newest reading
	Values map[string]float64   `json:"values"`
	Times  map[string]time.Time `json:"times"`
}
