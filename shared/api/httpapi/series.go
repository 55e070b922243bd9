package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// GET /telemetry/series folds a device's readings of one metric into
// steps: windows of up to 30 days, at most 1,000 steps. A finer step is
// refused, not coarsened: a client that asked for 1-minute steps and got
// 43-minute ones would chart them wrongly without noticing.
const (
	seriesMaxRange  = 30 * 24 * time.Hour
	seriesMaxPoints = 1000
	seriesMinStep   = time.Second
	// Over seriesRollupRange a series is read from the devices' hourly
	// roll-ups (domain.Rollup), so its steps are whole hours from an hour.
	seriesRollupRange = 24 * time.Hour
)

// seriesPoint is one step: the readings from At (inclusive) to the next
// step's start. Without readings, count is 0 and the values null.
type seriesPoint struct {
	At    time.Time `json:"at"`
	Count int       `json:"count"`
	Min   *float64  `json:"min"`
	Max   *float64  `json:"max"`
	Avg   *float64  `json:"avg"`
	Last  *float64  `json:"last"` // the value of the step's newest reading
}

// seriesReport is GET /telemetry/series.
type seriesReport struct {
	Device string        `json:"device"`
	Metric string        `json:"metric"`
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
	Step   string        `json:"step"` // a Go duration, such as 5m0s
	Points []seriesPoint `json:"points"`
}

type seriesQuery struct {
	device, metric string
	from, to       time.Time
	step           time.Duration
	points         int
	byHour         bool // over seriesRollupRange: whole-hour steps from an hour, read by hour
}

func (a *API) parseSeriesQuery(r *http.Request) (seriesQuery, error) {
	var s seriesQuery
	q, err := query(r, "device", "metric", "from", "to", "step")
	if err != nil {
		return s, err
	}
	for _, name := range []string{"device", "metric", "step"} {
		if _, ok := q[name]; !ok {
			return s, badRequest(name + " is required")
		}
	}
	if s.device = q["device"][0]; !domain.ValidID(s.device) {
		return s, badRequest("device must be an id: letters, digits, - and _, 1 to 64 characters")
	}
	if s.metric = q["metric"][0]; !slices.Contains(domain.Metrics, s.metric) {
		return s, badRequest(fmt.Sprintf("metric must be one of %s", strings.Join(domain.Metrics, ", ")))
	}
	from, hasFrom, err := parseTime(q, "from")
	if err != nil {
		return s, err
	}
	to, hasTo, err := parseTime(q, "to")
	if err != nil {
		return s, err
	}
	if !hasTo {
		to = a.cfg.Now()
	}
	if !hasFrom {
		from = to.Add(-telemetryDefaultRange)
	}
	if from.After(to) {
		return s, badRequest("from must not be after to")
	}
	if to.Sub(from) > seriesMaxRange {
		return s, badRequest("from and to may be at most 30 days apart")
	}
	step, err := time.ParseDuration(q["step"][0])
	if err != nil || step < seriesMinStep || step%time.Millisecond != 0 {
		return s, badRequest("step must be a duration of at least 1s, such as 30s, 5m or 1h")
	}
	if s.byHour = to.Sub(from) > seriesRollupRange; s.byHour {
		if step%time.Hour != 0 {
			return s, badRequest("over a day, step must be whole hours, such as 1h or 6h")
		}
		from = from.UTC().Truncate(time.Hour)
	}
	window := to.Sub(from)
	points := max(1, int((window+step-1)/step))
	if points > seriesMaxPoints {
		finest := (window + seriesMaxPoints - 1) / seriesMaxPoints
		finest = (finest + time.Second - 1).Truncate(time.Second)
		return s, badRequest(fmt.Sprintf("step %s makes %d points over this window, more than %d: use a step of at least %s",
			step, points, seriesMaxPoints, finest))
	}
	s.from, s.to, s.step, s.points = from.UTC(), to.UTC(), step, points
	return s, nil
}

// series answers the steps of a device's metric (domain.Series).
func (a *API) series(r *http.Request) (any, error) {
	q, err := a.parseSeriesQuery(r)
	if err != nil {
		return nil, err
	}
	series := domain.NewSeries(q.from, q.step, q.points)
	if q.byHour {
		err = a.seriesByHour(r.Context(), q, series)
	} else {
		err = a.cfg.Store.EachReading(r.Context(), q.device, q.from, q.to, func(rd domain.Reading) error {
			if v, ok := rd.Values[q.metric]; ok {
				series.Add(rd.At, v) // readings come oldest first
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	out := seriesReport{Device: q.device, Metric: q.metric, From: q.from, To: q.to, Step: q.step.String()}
	for _, p := range series.Points() {
		out.Points = append(out.Points, seriesPoint{At: p.At, Count: p.Count, Min: p.Min, Max: p.Max, Avg: p.Avg, Last: p.Last})
	}
	return out, nil
}

// seriesByHour folds a long window into series hour by hour: an hour that
// is over uses its roll-up when it has one; the other hours (the current
// one, the one that holds to, any without a roll-up) are read from the
// blocks and folded into roll-ups here, so both give the same figures.
func (a *API) seriesByHour(ctx context.Context, q seriesQuery, series *domain.Series) error {
	rollups, err := a.cfg.Store.Rollups(ctx, q.device, q.from, q.to)
	if err != nil {
		return err
	}
	have := make(map[int64]domain.Rollup, len(rollups)) // by the hour's ms
	for _, r := range rollups {
		have[r.Hour.UnixMilli()] = r
	}
	now := a.cfg.Now()
	// fromBlocks reads the readings from lo to hi (inclusive) into series.
	fromBlocks := func(lo, hi time.Time) error {
		var hour *domain.Rollup
		err := a.cfg.Store.EachReading(ctx, q.device, lo, hi, func(rd domain.Reading) error {
			if h := rd.At.UTC().Truncate(time.Hour); hour == nil || !hour.Hour.Equal(h) {
				if hour != nil {
					series.AddHour(*hour, q.metric)
				}
				r := domain.NewRollup(q.device, h, nil)
				hour = &r
			}
			hour.Add(rd)
			return nil
		})
		if hour != nil {
			series.AddHour(*hour, q.metric)
		}
		return err
	}
	var gap time.Time // the first hour of a run read from the blocks; zero outside one
	for h := q.from; !h.After(q.to); h = h.Add(time.Hour) {
		r, ok := have[h.UnixMilli()]
		if end := h.Add(time.Hour); !ok || end.After(q.to) || end.After(now) {
			if gap.IsZero() {
				gap = h
			}
			continue
		}
		if !gap.IsZero() {
			if err := fromBlocks(gap, h.Add(-time.Millisecond)); err != nil {
				return err
			}
			gap = time.Time{}
		}
		series.AddHour(r, q.metric)
	}
	if !gap.IsZero() {
		return fromBlocks(gap, q.to)
	}
	return nil
}
