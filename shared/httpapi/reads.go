package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/plainview/serverless/shared/apierror"
	"github.com/plainview/serverless/shared/domain"
)

// handlers maps route patterns to their code.
func (a *API) handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /{$}":                    a.strict(a.root),
		"GET /health":                 a.strict(a.health),
		"GET /livez":                  a.strict(func(*http.Request) (any, error) { return map[string]string{"status": "ok"}, nil }),
		"GET /readyz":                 http.HandlerFunc(a.readyz),
		"GET /modules":                a.strict(func(*http.Request) (any, error) { return domain.Modules(), nil }),
		"GET /valves":                 a.strict(a.valves),
		"GET /valves/{id}":            a.strict(a.valve),
		"GET /valves/{id}/health":     a.strict(a.valveHealth),
		"GET /valves/{id}/actuations": handler(a.actuations),
		"GET /valves/{id}/actuations/{actuation_id}": a.strict(a.actuation),
		"GET /incidents":                   a.strict(a.incidents),
		"GET /incidents/health":            a.strict(a.incidentHealth),
		"GET /incidents/{id}":              a.strict(a.incident),
		"GET /incidents/{id}/timeline":     a.strict(a.timeline),
		"GET /pipeline/alerts":             a.strict(a.alerts),
		"GET /pipeline/health":             a.strict(a.pipelineHealth),
		"GET /pipeline/sections/{section}": a.strict(a.section),
		"GET /events":                      handler(a.events),
		"GET /telemetry":                   handler(a.telemetry),
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

func (a *API) root(*http.Request) (any, error) {
	return map[string]string{"service": "plainview", "version": a.cfg.Version}, nil
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
	return map[string]any{
		"status":     status,
		"checks":     map[string]string{"database": db, "mqtt": mqtt},
		"uptime_sec": int(a.cfg.Now().Sub(a.started).Seconds()),
		"version":    a.cfg.Version,
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
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
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
}

func viewValve(v domain.Valve, now time.Time) valveView {
	return valveView{
		ID: v.ID, Name: v.Name, Status: v.Status(now),
		Temperature: v.TemperatureC, PressurePa: v.PressurePa, LastTorqueNm: v.LastTorqueNm,
		LastActuationTime: v.LastActuationTime, EstimatedMaintenance: v.EstimatedMaintenance,
		Connected: v.Connected(now), LastSeen: v.LastSeen,
	}
}

func (a *API) valves(r *http.Request) (any, error) {
	vs, err := a.cfg.Store.Valves(r.Context())
	if err != nil {
		return nil, err
	}
	now := a.cfg.Now()
	out := make([]valveView, len(vs))
	for i, v := range vs {
		out[i] = viewValve(v, now)
	}
	return out, nil
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

func (a *API) valveHealth(r *http.Request) (any, error) {
	v, err := a.loadValve(r)
	if err != nil {
		return nil, err
	}
	now := a.cfg.Now()
	return map[string]any{
		"valve_id": v.ID,
		"status":   v.Status(now),
		"readings": map[string]*float64{
			"temperature":    v.TemperatureC,
			"pressure_pa":    v.PressurePa,
			"last_torque_nm": v.LastTorqueNm,
		},
		"thresholds":   v.Limits(),
		"health_score": v.HealthScore(now),
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

func (a *API) incidents(r *http.Request) (any, error) {
	active, err := a.cfg.Store.UnresolvedIncidents(r.Context())
	if err != nil {
		return nil, err
	}
	recent, err := a.cfg.Store.RecentIncidents(r.Context(), a.cfg.Now().Add(-recentIncidentWindow), recentIncidentLimit)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"active_count":     len(active),
		"active_incidents": nonNil(active),
		"recent_incidents": nonNil(recent),
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

func (a *API) incident(r *http.Request) (any, error) {
	in, timeline, err := a.loadIncident(r)
	if err != nil {
		return nil, err
	}
	return struct {
		domain.Incident
		Timeline []domain.TimelineEntry `json:"timeline"`
	}{in, timeline}, nil
}

func (a *API) timeline(r *http.Request) (any, error) {
	in, timeline, err := a.loadIncident(r)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"incident_id": in.ID,
		"title":       in.Title,
		"status":      in.Status,
		"started_at":  in.StartedAt,
		"resolved_at": in.ResolvedAt,
		"timeline":    timeline,
	}, nil
}

func criticalCount(alerts []domain.Alert) int {
	n := 0
	for _, al := range alerts {
		if al.Severity == domain.LeakCritical {
			n++
		}
	}
	return n
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
	return map[string]any{
		"active_leak_count": len(active),
		"critical_count":    criticalCount(active),
		"active_leaks":      nonNil(active),
		"recent_history":    nonNil(recent),
		"integrity":         domain.Integrity(active),
	}, nil
}

// sectionPressure is one section of pressure_profile.
type sectionPressure struct {
	PressureKPa *float64   `json:"pressure_kpa"`
	LastSeen    *time.Time `json:"last_seen"`
	ActiveLeaks int        `json:"active_leaks"`
	RiskLevel   string     `json:"risk_level"`
}

func (a *API) pipelineHealth(r *http.Request) (any, error) {
	active, err := a.cfg.Store.ActiveAlerts(r.Context(), "")
	if err != nil {
		return nil, err
	}
	sections, err := a.cfg.Store.Sections(r.Context())
	if err != nil {
		return nil, err
	}
	leaks := map[string]int{}
	lost := 0.0
	for _, al := range active {
		leaks[al.Section]++
		lost += deref(al.VolumeEstimate)
	}
	profile := make(map[string]sectionPressure, len(sections))
	for _, s := range sections {
		profile[s.Name] = sectionPressure{PressureKPa: s.PressureKPa, LastSeen: s.LastSeen, ActiveLeaks: leaks[s.Name], RiskLevel: domain.RiskLevel(leaks[s.Name])}
	}
	return map[string]any{
		"integrity_score":       domain.Integrity(active),
		"active_leaks":          len(active),
		"estimated_volume_lost": lost,
		"pressure_profile":      profile,
	}, nil
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
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
	var last any
	if s.LastIncident != "" {
		in, _, err := a.cfg.Store.Incident(r.Context(), s.LastIncident)
		switch {
		case err == nil:
			last = in
		case !errors.Is(err, domain.ErrNotFound):
			return nil, err
		}
	}
	return map[string]any{
		"section":           s.Name,
		"pressure_kpa":      s.PressureKPa,
		"last_seen":         s.LastSeen,
		"active_leaks":      nonNil(active),
		"active_leak_count": len(active),
		"risk_level":        domain.RiskLevel(len(active)),
		"last_incident":     last,
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
