package httpapi

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/core/domain"
)

// ReadRoutes serves the public and read routes over Config.Store, and
// the OpenAPI document. Only the reads function names it, so only its
// binary links the code that builds the document.
func ReadRoutes(a *API, h map[string]http.Handler) {
	maps.Copy(h, a.readHandlers())
	h["GET /openapi.json"] = NewOpenAPIHandler()
}

func (a *API) readHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /{$}":                    a.strict(a.root),
		"GET /health":                 a.strict(a.health),
		"GET /livez":                  a.strict(func(*http.Request) (any, error) { return probe{Status: "ok"}, nil }),
		"GET /readyz":                 http.HandlerFunc(a.readyz),
		"GET /modules":                a.strict(func(*http.Request) (any, error) { return domain.Modules(), nil }),
		"GET /valves":                 http.HandlerFunc(a.valves),
		"GET /valves/{id}":            a.strict(a.valve),
		"GET /valves/{id}/health":     a.strict(a.valveHealth),
		"GET /valves/{id}/actuations": handler(a.actuations),
		"GET /valves/{id}/actuations/{actuation_id}": a.strict(a.actuation),
		"GET /incidents":                   a.strict(a.incidents),
		"GET /incidents/health":            a.strict(a.incidentHealth),
		"GET /incidents/{id}":              a.strict(a.incident),
		"GET /incidents/{id}/timeline":     a.strict(a.timeline),
		"GET /pipeline/alerts":             a.strict(a.alerts),
		"GET /pipeline/health":             handler(a.pipelineHealth),
		"GET /pipeline/sections/{section}": a.strict(a.section),
		"GET /telemetry":                   handler(a.telemetry),
		"GET /telemetry/series":            handler(a.series),
		"GET /flow/metrics":                a.strict(a.flowMetrics),
		"GET /flow/anomalies":              handler(a.flowAnomalies),
		"GET /flow/health":                 a.strict(a.flowHealth),
	}
}

// strict wraps a handler of a route that takes no query parameters.
func (a *API) strict(h handler) handler {
	return func(r *http.Request) (any, error) {
		if err := noQuery(r); err != nil {
			return nil, err
		}
		return h(r)
	}
}

// The answers of the routes are named types, so the OpenAPI document can
// name them (openapi.go); their fields are in the order the maps they
// replaced marshalled in, alphabetical, so the bytes on the wire are the
// same.

// serviceInfo is GET /.
type serviceInfo struct {
	Service string `json:"service"`
	Version string `json:"version"`
}

func (a *API) root(*http.Request) (any, error) {
	return serviceInfo{Service: "plainview", Version: a.cfg.Version}, nil
}

// probe is GET /livez and GET /readyz.
type probe struct {
	Status string `json:"status"`
}

// Health check words.
const (
	checkOK       = "ok"
	checkError    = "error"
	checkDisabled = "disabled"
)

// pingTimeout keeps /health and /readyz quick when a dependency hangs.
const pingTimeout = 2 * time.Second

func ping(ctx context.Context, p interface{ Ping(context.Context) error }) string {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		return checkError
	}
	return checkOK
}

// healthReport is GET /health.
type healthReport struct {
	Checks    healthChecks `json:"checks"`
	Status    string       `json:"status"`
	UptimeSec int          `json:"uptime_sec"`
	Version   string       `json:"version"`
}

type healthChecks struct {
	Database string `json:"database"`
	MQTT     string `json:"mqtt"`
}

func (a *API) health(r *http.Request) (any, error) {
	db := ping(r.Context(), a.cfg.Store)
	mqtt := checkDisabled
	if a.cfg.MQTT != nil {
		mqtt = ping(r.Context(), a.cfg.MQTT)
	}
	status := "ok"
	if db != checkOK {
		status = "degraded"
	}
	return healthReport{
		Status:    status,
		Checks:    healthChecks{Database: db, MQTT: mqtt},
		UptimeSec: int(a.cfg.Now().Sub(a.started).Seconds()),
		Version:   a.cfg.Version,
	}, nil
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if err := noQuery(r); err != nil {
		fail(w, r, err)
		return
	}
	if ping(r.Context(), a.cfg.Store) != checkOK {
		w.Header().Set("Retry-After", retryAfter)
		apierror.Write(w, http.StatusServiceUnavailable, apierror.CodeUnavailable, "database unreachable")
		return
	}
	writeJSON(w, http.StatusOK, probe{Status: "ready"})
}

