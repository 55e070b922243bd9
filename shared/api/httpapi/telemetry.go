package httpapi

import (
	"cmp"
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

// The flow routes analyse the last hour of every device's readings.
const (
	flowWindow = time.Hour
	// flowMaxReadings bounds what one request reads of that hour: the
	// newest 5000 readings (beyond 83 messages a minute, the oldest of the
	// hour are left out), so a busy hour cannot exhaust a function's
	// memory or time.
	flowMaxReadings = 5000
	flowPageSize    = 1000
	// flowHistoryPoints: /flow/metrics charts the newest 200 flow readings.
	flowHistoryPoints = 200
	// flowRecentAnomalies: /flow/health shows the newest ten anomalies.
	flowRecentAnomalies = 10
)

// lastHour reads the flow window's readings, newest first.
func (a *API) lastHour(ctx context.Context) ([]domain.Reading, error) {
	now := a.cfg.Now()
	var out []domain.Reading
	cursor := ""
	for {
		rs, next, err := a.cfg.Store.Readings(ctx, "", now.Add(-flowWindow), now,
			domain.Page{Limit: min(flowPageSize, flowMaxReadings-len(out)), Cursor: cursor})
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
		if next == "" || len(out) >= flowMaxReadings {
			break
		}
		cursor = next
	}
	slices.SortStableFunc(out, func(a, b domain.Reading) int { return b.At.Compare(a.At) })
	return out, nil
}

func samples(readings []domain.Reading) []domain.Sample {
	out := make([]domain.Sample, len(readings))
	for i, r := range readings {
		out[i] = domain.Sample{Device: r.Device, At: r.At, Values: r.Values}
	}
	return out
}

// currentFlow is a valve device's latest readings of the last hour, each
// the newest of its metric; At is when the device last reported.
type currentFlow struct {
	FlowRateLpm  *float64  `json:"flow_rate_lpm"`
	PressurePa   *float64  `json:"pressure_pa"`
	TemperatureC *float64  `json:"temperature_c"`
	At           time.Time `json:"at"`
}

// current is the latest readings of each device of a valve, by device id,
// from readings newest first.
func (a *API) current(ctx context.Context, readings []domain.Reading) (map[string]currentFlow, error) {
	valves, err := a.cfg.Store.Valves(ctx)
	if err != nil {
		return nil, err
	}
	isValve := make(map[string]bool, len(valves))
	for _, v := range valves {
		isValve[v.ID] = true
	}
	out := map[string]currentFlow{}
	for _, r := range readings {
		if !isValve[r.Asset] {
			continue
		}
		c, seen := out[r.Device]
		if !seen {
			c.At = r.At
		}
		newest(&c.FlowRateLpm, r.Values, domain.MetricFlowRate)
		newest(&c.PressurePa, r.Values, domain.MetricPressure)
		newest(&c.TemperatureC, r.Values, domain.MetricTemperature)
		out[r.Device] = c
	}
	return out, nil
}

// newest sets *field to the metric's value unless a newer reading already
// has.
func newest(field **float64, values map[string]float64, metric string) {
	if v, ok := values[metric]; ok && *field == nil {
		*field = &v
	}
}

// flowPoint is one point of /flow/metrics's history.
type flowPoint struct {
	Device      string    `json:"device"`
	At          time.Time `json:"at"`
	FlowRateLpm float64   `json:"flow_rate_lpm"`
}

// metricStats summarises a metric's readings; without readings, count is 0
// and the others null.
type metricStats struct {
	Count int      `json:"count"`
	Mean  *float64 `json:"mean"`
	Min   *float64 `json:"min"`
	Max   *float64 `json:"max"`
}

func stats(readings []domain.Reading) map[string]metricStats {
	out := make(map[string]metricStats, len(domain.Metrics))
	for _, metric := range domain.Metrics {
		var s metricStats
		sum, lo, hi := 0.0, 0.0, 0.0
		for _, r := range readings {
			v, ok := r.Values[metric]
			if !ok {
				continue
			}
			if s.Count == 0 || v < lo {
				lo = v
			}
			if s.Count == 0 || v > hi {
				hi = v
			}
			sum += v
			s.Count++
		}
		if s.Count > 0 {
			mean := sum / float64(s.Count)
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
	readings, err := a.lastHour(r.Context())
	if err != nil {
		return nil, err
	}
	current, err := a.current(r.Context(), readings)
	if err != nil {
		return nil, err
	}
	history := []flowPoint{}
	for _, rd := range readings {
		if len(history) == flowHistoryPoints {
			break
		}
		if v, ok := rd.Values[domain.MetricFlowRate]; ok {
			history = append(history, flowPoint{Device: rd.Device, At: rd.At, FlowRateLpm: v})
		}
	}
	slices.Reverse(history)
	return flowMetricsReport{
		Current: current,
		History: history,
		Stats:   stats(readings),
	}, nil
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
	readings, err := a.lastHour(r.Context())
	if err != nil {
		return nil, err
	}
	all := domain.DetectAnomalies(samples(readings))
	// The listing is ordered by what an id holds: its time to the
	// millisecond, newest first, then the id itself. It goes on after the
	// cursor's place.
	slices.SortStableFunc(all, func(a, b domain.Anomaly) int {
		return cmp.Or(cmp.Compare(b.At.UnixMilli(), a.At.UnixMilli()), cmp.Compare(a.ID, b.ID))
	})
	if p.Cursor != "" {
		i := slices.IndexFunc(all, func(an domain.Anomaly) bool {
			return cmp.Or(cmp.Compare(afterAt.UnixMilli(), an.At.UnixMilli()), cmp.Compare(an.ID, afterID)) > 0
		})
		if i < 0 {
			i = len(all)
		}
		all = all[i:]
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

func (a *API) flowHealth(r *http.Request) (any, error) {
	readings, err := a.lastHour(r.Context())
	if err != nil {
		return nil, err
	}
	current, err := a.current(r.Context(), readings)
	if err != nil {
		return nil, err
	}
	anomalies := domain.DetectAnomalies(samples(readings))
	return flowHealthReport{
		CurrentMetrics:  current,
		HealthScore:     domain.FlowHealth(anomalies),
		AnomalyCount:    len(anomalies),
		RecentAnomalies: nonNil(anomalies[:min(len(anomalies), flowRecentAnomalies)]),
	}, nil
}
