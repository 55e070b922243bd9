package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// telemetryAPI is the reads function over a seeded store, with a clock the
// test sets.
type telemetryAPI struct {
	t     *testing.T
	api   *httpapi.API
	store *store.Store
	now   time.Time
}

func newTelemetryAPI(t *testing.T) *telemetryAPI {
	t.Helper()
	ta := &telemetryAPI{t: t, store: dynamotest.Store(t), now: time.Now().UTC().Truncate(time.Second)}
	if err := ta.store.Seed(context.Background()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	ta.api = httpapi.New(httpapi.Config{Routes: []httpapi.Routes{httpapi.ReadRoutes}, Function: routes.FuncReads, Store: ta.store, Now: func() time.Time { return ta.now }})
	return ta
}

// put stores readings as ingestion does, with the aggregates and
// anomalies the flow routes read.
func (ta *telemetryAPI) put(readings ...domain.Reading) {
	ta.t.Helper()
	svc := ingest.New(ta.store, nil, nil, nil, func() time.Time { return ta.now }, nil).WithAnomalies(ta.store)
	if _, err := svc.Record(context.Background(), readings); err != nil {
		ta.t.Fatalf("put readings: %v", err)
	}
}

// reading is one message of device, ago before the test's now.
func (ta *telemetryAPI) reading(device, asset string, ago time.Duration, values map[string]float64) domain.Reading {
	at := ta.now.Add(-ago)
	return domain.Reading{ID: fmt.Sprintf("r%d", at.UnixMilli()), Device: device, Asset: asset, At: at, Values: values}
}

func (ta *telemetryAPI) get(path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	ta.api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// decode reads a 200 answer into v.
func (ta *telemetryAPI) decode(path string, v any) {
	ta.t.Helper()
	rec := ta.get(path)
	if rec.Code != http.StatusOK {
		ta.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		ta.t.Fatalf("GET %s: %v: %s", path, err, rec.Body)
	}
}

type readingsPage struct {
	Items      []domain.Reading `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

// follow lists path to the end, page after page; it fails past max pages.
func (ta *telemetryAPI) follow(path string, max int) (pages []readingsPage) {
	ta.t.Helper()
	cursor := ""
	for range max {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		var page readingsPage
		ta.decode(p, &page)
		pages = append(pages, page)
		if page.NextCursor == nil {
			return pages
		}
		cursor = *page.NextCursor
	}
	ta.t.Fatalf("%s: not at the end after %d pages", path, max)
	return nil
}

func ids(pages ...readingsPage) []string {
	var out []string
	for _, p := range pages {
		for _, r := range p.Items {
			out = append(out, r.ID)
		}
	}
	return out
}

func rfc(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339Nano)) }

func TestTelemetryRefusesBadParametersWithA400(t *testing.T) {
	ta := newTelemetryAPI(t)
	ta.put(ta.reading("v-101", "v-101", time.Minute, map[string]float64{"flow_rate_lpm": 1000}),
		ta.reading("v-102", "v-102", 2*time.Minute, map[string]float64{"flow_rate_lpm": 1000}))
	now := ta.now
	var first readingsPage
	ta.decode("/telemetry?limit=1&from="+rfc(now.Add(-time.Hour))+"&to="+rfc(now), &first)
	if first.NextCursor == nil {
		t.Fatalf("no cursor to continue: %+v", first)
	}
	cursor := url.QueryEscape(*first.NextCursor)
	// forge is the cursor of the first page with its range changed: the
	// range a cursor carries obeys the same limits as from and to.
	forge := func(edit func(c map[string]any)) string {
		b, err := base64.RawURLEncoding.DecodeString(*first.NextCursor)
		var c map[string]any
		if err != nil || json.Unmarshal(b, &c) != nil {
			t.Fatalf("cursor %q is not base64url JSON", *first.NextCursor)
		}
		edit(c)
		b, _ = json.Marshal(c)
		return base64.RawURLEncoding.EncodeToString(b)
	}

	tests := []struct{ name, query string }{
		{"from after to", "from=" + rfc(now) + "&to=" + rfc(now.Add(-time.Millisecond))},
		{"from after the default to, now", "from=" + rfc(now.Add(time.Hour))},
		{"over 31 days", "from=" + rfc(now.Add(-31*24*time.Hour-time.Millisecond)) + "&to=" + rfc(now)},
		{"over 31 days to now", "from=" + rfc(now.Add(-32*24*time.Hour))},
		{"from not a time", "from=yesterday"},
		{"to not a date", "to=2025-13-01T00:00:00Z"},
		{"to without a time of day", "to=2025-06-01"},
		{"an unescaped + is a space", "from=2025-06-01T12:00:00+02:00"},
		{"an unknown metric", "metric=humidity"},
		{"a metric without a device", "metric=flow_rate_lpm"},
		{"a metric in capitals", "metric=FLOW_RATE_LPM"},
		{"an empty metric", "metric="},
		{"a device with a slash", "device=v-101%2Fstatus"},
		{"an empty device", "device="},
		{"a device of 65 characters", "device=" + strings.Repeat("x", 65)},
		{"two devices", "device=v-101&device=v-102"},
		{"limit 0", "limit=0"},
		{"limit 201", "limit=201"},
		{"limit not a number", "limit=ten"},
		{"an empty cursor", "cursor="},
		{"a made-up cursor", "cursor=forged"},
		{"a cursor with a field added", "cursor=" + forge(func(c map[string]any) { c["extra"] = 1 })},
		{"a cursor without the store's", "cursor=" + forge(func(c map[string]any) { c["c"] = "" })},
		{"a cursor of a range backwards", "cursor=" + forge(func(c map[string]any) { c["f"], c["t"] = c["t"], c["f"] })},
		{"a cursor of a range of decades", "cursor=" + forge(func(c map[string]any) { c["f"] = 0 })},
		{"a cursor with another range", "limit=1&cursor=" + cursor + "&from=" + rfc(now.Add(-2*time.Hour))},
		{"a cursor of another device", "limit=1&cursor=" + cursor + "&device=v-102"},
		{"an unknown parameter", "colour=red"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ta.get("/telemetry?" + tt.query)
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code != "bad_request" || e.Error.Message == "" {
				t.Errorf("?%s: %d %s, want 400 bad_request", tt.query, rec.Code, rec.Body)
			}
		})
	}
	// The limits themselves are allowed.
	for _, path := range []string{
		"/telemetry?from=" + rfc(now) + "&to=" + rfc(now),
		"/telemetry?from=" + rfc(now.Add(-31*24*time.Hour)) + "&to=" + rfc(now),
		"/telemetry?from=" + rfc(now.Add(-31*24*time.Hour)),
		"/telemetry?from=2025-06-01T12:00:00%2B02:00&to=2025-06-02T12:00:00.5-03:00",
		"/telemetry?limit=200&metric=kpa&device=A-North",
		"/telemetry?limit=1&cursor=" + cursor + "&from=" + rfc(now.Add(-time.Hour)) + "&to=" + rfc(now),
	} {
		if rec := ta.get(path); rec.Code != http.StatusOK {
			t.Errorf("%s: %d %s, want 200", path, rec.Code, rec.Body)
		}
	}
}

func TestTelemetryListsTheLastDayNewestFirstUnlessFromAndToSayOtherwise(t *testing.T) {
	ta := newTelemetryAPI(t)
	ta.put(
		ta.reading("v-101", "v-101", 25*time.Hour, map[string]float64{"temperature_c": 41}),
		ta.reading("v-101", "v-101", 3*time.Hour, map[string]float64{"temperature_c": 42, "pressure_pa": 2.1e6}),
		ta.reading("A-North", "A-North", 2*time.Hour, map[string]float64{"kpa": 2400}),
		ta.reading("v-102", "v-102", time.Hour, map[string]float64{"flow_rate_lpm": 900}),
		ta.reading("v-101", "v-101", -time.Minute, map[string]float64{"temperature_c": 43}), // after now
	)
	r := func(ago time.Duration) string { return fmt.Sprintf("r%d", ta.now.Add(-ago).UnixMilli()) }

	var all readingsPage
	ta.decode("/telemetry", &all)
	if got, want := ids(all), []string{r(time.Hour), r(2 * time.Hour), r(3 * time.Hour)}; !slices.Equal(got, want) || all.NextCursor != nil {
		t.Errorf("last day = %v (next %v), want %v", got, all.NextCursor, want)
	}
	if it := all.Items[2]; it.Device != "v-101" || it.Asset != "v-101" || !it.At.Equal(ta.now.Add(-3*time.Hour)) || it.Values["pressure_pa"] != 2.1e6 || len(it.Values) != 2 {
		t.Errorf("reading = %+v", it)
	}

	var one readingsPage
	ta.decode("/telemetry?device=v-101&from="+rfc(ta.now.Add(-25*time.Hour))+"&to="+rfc(ta.now.Add(-3*time.Hour)), &one)
	if got, want := ids(one), []string{r(3 * time.Hour), r(25 * time.Hour)}; !slices.Equal(got, want) {
		t.Errorf("v-101 from and to inclusive = %v, want %v", got, want)
	}
	var none readingsPage
	ta.decode("/telemetry?device=v-103", &none)
	if none.Items == nil || len(none.Items) != 0 || none.NextCursor != nil {
		t.Errorf("a device without readings = %+v, want an empty listing", none)
	}
}

func TestTelemetryMetricFilterCollectsFullPagesAcrossStorePages(t *testing.T) {
	ta := newTelemetryAPI(t)
	// Thirty messages of v-101, a minute apart; every third has a flow
	// rate. The gauge and v-102 report in between.
	var want []string
	for i := range 30 {
		ago := time.Duration(i+1) * time.Minute
		values := map[string]float64{"temperature_c": 40, "pressure_pa": 2e6}
		if i%3 == 0 {
			values["flow_rate_lpm"] = float64(1000 + i)
		}
		rd := ta.reading("v-101", "v-101", ago, values)
		if i%3 == 0 {
			want = append(want, rd.ID)
		}
		ta.put(rd,
			ta.reading("A-North", "A-North", ago+10*time.Second, map[string]float64{"kpa": 2400}),
			ta.reading("v-102", "v-102", ago+20*time.Second, map[string]float64{"temperature_c": 45}))
	}
	for _, path := range []string{
		"/telemetry?device=v-101&metric=flow_rate_lpm&limit=4",
	} {
		t.Run(path, func(t *testing.T) {
			pages := ta.follow(path, 5)
			for i, p := range pages[:2] {
				if len(p.Items) != 4 {
					t.Errorf("page %d has %d items, want a full page of 4", i, len(p.Items))
				}
			}
			if got := ids(pages...); !slices.Equal(got, want) {
				t.Errorf("flow readings = %v, want %v (each once, newest first)", got, want)
			}
			for _, p := range pages {
				for _, it := range p.Items {
					if len(it.Values) != 1 || it.Values["flow_rate_lpm"] < 1000 {
						t.Errorf("values = %v, want the flow rate alone", it.Values)
					}
				}
			}
		})
	}
}

func TestTelemetryMetricFilterNeverAnswersMoreThanTheLimitNorSkipsAny(t *testing.T) {
	ta := newTelemetryAPI(t)
	// Ten messages; the newest three have no flow rate. A first page of
	// four readings finds one; the next must ask for three more, not four,
	// or the listing would answer five, or drop one to keep to four.
	var want []string
	for i := range 10 {
		values := map[string]float64{"temperature_c": 40}
		if i >= 3 {
			values["flow_rate_lpm"] = 1000
		}
		rd := ta.reading("v-101", "v-101", time.Duration(i+1)*time.Minute, values)
		ta.put(rd)
		if i >= 3 {
			want = append(want, rd.ID)
		}
	}
	pages := ta.follow("/telemetry?device=v-101&metric=flow_rate_lpm&limit=4", 4)
	for i, p := range pages {
		if len(p.Items) > 4 {
			t.Errorf("page %d has %d items, over the limit of 4", i, len(p.Items))
		}
	}
	if len(pages[0].Items) != 4 {
		t.Errorf("first page has %d items, want a full page of 4", len(pages[0].Items))
	}
	if got := ids(pages...); !slices.Equal(got, want) {
		t.Errorf("flow readings = %v, want %v", got, want)
	}
}

func TestTelemetryReadsABoundedNumberOfStorePagesPerRequest(t *testing.T) {
	ta := newTelemetryAPI(t)
	// Forty-five messages; only the oldest has a torque. With limit=1 each
	// store page is one reading, so one request cannot look at them all:
	// it answers an empty page and a cursor to go on with.
	var readings []domain.Reading
	for i := range 45 {
		values := map[string]float64{"temperature_c": 40}
		if i == 44 {
			values["torque_nm"] = 51.5
		}
		readings = append(readings, ta.reading("v-101", "v-101", time.Duration(i+1)*time.Minute, values))
	}
	ta.put(readings...)
	pages := ta.follow("/telemetry?device=v-101&metric=torque_nm&limit=1", 5)
	if len(pages[0].Items) != 0 {
		t.Errorf("first page = %v, want empty: a request must not read the whole range", ids(pages[0]))
	}
	if got := ids(pages...); !slices.Equal(got, []string{readings[44].ID}) {
		t.Errorf("torque readings = %v, want the oldest message's alone", got)
	}
}

func TestTelemetryCursorKeepsTheRangeOfItsListing(t *testing.T) {
	ta := newTelemetryAPI(t)
	var want []string
	for _, ago := range []time.Duration{1, 2, 20, 23} {
		rd := ta.reading("v-101", "v-101", ago*time.Hour, map[string]float64{"temperature_c": 40})
		ta.put(rd)
		want = append(want, rd.ID)
	}
	var first readingsPage
	ta.decode("/telemetry?limit=2", &first)
	if first.NextCursor == nil {
		t.Fatalf("first page = %+v, want a cursor", first)
	}
	// Twelve hours later the default range starts after the readings the
	// cursor goes on with; the listing still ends where it would have.
	ta.now = ta.now.Add(12 * time.Hour)
	var second readingsPage
	ta.decode("/telemetry?limit=2&cursor="+url.QueryEscape(*first.NextCursor), &second)
	if got := ids(first, second); !slices.Equal(got, want) {
		t.Errorf("paged = %v, want %v", got, want)
	}
}

// flowHour is v-101 over the last quarter hour: twelve messages with the
// flow around 1000 l/min, then one at 1800 (80 % over: a high anomaly);
// the A-North gauge; and v-102 two hours ago, outside the flow window.
func flowHour(ta *telemetryAPI) (spike domain.Reading) {
	for i := range 12 {
		flow := 990.0
		if i%2 == 1 {
			flow = 1010
		}
		ta.put(ta.reading("v-101", "v-101", time.Duration(13-i)*time.Minute, map[string]float64{"flow_rate_lpm": flow, "pressure_pa": 2.1e6, "temperature_c": 42}))
	}
	spike = ta.reading("v-101", "v-101", time.Minute, map[string]float64{"flow_rate_lpm": 1800, "pressure_pa": 2.2e6, "temperature_c": 43})
	ta.put(spike,
		ta.reading("A-North", "A-North", 5*time.Minute, map[string]float64{"kpa": 2400}),
		ta.reading("A-North", "A-North", 4*time.Minute, map[string]float64{"kpa": 2450}),
		ta.reading("v-102", "v-102", 2*time.Hour, map[string]float64{"flow_rate_lpm": 5000, "torque_nm": 80}),
	)
	return spike
}

type anomaly struct {
	ID, Device, Metric, Severity string
	At                           time.Time
	Value, Mean, Deviation       float64
}

// is reports whether a and b are the same anomaly.
func (a anomaly) is(b anomaly) bool {
	same := a.At.Equal(b.At)
	a.At, b.At = time.Time{}, time.Time{}
	return same && a == b
}

type current struct {
	FlowRateLpm  *float64  `json:"flow_rate_lpm"`
	PressurePa   *float64  `json:"pressure_pa"`
	TemperatureC *float64  `json:"temperature_c"`
	At           time.Time `json:"at"`
}

func TestFlowMetricsHaveTheLastHourOfValves(t *testing.T) {
	ta := newTelemetryAPI(t)
	spike := flowHour(ta)
	var m struct {
		Current map[string]current
		History []struct {
			Device      string
			At          time.Time
			FlowRateLpm float64 `json:"flow_rate_lpm"`
		}
		Stats map[string]struct {
			Count          int
			Mean, Min, Max *float64
		}
	}
	ta.decode("/flow/metrics", &m)

	c, ok := m.Current["v-101"]
	if len(m.Current) != 1 || !ok {
		t.Fatalf("current = %v, want v-101 alone (A-North is a gauge, v-102 was silent this hour)", m.Current)
	}
	if c.FlowRateLpm == nil || *c.FlowRateLpm != 1800 || c.PressurePa == nil || *c.PressurePa != 2.2e6 ||
		c.TemperatureC == nil || *c.TemperatureC != 43 || !c.At.Equal(spike.At) {
		t.Errorf("current of v-101 = %+v, want its latest message", c)
	}

	if len(m.History) != 13 {
		t.Fatalf("history has %d points, want the 13 flow readings of the hour", len(m.History))
	}
	first, last := m.History[0], m.History[12]
	if first.Device != "v-101" || first.FlowRateLpm != 990 || !first.At.Equal(ta.now.Add(-13*time.Minute)) || last.FlowRateLpm != 1800 {
		t.Errorf("history = %+v ... %+v, want oldest first", first, last)
	}

	flow := m.Stats["flow_rate_lpm"]
	wantMean := (6*990 + 6*1010 + 1800) / 13.0
	if flow.Count != 13 || flow.Mean == nil || *flow.Mean != wantMean || *flow.Min != 990 || *flow.Max != 1800 {
		t.Errorf("flow stats = %+v, want 13 readings, mean %v, 990..1800", flow, wantMean)
	}
	if kpa := m.Stats["kpa"]; kpa.Count != 2 || *kpa.Mean != 2425 {
		t.Errorf("kpa stats = %+v", kpa)
	}
	if torque := m.Stats["torque_nm"]; torque.Count != 0 || torque.Mean != nil || torque.Min != nil || torque.Max != nil {
		t.Errorf("torque stats = %+v, want none this hour", torque)
	}
	if len(m.Stats) != 5 {
		t.Errorf("stats = %v, want one per metric", m.Stats)
	}
}

func TestFlowMetricsHistoryIsTheNewest200FlowReadingsOldestFirst(t *testing.T) {
	ta := newTelemetryAPI(t)
	var readings []domain.Reading
	for i := range 250 {
		readings = append(readings, ta.reading("v-101", "v-101", time.Duration(i+1)*10*time.Second, map[string]float64{"flow_rate_lpm": float64(i)}))
	}
	ta.put(readings...)
	var m struct {
		History []struct {
			FlowRateLpm float64 `json:"flow_rate_lpm"`
		}
	}
	ta.decode("/flow/metrics", &m)
	if len(m.History) != 200 || m.History[0].FlowRateLpm != 199 || m.History[199].FlowRateLpm != 0 {
		t.Errorf("history has %d points from %v, want 200 from the 200th newest to the newest", len(m.History), m.History[:1])
	}
}

func TestFlowHealthScoresTheHourlyAnomalies(t *testing.T) {
	ta := newTelemetryAPI(t)
	spike := flowHour(ta)
	var h struct {
		CurrentMetrics  map[string]current `json:"current_metrics"`
		HealthScore     *int               `json:"health_score"`
		AnomalyCount    *int               `json:"anomaly_count"`
		RecentAnomalies []anomaly          `json:"recent_anomalies"`
	}
	ta.decode("/flow/health", &h)
	want := anomaly{
		ID: fmt.Sprintf("v-101-flow_rate_lpm-%d", spike.At.UnixMilli()), Device: "v-101", Metric: "flow_rate_lpm",
		Severity: "high", At: spike.At, Value: 1800, Mean: 1000, Deviation: 80,
	}
	if h.HealthScore == nil || *h.HealthScore != 90 || h.AnomalyCount == nil || *h.AnomalyCount != 1 {
		t.Errorf("health_score %v, anomaly_count %v; want 90 and 1", h.HealthScore, h.AnomalyCount)
	}
	if len(h.RecentAnomalies) != 1 || !h.RecentAnomalies[0].is(want) {
		t.Errorf("recent_anomalies = %+v, want %+v", h.RecentAnomalies, want)
	}
	if c := h.CurrentMetrics["v-101"]; len(h.CurrentMetrics) != 1 || c.FlowRateLpm == nil || *c.FlowRateLpm != 1800 {
		t.Errorf("current_metrics = %+v", h.CurrentMetrics)
	}

	var a struct {
		Items      []anomaly
		NextCursor *string `json:"next_cursor"`
	}
	ta.decode("/flow/anomalies", &a)
	if len(a.Items) != 1 || !a.Items[0].is(want) || a.NextCursor != nil {
		t.Errorf("anomalies = %+v (next %v), want %+v", a.Items, a.NextCursor, want)
	}

	// Quiet: no readings this hour is full health and empty lists.
	quiet := newTelemetryAPI(t)
	rec := quiet.get("/flow/health")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"recent_anomalies":[]`) || !strings.Contains(rec.Body.String(), `"health_score":100`) {
		t.Errorf("quiet health = %d %s", rec.Code, rec.Body)
	}
}

// With more anomalies than it shows, /flow/health counts and scores them
// all (from the counts kept as they are recorded) and shows the newest
// ten: the same as the hour's listing says.
func TestFlowHealthCountsEveryAnomalyOfTheHourAndShowsTheNewestTen(t *testing.T) {
	ta := newTelemetryAPI(t)
	// v-101: a medium spike every five minutes (29-32 % over its mean);
	// v-102: one high one (70 %). Twelve anomalies, a score of 35.
	var readings []domain.Reading
	for i := range 58 {
		ago := time.Duration(58-i) * time.Minute
		flow, other := 1000.0, 1000.0
		if i%5 == 2 {
			flow = 1400
		}
		if i == 30 {
			other = 1700
		}
		readings = append(readings,
			ta.reading("v-101", "v-101", ago, map[string]float64{"flow_rate_lpm": flow}),
			ta.reading("v-102", "v-102", ago, map[string]float64{"flow_rate_lpm": other}))
	}
	ta.put(readings...)
	var all struct{ Items []anomaly }
	ta.decode("/flow/anomalies?limit=200", &all)
	var listed []domain.Anomaly
	for _, a := range all.Items {
		listed = append(listed, domain.Anomaly{Severity: a.Severity})
	}
	counts := domain.CountAnomalies(listed)
	if counts.Total <= flowRecentAnomalies || counts.Medium == 0 || counts.High == 0 || domain.FlowHealth(listed) == 0 {
		t.Fatalf("the hour lists %+v anomalies, want more than %d of both severities, scoring over 0", counts, flowRecentAnomalies)
	}

	var h struct {
		HealthScore     *int      `json:"health_score"`
		AnomalyCount    *int      `json:"anomaly_count"`
		RecentAnomalies []anomaly `json:"recent_anomalies"`
	}
	ta.decode("/flow/health", &h)
	if h.AnomalyCount == nil || h.HealthScore == nil {
		t.Fatalf("anomaly_count %v, health_score %v: want both", h.AnomalyCount, h.HealthScore)
	}
	if *h.AnomalyCount != counts.Total {
		t.Errorf("anomaly_count = %d, want the %d the hour lists", *h.AnomalyCount, counts.Total)
	}
	if *h.HealthScore != domain.FlowHealth(listed) {
		t.Errorf("health_score = %d, want FlowHealth of the listed anomalies: %d", *h.HealthScore, domain.FlowHealth(listed))
	}
	if !slices.EqualFunc(h.RecentAnomalies, all.Items[:flowRecentAnomalies], anomaly.is) {
		t.Errorf("recent_anomalies = %+v\nwant the newest %d: %+v", h.RecentAnomalies, flowRecentAnomalies, all.Items[:flowRecentAnomalies])
	}
}

// flowRecentAnomalies is how many anomalies /flow/health shows.
const flowRecentAnomalies = 10

func TestFlowAnomaliesPageNewestFirstWithOpaqueCursors(t *testing.T) {
	ta := newTelemetryAPI(t)
	// Two valves with the same spikes at the same times: anomalies that
	// tie on time are kept apart by id. Every fifth message is a spike.
	var readings []domain.Reading
	for i := range 30 {
		ago := time.Duration(30-i) * time.Minute
		flow := 1000.0
		if i%5 == 4 {
			flow = 1600
		}
		readings = append(readings,
			ta.reading("v-101", "v-101", ago, map[string]float64{"flow_rate_lpm": flow}),
			ta.reading("v-102", "v-102", ago, map[string]float64{"flow_rate_lpm": flow, "temperature_c": 40}))
	}
	ta.put(readings...)
	var all struct{ Items []anomaly }
	ta.decode("/flow/anomalies", &all)
	if len(all.Items) < 10 {
		t.Fatalf("%d anomalies, want one per spike and valve", len(all.Items))
	}
	for i := 1; i < len(all.Items); i++ {
		if all.Items[i].At.After(all.Items[i-1].At) {
			t.Fatalf("anomalies not newest first: %v after %v", all.Items[i].At, all.Items[i-1].At)
		}
	}

	var paged []anomaly
	path := "/flow/anomalies?limit=3"
	for range len(all.Items) {
		var p struct {
			Items      []anomaly
			NextCursor *string `json:"next_cursor"`
		}
		ta.decode(path, &p)
		if p.NextCursor != nil && len(p.Items) != 3 {
			t.Errorf("a page with a next one has %d items, want 3", len(p.Items))
		}
		paged = append(paged, p.Items...)
		if p.NextCursor == nil {
			break
		}
		path = "/flow/anomalies?limit=3&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	if !slices.EqualFunc(paged, all.Items, anomaly.is) {
		t.Errorf("paged anomalies = %+v\nwant %+v", paged, all.Items)
	}

	// A cursor names a place in the listing, even once its anomaly has
	// left the hour; anything else is refused.
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	after := func(at time.Time) string {
		return "/flow/anomalies?cursor=" + b64(fmt.Sprintf("v-101-flow_rate_lpm-%d", at.UnixMilli()))
	}
	var older, newer struct{ Items []anomaly }
	ta.decode(after(ta.now.Add(-2*time.Hour)), &older)
	ta.decode(after(ta.now.Add(time.Hour)), &newer)
	if len(older.Items) != 0 || !slices.EqualFunc(newer.Items, all.Items, anomaly.is) {
		t.Errorf("after an anomaly older than all: %d items, want 0; newer than all: %d, want all", len(older.Items), len(newer.Items))
	}
	for _, path := range []string{
		"/flow/anomalies?cursor=forged!",
		"/flow/anomalies?cursor=" + b64("forged"),
		"/flow/anomalies?cursor=" + b64("v-101-humidity-1"),
		"/flow/anomalies?cursor=" + b64("v-101-flow_rate_lpm-01"),
		"/flow/anomalies?cursor=" + b64("v-101-flow_rate_lpm-x"),
		"/flow/anomalies?cursor=" + b64("v/101-flow_rate_lpm-1"),
		"/flow/anomalies?cursor=" + b64("flow_rate_lpm-1"),
		"/flow/anomalies?cursor=",
		"/flow/anomalies?limit=0",
		"/flow/anomalies?limit=201",
		"/flow/anomalies?device=v-101",
		"/flow/metrics?window=2h",
		"/flow/health?verbose=1",
	} {
		if rec := ta.get(path); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"code":"bad_request"`) {
			t.Errorf("%s: %d %s, want 400 bad_request", path, rec.Code, rec.Body)
		}
	}
}

func TestTelemetryOfEveryDeviceListsAllShardsNewestFirstAtEveryPageSize(t *testing.T) {
	ta := newTelemetryAPI(t)
	// Six devices, forty messages a minute apart: the store spreads them
	// over its shards. Every third has a torque.
	var all, torque []string
	for i := range 40 {
		dev := fmt.Sprintf("v-%d", 101+i%6)
		values := map[string]float64{"temperature_c": 40}
		if i%3 == 0 {
			values["torque_nm"] = 50
		}
		rd := ta.reading(dev, dev, time.Duration(i+1)*time.Minute, values)
		ta.put(rd)
		all = append(all, rd.ID)
		if i%3 == 0 && dev == "v-101" {
			torque = append(torque, rd.ID)
		}
	}
	for limit := 1; limit <= len(all)+1; limit++ {
		if got := ids(ta.follow(fmt.Sprintf("/telemetry?limit=%d", limit), len(all)+2)...); !slices.Equal(got, all) {
			t.Fatalf("limit %d: listed %v, want %v", limit, got, all)
		}
	}
	// A metric is picked out of one device's readings; across devices no
	// key selects it, and the request says what to add.
	for _, limit := range []int{1, 2, 5, 14} {
		if got := ids(ta.follow(fmt.Sprintf("/telemetry?device=v-101&metric=torque_nm&limit=%d", limit), len(all)+2)...); !slices.Equal(got, torque) {
			t.Errorf("torque, limit %d: listed %v, want %v", limit, got, torque)
		}
	}
	if rec := ta.get("/telemetry?metric=torque_nm"); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "device=") {
		t.Errorf("a metric across devices: %d %s, want a 400 that says to add device", rec.Code, rec.Body)
	}

	// A store cursor that is not the merged listing's, inside a cursor
	// that is otherwise GET /telemetry's, is a 400.
	var first readingsPage
	ta.decode("/telemetry?limit=1", &first)
	if first.NextCursor == nil {
		t.Fatalf("first page %+v, want a cursor", first)
	}
	b, err := base64.RawURLEncoding.DecodeString(*first.NextCursor)
	var c map[string]any
	if err != nil || json.Unmarshal(b, &c) != nil {
		t.Fatalf("cursor %q is not base64url JSON", *first.NextCursor)
	}
	for _, forged := range []string{
		base64.RawURLEncoding.EncodeToString([]byte(`{"after":{"READINGS#7":""}}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"d":"v-101","p":"0000000000000#v-101#x"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"d":"","p":"0000000000000#v-101#x"}`)),
		"garbage",
	} {
		c["c"] = forged
		b, _ = json.Marshal(c)
		path := "/telemetry?limit=1&cursor=" + base64.RawURLEncoding.EncodeToString(b)
		if rec := ta.get(path); rec.Code != http.StatusBadRequest {
			t.Errorf("store cursor %q: %d %s, want 400", forged, rec.Code, rec.Body)
		}
	}
}

// seriesAnswer is GET /telemetry/series.
type seriesAnswer struct {
	Device, Metric, Step string
	From, To             time.Time
	Points               []struct {
		At                  time.Time
		Count               int
		Min, Max, Avg, Last *float64
	}
}

func TestSeriesFoldsAKnownPatternIntoItsSteps(t *testing.T) {
	ta := newTelemetryAPI(t)
	// Over two hours, a reading every minute: flow i % 10 * 10 for the
	// i-th minute, so each 10-minute step holds 0, 10, ... 90: min 0, max
	// 90, avg 45, count 10, last 90. Temperature alone every fifth minute,
	// and another device, in between: not this series.
	from := ta.now.Add(-2 * time.Hour)
	var rs []domain.Reading
	for i := range 120 {
		at := from.Add(time.Duration(i) * time.Minute)
		values := map[string]float64{"flow_rate_lpm": float64(i%10) * 10, "pressure_pa": 2e6}
		if i%5 == 0 {
			values = map[string]float64{"temperature_c": 40}
		}
		rs = append(rs, domain.Reading{ID: fmt.Sprintf("s%d", i), Device: "v-101", Asset: "v-101", At: at, Values: values},
			domain.Reading{ID: fmt.Sprintf("o%d", i), Device: "v-102", Asset: "v-102", At: at, Values: map[string]float64{"flow_rate_lpm": 5000}})
	}
	ta.put(rs...)

	var s seriesAnswer
	ta.decode("/telemetry/series?device=v-101&metric=flow_rate_lpm&step=10m&from="+rfc(from)+"&to="+rfc(from.Add(2*time.Hour)), &s)
	if s.Device != "v-101" || s.Metric != "flow_rate_lpm" || s.Step != "10m0s" || !s.From.Equal(from) || len(s.Points) != 12 {
		t.Fatalf("series = %+v, want 12 steps of v-101's flow", s)
	}
	for i, p := range s.Points {
		// Minutes 0 and 5 of each step have no flow: 8 readings, 10..90
		// without 0 and 50.
		want := []float64{10, 20, 30, 40, 60, 70, 80, 90}
		sum := 0.0
		for _, v := range want {
			sum += v
		}
		if !p.At.Equal(from.Add(time.Duration(i)*10*time.Minute)) || p.Count != len(want) || p.Min == nil ||
			*p.Min != 10 || *p.Max != 90 || *p.Avg != sum/float64(len(want)) || *p.Last != 90 {
			t.Errorf("step %d = at %v count %d min %v max %v avg %v last %v; want 8 readings, 10..90, avg %v, last 90",
				i, p.At, p.Count, deref(p.Min), deref(p.Max), deref(p.Avg), deref(p.Last), sum/float64(len(want)))
		}
	}

	// A reading at to is the last step's; a step past the readings is
	// empty, with nulls.
	ta.decode("/telemetry/series?device=v-101&metric=temperature_c&step=1h&from="+rfc(from.Add(time.Hour))+"&to="+rfc(from.Add(3*time.Hour)), &s)
	if len(s.Points) != 2 || s.Points[0].Count != 12 || s.Points[1].Count != 0 || s.Points[1].Min != nil || s.Points[1].Last != nil {
		t.Errorf("temperature by the hour = %+v, want 12 readings then an empty hour", s.Points)
	}
	ta.decode("/telemetry/series?device=v-101&metric=temperature_c&step=1h&from="+rfc(from)+"&to="+rfc(from.Add(115*time.Minute)), &s)
	if len(s.Points) != 2 || s.Points[0].Count != 12 || s.Points[1].Count != 12 {
		t.Errorf("with the last reading at to: %+v, want 12 and 12", s.Points)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestSeriesRefusesWhatItCannotAnswerWithA400(t *testing.T) {
	ta := newTelemetryAPI(t)
	now := ta.now
	for _, tt := range []struct{ query, says string }{
		{"metric=kpa&step=1m", "device"},
		{"device=A-North&step=1m", "metric"},
		{"device=A-North&metric=kpa", "step"},
		{"device=A-North&metric=humidity&step=1m", "metric"},
		{"device=A%2FNorth&metric=kpa&step=1m", "device"},
		{"device=A-North&metric=kpa&step=0s", "step"},
		{"device=A-North&metric=kpa&step=500ms", "step"},
		{"device=A-North&metric=kpa&step=soon", "step"},
		{"device=A-North&metric=kpa&step=-1m", "step"},
		{"device=A-North&metric=kpa&step=1m", "at least 1m27s"}, // a day: 1,440 steps
		{"device=A-North&metric=kpa&step=1h&from=" + rfc(now.Add(-31*24*time.Hour)), "30 days"},
		{"device=A-North&metric=kpa&step=1h&from=" + rfc(now) + "&to=" + rfc(now.Add(-time.Second)), "after"},
		{"device=A-North&metric=kpa&step=1h&limit=5", "limit"},
		{"device=A-North&metric=kpa&step=90m&from=" + rfc(now.Add(-25*time.Hour)), "over a day, step must be whole hours, such as 1h or 6h"},
		{"device=A-North&metric=kpa&step=43m12s&from=" + rfc(now.Add(-30*24*time.Hour)), "whole hours"},
	} {
		rec := ta.get("/telemetry/series?" + tt.query)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tt.says) {
			t.Errorf("?%s: %d %s, want 400 saying %q", tt.query, rec.Code, rec.Body, tt.says)
		}
	}
	// The limits themselves are allowed: 30 days by the hour, from the
	// hour; a day at a step that is not whole hours; 1,000 steps.
	var s seriesAnswer
	ta.decode("/telemetry/series?device=A-North&metric=kpa&step=1h&from="+rfc(now.Add(-30*24*time.Hour))+"&to="+rfc(now), &s)
	if start := now.Add(-30 * 24 * time.Hour).Truncate(time.Hour); !s.From.Equal(start) || len(s.Points) != int((now.Sub(start)+time.Hour-1)/time.Hour) {
		t.Errorf("30 days by the hour: from %v, %d points; want from %v, the hour", s.From, len(s.Points), start)
	}
	ta.decode("/telemetry/series?device=A-North&metric=kpa&step=90m&from="+rfc(now.Add(-24*time.Hour))+"&to="+rfc(now), &s)
	if !s.From.Equal(now.Add(-24*time.Hour)) || len(s.Points) != 16 {
		t.Errorf("a day by 90 minutes: from %v, %d points; want from %v, 16", s.From, len(s.Points), now.Add(-24*time.Hour))
	}
	for _, q := range []string{
		"device=A-North&metric=kpa&step=1s&from=" + rfc(now.Add(-1000*time.Second)),
	} {
		var s seriesAnswer
		ta.decode("/telemetry/series?"+q, &s)
		if len(s.Points) != 1000 {
			t.Errorf("?%s: %d points, want 1000", q, len(s.Points))
		}
	}
}

// TestPublishedReadingsComeBackExactlyOnceAfterARedelivery sends telemetry
// as devices publish it, through ingestion's batch entry, a QoS 1 resend
// in the same batch and the whole batch again; /telemetry and
// /telemetry/series answer each message once, with its values and time.
func TestPublishedReadingsComeBackExactlyOnceAfterARedelivery(t *testing.T) {
	ta := newTelemetryAPI(t)
	svc := ingest.New(ta.store, nil, nil, nil, func() time.Time { return ta.now }, nil).WithAnomalies(ta.store)
	type published struct {
		at   time.Time
		flow float64
		temp float64
	}
	var sent []published
	var batch []topics.Message
	for i := range 30 {
		p := published{at: ta.now.Add(time.Duration(i-30) * 7 * time.Second), flow: 1000 + float64(i)/10, temp: 42.25 + float64(i%3)}
		sent = append(sent, p)
		payload := fmt.Appendf(nil, `{"ts":%.3f,"flow_rate_lpm":%v,"temperature_c":%v}`, float64(p.at.UnixMilli())/1000, p.flow, p.temp)
		m := topics.NewMessage("plainview/devices/v-101/telemetry", "v-101", payload, ta.now.UnixMilli())
		batch = append(batch, m)
		if i == 10 {
			batch = append(batch, m) // a QoS 1 resend, beside its original
		}
	}
	for range 2 { // and the stream's second delivery of the batch
		if failed := svc.HandleBatch(context.Background(), batch); len(failed) != 0 {
			t.Fatalf("failed %v", failed)
		}
	}
	// A resend in a batch of its own, later.
	if failed := svc.HandleBatch(context.Background(), batch[5:6]); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	for _, path := range []string{"/telemetry?device=v-101&limit=7", "/telemetry?limit=7"} {
		var got []domain.Reading
		for _, p := range ta.follow(path, 10) {
			got = append(got, p.Items...)
		}
		if len(got) != len(sent) {
			t.Fatalf("%s: %d readings, want the %d published, each once", path, len(got), len(sent))
		}
		for i, r := range got {
			p := sent[len(sent)-1-i]
			if !r.At.Equal(p.at) || r.Values["flow_rate_lpm"] != p.flow || r.Values["temperature_c"] != p.temp || len(r.Values) != 2 || r.Device != "v-101" {
				t.Errorf("%s: reading %d = %+v, want at %v flow %v temperature %v", path, i, r, p.at, p.flow, p.temp)
			}
		}
	}
	var s seriesAnswer
	ta.decode("/telemetry/series?device=v-101&metric=flow_rate_lpm&step=1h&from="+rfc(ta.now.Add(-time.Hour))+"&to="+rfc(ta.now), &s)
	wantSum := 0.0
	for _, p := range sent {
		wantSum += p.flow
	}
	if p := s.Points[0]; len(s.Points) != 1 || p.Count != len(sent) || *p.Min != sent[0].flow || *p.Max != sent[len(sent)-1].flow ||
		math.Abs(*p.Avg-wantSum/float64(len(sent))) > 1e-9 || *p.Last != sent[len(sent)-1].flow {
		t.Errorf("series = %+v, want %d readings from %v to %v", s.Points, len(sent), sent[0].flow, sent[len(sent)-1].flow)
	}
	var m struct {
		Stats map[string]struct{ Count int }
	}
	ta.decode("/flow/metrics", &m)
	if m.Stats["flow_rate_lpm"].Count != len(sent) {
		t.Errorf("flow statistics count %d readings, want %d", m.Stats["flow_rate_lpm"].Count, len(sent))
	}
}
