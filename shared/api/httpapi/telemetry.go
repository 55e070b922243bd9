package httpapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// GET /telemetry reads the last day unless from and to say otherwise, and
// never more than a month at once.
const (
	telemetryDefaultRange = 24 * time.Hour
	telemetryMaxRange     = 31 * 24 * time.Hour
	// telemetryMaxPages bounds the store pages one request reads while it
	// collects readings that have the metric asked for: a rare metric
	// answers a short (even empty) page whose cursor continues the search.
	telemetryMaxPages = 20
)

// telemetryQuery is GET /telemetry's query.
type telemetryQuery struct {
	device   string
	metric   string
	from, to time.Time
	limit    int
	cursor   string // the store's cursor, taken out of the client's
}

// telemetryCursor is GET /telemetry's cursor: the store's, with the range
// it was read over. A listing keeps its range from page to page, so that
// the default range, which moves with the clock, does not move under a
// client paging back (DynamoDB refuses a start key outside the range).
type telemetryCursor struct {
	Store string `json:"c"`
	From  int64  `json:"f"` // Unix milliseconds
	To    int64  `json:"t"`
}

func encodeTelemetryCursor(c telemetryCursor) string {
	s, _ := domain.EncodeCursor(c) // a struct of strings and integers always marshals
	return s
}

// decodeTelemetryCursor reads a cursor of encodeTelemetryCursor's. It holds
// the store's cursor, so it may be up to twice as long as one.
func decodeTelemetryCursor(s string) (telemetryCursor, error) {
	var c telemetryCursor
	if err := domain.DecodeCursor(s, 2*domain.MaxCursorLen, &c); err != nil {
		return c, err
	}
	if c.Store == "" {
		return c, fmt.Errorf("%w: malformed", domain.ErrBadCursor)
	}
	return c, nil
}

// parseTime reads an RFC 3339 time parameter.
func parseTime(q url.Values, name string) (time.Time, bool, error) {
	v, ok := q[name]
	if !ok {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339, v[0])
	if err != nil {
		msg := name + " must be an RFC 3339 time, such as 2025-06-01T12:00:00Z"
		if strings.Contains(v[0], " ") {
			msg += " (a + in a query string must be written %2B)"
		}
		return time.Time{}, false, badRequest(msg)
	}
	return t, true, nil
}

func (a *API) parseTelemetryQuery(r *http.Request) (telemetryQuery, error) {
	var t telemetryQuery
	q, err := query(r, "device", "metric", "from", "to", "limit", "cursor")
	if err != nil {
		return t, err
	}
	p, err := page(q)
	if err != nil {
		return t, err
	}
	t.limit = p.Limit
	if d, ok := q["device"]; ok {
		if !domain.ValidID(d[0]) {
			return t, badRequest("device must be an id: letters, digits, - and _, 1 to 64 characters")
		}
		t.device = d[0]
	}
	if m, ok := q["metric"]; ok {
		if !slices.Contains(domain.Metrics, m[0]) {
			return t, badRequest(fmt.Sprintf("metric must be one of %s", strings.Join(domain.Metrics, ", ")))
		}
		t.metric = m[0]
		if t.device == "" {
			// Readings are kept by device and time: no key selects a
			// metric across devices, and filtering every device's
			// readings would read them all.
			return t, badRequest("metric needs device: add device=<id> (readings are kept by device and time)")
		}
	}
	from, hasFrom, err := parseTime(q, "from")
	if err != nil {
		return t, err
	}
	to, hasTo, err := parseTime(q, "to")
	if err != nil {
		return t, err
	}
	if !hasTo {
		to = a.cfg.Now()
	}
	if !hasFrom {
		from = to.Add(-telemetryDefaultRange)
	}
	if p.Cursor != "" {
		c, err := decodeTelemetryCursor(p.Cursor)
		if err != nil {
			return t, err
		}
		cf, ct := time.UnixMilli(c.From).UTC(), time.UnixMilli(c.To).UTC()
		if hasFrom && from.UnixMilli() != c.From || hasTo && to.UnixMilli() != c.To {
			return t, badRequest("from and to must stay those of the listing the cursor continues")
		}
		from, to, t.cursor = cf, ct, c.Store
	}
	if from.After(to) {
		return t, badRequest("from must not be after to")
	}
	if to.Sub(from) > telemetryMaxRange {
		return t, badRequest("from and to may be at most 31 days apart")
	}
	t.from, t.to = from, to
	return t, nil
}

// keep is the reading as the listing shows it, and whether it shows it:
// with a metric asked for, only readings that have it, with it alone.
func (t telemetryQuery) keep(r domain.Reading) (domain.Reading, bool) {
	if t.metric == "" {
		return r, true
	}
	v, ok := r.Values[t.metric]
	if !ok {
		return r, false
	}
	r.Values = map[string]float64{t.metric: v}
	return r, true
}