// valveView is a valve as GET /valves/{id} shows it.
type valveView struct {
	ID                   string             `json:"id"`
	Name                 string             `json:"name"`
	Status               domain.ValveStatus `json:"status"`
	Temperature          *float64           `json:"temperature"`
	PressurePa           *float64           `json:"pressure_pa"`
	LastTorqueNm         *float64           `json:"last_torque_nm"`
	LastActuationTime    *time.Time         `json:"last_actuation_time"`
	EstimatedMaintenance *time.Time         `json:"estimated_maintenance"`
	Connected            bool               `json:"connected"`
	LastSeen             *time.Time         `json:"last_seen"`
	Location             string             `json:"location"`
	RetiredAt            *time.Time         `json:"retired_at"`
}

func viewValve(v domain.Valve, now time.Time) valveView {
	return valveView{
		ID: v.ID, Name: v.Name, Status: v.Status(now),
		Temperature: v.TemperatureC, PressurePa: v.PressurePa, LastTorqueNm: v.LastTorqueNm,
		LastActuationTime: v.LastActuationTime, EstimatedMaintenance: v.EstimatedMaintenance,
		Connected: v.Connected(now), LastSeen: v.LastSeen,
		Location: v.Location, RetiredAt: v.RetiredAt,
	}
}

// valves is GET /valves: a page of the valves in service (with
// ?retired=true the retired ones too) in id order, as a plain array, the
// shape the first service answered and its clients read. A page holds up
// to limit valves (1 to 200; 200 when absent, so a client that knows no
// paging still gets a fleet of up to 200 whole); while more follow, a Link
// header names the next page (rel="next", RFC 8288) with its opaque
// cursor, as a reference relative to this request, so it holds behind any
// stage prefix. No request reads the whole fleet (docs/PERFORMANCE.md).
func (a *API) valves(w http.ResponseWriter, r *http.Request) {
	out, next, err := a.valvesPage(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	if next.Get("cursor") != "" {
		w.Header().Set("Link", "<?"+next.Encode()+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, out)
}

// valvesLimit is GET /valves's default page: the most a page may hold.
const valvesLimit = domain.MaxLimit

// valvesPage reads GET /valves's query and page; next is the query of the
// next page, with no cursor after the last.
func (a *API) valvesPage(r *http.Request) (out []valveView, next url.Values, err error) {
	q, err := query(r, "retired", "limit", "cursor")
	if err != nil {
		return nil, nil, err
	}
	retired := false
	switch q.Get("retired") {
	case "", "false":
	case "true":
		retired = true
	default:
		return nil, nil, badRequest("retired must be true or false")
	}
	p, err := page(q)
	if err != nil {
		return nil, nil, err
	}
	if q.Get("limit") == "" {
		p.Limit = valvesLimit
	}
	vs, cursor, err := a.cfg.Store.ValvesPage(r.Context(), retired, p)
	if err != nil {
		return nil, nil, err
	}
	now := a.cfg.Now()
	out = make([]valveView, len(vs))
	for i, v := range vs {
		out[i] = viewValve(v, now)
	}
	next = url.Values{}
	if retired {
		next.Set("retired", "true")
	}
	next.Set("limit", strconv.Itoa(p.Limit))
	next.Set("cursor", cursor)
	return out, next, nil
}

func (a *API) loadValve(r *http.Request) (domain.Valve, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return domain.Valve{}, err
	}
	return a.cfg.Store.Valve(r.Context(), id)
}

func (a *API) valve(r *http.Request) (any, error) {
	v, err := a.loadValve(r)
	if err != nil {
		return nil, err
	}
	return viewValve(v, a.cfg.Now()), nil
}

// valveHealthReport is GET /valves/{id}/health.
type valveHealthReport struct {
	HealthScore int                `json:"health_score"`
	Readings    valveReadings      `json:"readings"`
	Status      domain.ValveStatus `json:"status"`
	Thresholds  domain.Thresholds  `json:"thresholds"`
	ValveID     string             `json:"valve_id"`
}

type valveReadings struct {
	LastTorqueNm *float64 `json:"last_torque_nm"`
	PressurePa   *float64 `json:"pressure_pa"`
	Temperature  *float64 `json:"temperature"`
}

func (a *API) valveHealth(r *http.Request) (any, error) {
	v, err := a.loadValve(r)
	if err != nil {
		return nil, err
	}
	now := a.cfg.Now()
	return valveHealthReport{
		ValveID: v.ID,
		Status:  v.Status(now),
		Readings: valveReadings{
			Temperature:  v.TemperatureC,
			PressurePa:   v.PressurePa,
			LastTorqueNm: v.LastTorqueNm,
		},
		Thresholds:  v.Limits(),
		HealthScore: v.HealthScore(now),
	}, nil
}

// listing is the shape of every paged answer.
type listing[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func newListing[T any](items []T, next string) listing[T] {
	l := listing[T]{Items: items}
	if l.Items == nil {
		l.Items = []T{}
	}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

func (a *API) actuations(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	p, err := listingParams(r)
	if err != nil {
		return nil, err
	}
	items, next, err := a.cfg.Store.Actuations(r.Context(), id, p)
	if err != nil {
		return nil, err
	}
	return newListing(items, next), nil
}

func (a *API) actuation(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	aid, err := pathID(r, "actuation_id")
	if err != nil {
		return nil, err
	}
	return a.cfg.Store.Actuation(r.Context(), id, aid)
}

// recentIncidents: GET /incidents shows the last 24 hours, at most 20.
const (
	recentIncidentWindow = 24 * time.Hour
	recentIncidentLimit  = 20
	recentAlertLimit     = 20
)

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// incidentsOverview is GET /incidents.
type incidentsOverview struct {
	ActiveCount     int               `json:"active_count"`
	ActiveIncidents []domain.Incident `json:"active_incidents"`
	RecentIncidents []domain.Incident `json:"recent_incidents"`
}

func (a *API) incidents(r *http.Request) (any, error) {
	active, err := a.cfg.Store.UnresolvedIncidents(r.Context())
	if err != nil {
		return nil, err
	}
	recent, err := a.cfg.Store.RecentIncidents(r.Context(), a.cfg.Now().Add(-recentIncidentWindow), recentIncidentLimit)
	if err != nil {
		return nil, err
	}
	return incidentsOverview{
		ActiveCount:     len(active),
		ActiveIncidents: nonNil(active),
		RecentIncidents: nonNil(recent),
	}, nil
}

func (a *API) incidentHealth(r *http.Request) (any, error) {
	active, err := a.cfg.Store.UnresolvedIncidents(r.Context())
	if err != nil {
		return nil, err
	}
	counts, err := a.cfg.Store.IncidentCounts(r.Context())
	if err != nil {
		return nil, err
	}
	return domain.HealthOfIncidents(active, counts), nil
}

func (a *API) loadIncident(r *http.Request) (domain.Incident, []domain.TimelineEntry, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return domain.Incident{}, nil, err
	}
	return a.cfg.Store.Incident(r.Context(), id)
}

// incidentWithTimeline is an incident with its timeline: GET
// /incidents/{id}, and the incident writes' answer.
type incidentWithTimeline struct {
	domain.Incident
	Timeline []domain.TimelineEntry `json:"timeline"`
}

func (a *API) incident(r *http.Request) (any, error) {
	in, timeline, err := a.loadIncident(r)
	if err != nil {
		return nil, err
	}
	return incidentWithTimeline{in, timeline}, nil
}

// incidentTimeline is GET /incidents/{id}/timeline.
type incidentTimeline struct {
	IncidentID string                 `json:"incident_id"`
	ResolvedAt *time.Time             `json:"resolved_at"`
	StartedAt  time.Time              `json:"started_at"`
	Status     string                 `json:"status"`
	Timeline   []domain.TimelineEntry `json:"timeline"`
	Title      string                 `json:"title"`
}

func (a *API) timeline(r *http.Request) (any, error) {
	in, timeline, err := a.loadIncident(r)
	if err != nil {
		return nil, err
	}
	return incidentTimeline{
		IncidentID: in.ID,
		Title:      in.Title,
		Status:     in.Status,
		StartedAt:  in.StartedAt,
		ResolvedAt: in.ResolvedAt,
		Timeline:   timeline,
	}, nil
}

// alertsOverview is GET /pipeline/alerts.
type alertsOverview struct {
	ActiveLeakCount int            `json:"active_leak_count"`
	ActiveLeaks     []domain.Alert `json:"active_leaks"`
	CriticalCount   int            `json:"critical_count"`
	Integrity       int            `json:"integrity"`
	RecentHistory   []domain.Alert `json:"recent_history"`
}

func (a *API) alerts(r *http.Request) (any, error) {
	active, err := a.cfg.Store.ActiveAlerts(r.Context(), "")
	if err != nil {
		return nil, err
	}
	recent, err := a.cfg.Store.RecentAlerts(r.Context(), recentAlertLimit)
	if err != nil {
		return nil, err
	}
	leaks := domain.SummarizeLeaks(active)
	return alertsOverview{
		ActiveLeakCount: leaks.Active,
		CriticalCount:   leaks.Critical,
		ActiveLeaks:     nonNil(active),
		RecentHistory:   nonNil(recent),
		Integrity:       leaks.Integrity,
	}, nil
}

// sectionPressure is one section of pressure_profile.
type sectionPressure struct {
	PressureKPa *float64   `json:"pressure_kpa"`
	LastSeen    *time.Time `json:"last_seen"`
	ActiveLeaks int        `json:"active_leaks"`
	RiskLevel   string     `json:"risk_level"`
}

// pipelineReport is GET /pipeline/health. The pressure profile is a page
// of the sections (limit and cursor, 200 when no limit is given), so the
// answer grows with its page, not with the pipeline; NextCursor names the
// next page. The leak figures cover every active leak.
type pipelineReport struct {
	ActiveLeaks         int                        `json:"active_leaks"`
	EstimatedVolumeLost float64                    `json:"estimated_volume_lost"`
	IntegrityScore      int                        `json:"integrity_score"`
	NextCursor          *string                    `json:"next_cursor"`
	PressureProfile     map[string]sectionPressure `json:"pressure_profile"`
}

func (a *API) pipelineHealth(r *http.Request) (any, error) {
	q, err := query(r, "limit", "cursor")
	if err != nil {
		return nil, err
	}
	p, err := page(q)
	if err != nil {
		return nil, err
	}
	if q.Get("limit") == "" {
		p.Limit = domain.MaxLimit
	}
	active, err := a.cfg.Store.ActiveAlerts(r.Context(), "")
	if err != nil {
		return nil, err
	}
	sections, next, err := a.cfg.Store.SectionsPage(r.Context(), p)
	if err != nil {
		return nil, err
	}
	leaks := domain.SummarizeLeaks(active)
	profile := make(map[string]sectionPressure, len(sections))
	for _, s := range sections {
		n := leaks.BySection[s.Name]
		profile[s.Name] = sectionPressure{PressureKPa: s.PressureKPa, LastSeen: s.LastSeen, ActiveLeaks: n, RiskLevel: domain.RiskLevel(n)}
	}
	report := pipelineReport{
		IntegrityScore:      leaks.Integrity,
		ActiveLeaks:         leaks.Active,
		EstimatedVolumeLost: leaks.VolumeLost,
		PressureProfile:     profile,
	}
	if next != "" {
		report.NextCursor = &next
	}
	return report, nil
}

// sectionDetail is GET /pipeline/sections/{section}.
type sectionDetail struct {
	ActiveLeakCount int              `json:"active_leak_count"`
	ActiveLeaks     []domain.Alert   `json:"active_leaks"`
	LastIncident    *domain.Incident `json:"last_incident"`
	LastSeen        *time.Time       `json:"last_seen"`
	Location        string           `json:"location"`
	PressureKPa     *float64         `json:"pressure_kpa"`
	RetiredAt       *time.Time       `json:"retired_at"`
	RiskLevel       string           `json:"risk_level"`
	Section         string           `json:"section"`
}

func (a *API) section(r *http.Request) (any, error) {
	name, err := pathID(r, "section")
	if err != nil {
		return nil, err
	}
	s, err := a.cfg.Store.Section(r.Context(), name)
	if err != nil {
		return nil, err
	}
	active, err := a.cfg.Store.ActiveAlerts(r.Context(), s.Name)
	if err != nil {
		return nil, err
	}
	var last *domain.Incident
	if s.LastIncident != "" {
		in, _, err := a.cfg.Store.Incident(r.Context(), s.LastIncident)
		switch {
		case err == nil:
			last = &in
		case !errors.Is(err, domain.ErrNotFound):
			return nil, err
		}
	}
	return sectionDetail{
		Section:         s.Name,
		PressureKPa:     s.PressureKPa,
		LastSeen:        s.LastSeen,
		Location:        s.Location,
		RetiredAt:       s.RetiredAt,
		ActiveLeaks:     nonNil(active),
		ActiveLeakCount: len(active),
		RiskLevel:       domain.RiskLevel(len(active)),
		LastIncident:    last,
	}, nil
}

// eventListing is GET /events: a page of the log, and the position to poll
// from for what comes after the newest event of the log.
type eventListing struct {
	listing[domain.Event]
	PollCursor string `json:"poll_cursor"`
}

// logStart is a position before every event id (they start with letters).
const logStart = "0"

func (a *API) events(r *http.Request) (any, error) {
	q, err := parseEventsQuery(r)
	if err != nil {
		return nil, err
	}
	if q.since != "" {
		items, next, err := a.cfg.Store.EventsSince(r.Context(), q.filter, q.since, q.page.Limit)
		if err != nil {
			return nil, err
		}
		return newListing(items, next), nil
	}
	items, next, err := a.cfg.Store.Events(r.Context(), q.filter, q.page)
	if err != nil {
		return nil, err
	}
	out := eventListing{listing: newListing(items, next)}
	newest := logStart
	if q.page.Cursor == "" && len(items) > 0 {
		newest = items[0].ID
	}
	if q.page.Cursor == "" {
		if out.PollCursor, err = a.cfg.Store.EventCursor(q.filter, newest); err != nil {
			return nil, err
		}
	}
	return out, nil
}