// telemetry lists readings newest first. The metric filter is applied here,
// page after page of the store, rather than as a DynamoDB filter: with
// Limit, a FilterExpression answers short pages, as many as it takes.
// Each store page asks for no more than the items still missing, so the
// cursor of the last page read continues exactly after the last item.
func (a *API) telemetry(r *http.Request) (any, error) {
	t, err := a.parseTelemetryQuery(r)
	if err != nil {
		return nil, err
	}
	var items []domain.Reading
	cursor := t.cursor
	for range telemetryMaxPages {
		rs, next, err := a.cfg.Store.Readings(r.Context(), t.device, t.from, t.to, domain.Page{Limit: t.limit - len(items), Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, rd := range rs {
			if v, ok := t.keep(rd); ok {
				items = append(items, v)
			}
		}
		cursor = next
		if cursor == "" || len(items) == t.limit {
			break
		}
	}
	next := ""
	if cursor != "" {
		next = encodeTelemetryCursor(telemetryCursor{Store: cursor, From: t.from.UnixMilli(), To: t.to.UnixMilli()})
	}
	return newListing(items, next), nil
}

// The flow routes answer from the aggregates ingestion keeps as readings
// arrive (docs/data-model.md, "Readings"), over the last hour.
const (
	flowWindow = time.Hour
	// flowMaxReadings bounds what /flow/metrics reads of the hour's
	// readings for its history: the newest 5000 (a fleet whose newest 5000
	// readings hold fewer than 200 flow readings charts fewer).
	flowMaxReadings = 5000
	flowPageSize    = 200
	// flowHistoryPoints: /flow/metrics charts the newest 200 flow readings.
	flowHistoryPoints = 200
	// flowRecentAnomalies: /flow/health shows the newest ten anomalies.
	flowRecentAnomalies = 10
)

// currentFlow is a valve device's latest readings of the last hour, each
// the newest of its metric; At is when the device last reported.
type currentFlow struct {
	FlowRateLpm  *float64  `json:"flow_rate_lpm"`
	PressurePa   *float64  `json:"pressure_pa"`
	TemperatureC *float64  `json:"temperature_c"`
	At           time.Time `json:"at"`
}

// current is the latest readings of each valve device of the last hour, by
// device id.
func (a *API) current(ctx context.Context) (map[string]currentFlow, error) {
	since := a.cfg.Now().Add(-flowWindow)
	devices, err := a.cfg.Store.FlowCurrent(ctx, since)
	if err != nil {
		return nil, err
	}
	out := make(map[string]currentFlow, len(devices))
	for _, d := range devices {
		c := currentFlow{At: d.At}
		value := func(metric string) *float64 {
			v, ok := d.Values[metric]
			if !ok || d.Times[metric].Before(since) {
				return nil
			}
			return &v
		}
		c.FlowRateLpm, c.PressurePa, c.TemperatureC = value(domain.MetricFlowRate), value(domain.MetricPressure), value(domain.MetricTemperature)
		out[d.Device] = c
	}
	return out, nil
}

// flowPoint is one point of /flow/metrics's history.
type flowPoint struct {
	Device      string    `json:"device"`
	At          time.Time `json:"at"`
	FlowRateLpm float64   `json:"flow_rate_lpm"`
}

// history is the newest flowHistoryPoints flow readings of the hour,
// oldest first, from at most flowMaxReadings readings.
func (a *API) history(ctx context.Context) ([]flowPoint, error) {
	now := a.cfg.Now()
	out := []flowPoint{}
	cursor := ""
	for read := 0; read < flowMaxReadings && len(out) < flowHistoryPoints; {
		rs, next, err := a.cfg.Store.Readings(ctx, "", now.Add(-flowWindow), now,
			domain.Page{Limit: min(flowPageSize, flowMaxReadings-read), Cursor: cursor})
		if err != nil {
			return nil, err
		}
		read += len(rs)
		for _, r := range rs {
			if v, ok := r.Values[domain.MetricFlowRate]; ok && len(out) < flowHistoryPoints {
				out = append(out, flowPoint{Device: r.Device, At: r.At, FlowRateLpm: v})
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Reverse(out)
	return out, nil
}

// metricStats summarises a metric's readings; without readings, count is 0
// and the others null.
type metricStats struct {
	Count int      `json:"count"`
	Mean  *float64 `json:"mean"`
	Min   *float64 `json:"min"`
	Max   *float64 `json:"max"`
}

func stats(all map[string]domain.MetricStat) map[string]metricStats {
	out := make(map[string]metricStats, len(domain.Metrics))
	for _, metric := range domain.Metrics {
		st := all[metric]
		s := metricStats{Count: st.Count}
		if st.Count > 0 {
			mean, lo, hi := st.Sum/float64(st.Count), st.Min, st.Max
			s.Mean, s.Min, s.Max = &mean, &lo, &hi
		}
		out[metric] = s
	}
	return out
}

// flowMetricsReport is GET /flow/metrics.
type flowMetricsReport struct {
	Current map[string]currentFlow `json:"current"`
	History []flowPoint            `json:"history"`
	Stats   map[string]metricStats `json:"stats"`
}

func (a *API) flowMetrics(r *http.Request) (any, error) {
	now := a.cfg.Now()
	current, err := a.current(r.Context())
	if err != nil {
		return nil, err
	}
	history, err := a.history(r.Context())
	if err != nil {
		return nil, err
	}
	st, err := a.cfg.Store.FlowStats(r.Context(), now.Add(-flowWindow), now)
	if err != nil {
		return nil, err
	}
	return flowMetricsReport{Current: current, History: history, Stats: stats(st)}, nil
}

// anomalyCursor is /flow/anomalies's cursor: the last anomaly shown.
func anomalyCursor(a domain.Anomaly) string {
	return base64.RawURLEncoding.EncodeToString([]byte(a.ID))
}

// anomalyPosition reads a cursor back into the place of its anomaly in the
// order of the listing: its time and id. The anomaly itself may have left
// the window since; the listing goes on after where it was.
func anomalyPosition(cursor string) (time.Time, string, error) {
	bad := fmt.Errorf("%w: not an anomaly of this listing", domain.ErrBadCursor)
	b, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	if err != nil {
		return time.Time{}, "", bad
	}
	id := string(b)
	rest, ms, ok := cutLast(id, "-")
	if !ok {
		return time.Time{}, "", bad
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, "", bad
	}
	device, metric, ok := cutLast(rest, "-")
	if !ok || !domain.ValidID(device) || !slices.Contains(domain.Metrics, metric) {
		return time.Time{}, "", bad
	}
	at := time.UnixMilli(n).UTC()
	if domain.AnomalyID(device, metric, at) != id { // one spelling per id: no "01"
		return time.Time{}, "", bad
	}
	return at, id, nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// flowAnomalies lists the anomalies ingestion found in the last hour's
// readings: newest reading first, then by id, after the cursor's place.
func (a *API) flowAnomalies(r *http.Request) (any, error) {
	p, err := listingParams(r)
	if err != nil {
		return nil, err
	}
	var afterAt time.Time
	var afterID string
	if p.Cursor != "" {
		if afterAt, afterID, err = anomalyPosition(p.Cursor); err != nil {
			return nil, err
		}
	}
	now := a.cfg.Now()
	all, err := a.cfg.Store.Anomalies(r.Context(), now.Add(-flowWindow), now, afterAt, afterID, p.Limit+1)
	if err != nil {
		return nil, err
	}
	if len(all) <= p.Limit {
		return newListing(all, ""), nil
	}
	items := all[:p.Limit]
	return newListing(items, anomalyCursor(items[len(items)-1])), nil
}

// flowHealthReport is GET /flow/health.
type flowHealthReport struct {
	AnomalyCount    int                    `json:"anomaly_count"`
	CurrentMetrics  map[string]currentFlow `json:"current_metrics"`
	HealthScore     int                    `json:"health_score"`
	RecentAnomalies []domain.Anomaly       `json:"recent_anomalies"`
}

// flowHealth counts and scores the anomalies of the last hour from the
// per-minute counts ingestion keeps as it records them, and lists the
// newest few: it reads a bounded number of small items however many
// anomalies the hour has. The window is whole minutes, as the counts are:
// from the start of the minute an hour ago to now (the current minute's
// count also holds any anomaly of a reading stamped later in that minute,
// which the list, up to now, leaves out).
func (a *API) flowHealth(r *http.Request) (any, error) {
	now := a.cfg.Now()
	from := now.Add(-flowWindow).Truncate(time.Minute)
	current, err := a.current(r.Context())
	if err != nil {
		return nil, err
	}
	counts, err := a.cfg.Store.AnomalyCounts(r.Context(), from, now)
	if err != nil {
		return nil, err
	}
	recent, err := a.cfg.Store.Anomalies(r.Context(), from, now, time.Time{}, "", flowRecentAnomalies)
	if err != nil {
		return nil, err
	}
	return flowHealthReport{
		CurrentMetrics:  current,
		HealthScore:     domain.FlowHealthOfCounts(counts),
		AnomalyCount:    counts.Total,
		RecentAnomalies: nonNil(recent),
	}, nil
}
