package httpapi

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/incidents"
	"github.com/plainview/serverless/shared/core/leaks"
)

// Actuator carries out valve commands.
type Actuator interface {
	Actuate(ctx context.Context, r actuation.Request) (domain.Actuation, error)
}

// IncidentWriter opens and updates incidents.
type IncidentWriter interface {
	Create(ctx context.Context, n incidents.Opening) (domain.Incident, []domain.TimelineEntry, error)
	Apply(ctx context.Context, u incidents.Update) (domain.Incident, []domain.TimelineEntry, error)
}

// LeakWriter records and moves leak alerts.
type LeakWriter interface {
	Report(ctx context.Context, r leaks.Report) (leaks.Result, error)
	Acknowledge(ctx context.Context, id, keyID string) (domain.Alert, error)
	Resolve(ctx context.Context, id, keyID string) (domain.Alert, error)
}

// ActuationRoutes serves POST /valves/{id}/actuate over act.
func ActuationRoutes(act Actuator) Routes {
	return func(a *API, h map[string]http.Handler) {
		a.w.actuator = act
		h["POST /valves/{id}/actuate"] = a.idempotent(a.actuate)
	}
}

// IncidentRoutes serves the incident and leak-alert writes over inc and l.
func IncidentRoutes(inc IncidentWriter, l LeakWriter) Routes {
	return func(a *API, h map[string]http.Handler) {
		a.w.incidents, a.w.leaks = inc, l
		h["POST /incidents"] = a.idempotent(a.createIncident)
		h["POST /incidents/{id}/update"] = a.idempotent(a.updateIncident)
		h["POST /pipeline/alerts"] = a.idempotent(a.reportLeak)
		h["POST /pipeline/alerts/{id}/acknowledge"] = a.idempotent(a.acknowledgeAlert)
		h["POST /pipeline/alerts/{id}/resolve"] = a.idempotent(a.resolveAlert)
	}
}

// answer is a write's answer: a status other than 200, and headers.
type answer struct {
	status   int
	location string
	body     any
}

// writer is a write route's code.
type writer func(r *http.Request) (answer, error)

// maxReason bounds an override's reason.
const maxReason = 500

// The request bodies mark their optional members omitempty: decoding
// ignores it, and the OpenAPI document reads it as "optional".
type actuateBody struct {
	Command  string                  `json:"command,omitempty"`
	Params   *domain.ActuationParams `json:"params,omitempty"`
	Override *struct {
		Reason string `json:"reason"`
	} `json:"override,omitempty"`
}

func (a *API) actuate(r *http.Request) (answer, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return answer{}, err
	}
	if err := noQuery(r); err != nil {
		return answer{}, err
	}
	if err := mayUse(r, id); err != nil {
		return answer{}, err
	}
	var body actuateBody
	if _, err := decodeBody(r, &body, true); err != nil {
		return answer{}, err
	}
	req := actuation.Request{ValveID: id, Command: body.Command, KeyID: keyID(r)}
	if req.Command == "" {
		req.Command = domain.CommandTorqueTest // the old service's meaning of an empty request
	}
	if body.Params != nil {
		req.Params = *body.Params
	}
	if body.Override != nil {
		reason := strings.TrimSpace(body.Override.Reason)
		if reason == "" || utf8.RuneCountInString(reason) > maxReason {
			return answer{}, badRequest("override.reason must be 1 to 500 characters")
		}
		if p, ok := principalOf(r); !ok || !p.Has(string(routes.ValvesOverride)) {
			return answer{}, forbidden("an override needs a key with the scope valves:override")
		}
		req.OverrideReason = reason
	}
	if err := req.Validate(); err != nil {
		return answer{}, err
	}
	act, err := a.w.actuator.Actuate(r.Context(), req)
	a.count(r, "Actuations", act.State, metrics.Dimension{Name: "Command", Value: req.Command}, err)
	if err != nil {
		return answer{}, err
	}
	loc := "/valves/" + id + "/actuations/" + act.ID
	return answer{status: http.StatusAccepted, location: loc, body: accepted{
		ActuationID: act.ID, Command: act.Command, Location: loc, OK: true, State: act.State, ValveID: id,
	}}, nil
}

// accepted is the 202 of an actuation (docs/API.md).
type accepted struct {
	ActuationID string `json:"actuation_id"`
	Command     string `json:"command"`
	Location    string `json:"location"`
	OK          bool   `json:"ok"`
	State       string `json:"state"`
	ValveID     string `json:"valve_id"`
}

type incidentBody struct {
	Title           string   `json:"title"`
	Severity        string   `json:"severity"`
	AffectedModules []string `json:"affected_modules,omitempty"`
	Description     string   `json:"description,omitempty"`
}

func (a *API) createIncident(r *http.Request) (answer, error) {
	if err := noQuery(r); err != nil {
		return answer{}, err
	}
	var body incidentBody
	if _, err := decodeBody(r, &body, false); err != nil {
		return answer{}, err
	}
	in, timeline, err := a.w.incidents.Create(r.Context(), incidents.Opening{
		Title: body.Title, Severity: body.Severity, AffectedModules: body.AffectedModules,
		Description: body.Description, KeyID: keyID(r),
	})
	if err != nil {
		return answer{}, err
	}
	a.count(r, "IncidentsOpened", "", metrics.Dimension{Name: "Severity", Value: in.Severity}, nil)
	return answer{status: http.StatusCreated, location: "/incidents/" + in.ID, body: withTimeline(in, timeline)}, nil
}

func withTimeline(in domain.Incident, tl []domain.TimelineEntry) incidentWithTimeline {
	return incidentWithTimeline{in, nonNil(tl)}
}

type updateBody struct {
	Status     *string `json:"status,omitempty"`
	RootCause  *string `json:"root_cause,omitempty"`
	Resolution *string `json:"resolution,omitempty"`
	Version    *int    `json:"version,omitempty"`
}

func (a *API) updateIncident(r *http.Request) (answer, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return answer{}, err
	}
	if err := noQuery(r); err != nil {
		return answer{}, err
	}
	var body updateBody
	if _, err := decodeBody(r, &body, false); err != nil {
		return answer{}, err
	}
	in, tl, err := a.w.incidents.Apply(r.Context(), incidents.Update{
		ID: id, Status: body.Status, RootCause: body.RootCause, Resolution: body.Resolution,
		Version: body.Version, KeyID: keyID(r),
	})
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusOK, body: withTimeline(in, tl)}, nil
}

type leakBody struct {
	Section        string           `json:"section"`
	Severity       string           `json:"severity"`
	VolumeEstimate *float64         `json:"volume_estimate,omitempty"`
	Location       *domain.Location `json:"location,omitempty"`
	Notes          string           `json:"notes,omitempty"`
}

func (a *API) reportLeak(r *http.Request) (answer, error) {
	if err := noQuery(r); err != nil {
		return answer{}, err
	}
	var body leakBody
	if _, err := decodeBody(r, &body, false); err != nil {
		return answer{}, err
	}
	if domain.ValidID(body.Section) {
		if err := mayUse(r, body.Section); err != nil {
			return answer{}, err
		}
	}
	res, err := a.w.leaks.Report(r.Context(), leaks.Report{
		Section: body.Section, Severity: body.Severity, VolumeEstimate: body.VolumeEstimate,
		Location: body.Location, Notes: body.Notes, KeyID: keyID(r),
	})
	if err != nil {
		return answer{}, err
	}
	a.count(r, "Alerts", "", metrics.Dimension{Name: "Severity", Value: res.Alert.Severity}, nil)
	if res.Opened {
		a.count(r, "IncidentsOpened", "", metrics.Dimension{Name: "Severity", Value: res.Incident.Severity}, nil)
	}
	return answer{status: http.StatusCreated, body: reportedLeak{res.Alert, res.Opened}}, nil
}

// reportedLeak is POST /pipeline/alerts's answer: the alert, and whether it
// opened an incident (else it joined one).
type reportedLeak struct {
	domain.Alert
	IncidentOpened bool `json:"incident_opened"`
}

func (a *API) acknowledgeAlert(r *http.Request) (answer, error) {
	return a.moveAlert(r, a.w.leaks.Acknowledge)
}

func (a *API) resolveAlert(r *http.Request) (answer, error) {
	return a.moveAlert(r, a.w.leaks.Resolve)
}

func (a *API) moveAlert(r *http.Request, move func(ctx context.Context, id, keyID string) (domain.Alert, error)) (answer, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return answer{}, err
	}
	if err := noQuery(r); err != nil {
		return answer{}, err
	}
	// These routes take no body; one that is there must still be JSON.
	var none struct{}
	if _, err := decodeBody(r, &none, true); err != nil {
		return answer{}, err
	}
	al, err := a.cfg.Store.Alert(r.Context(), id)
	if err != nil {
		return answer{}, err
	}
	if err := mayUse(r, al.Section); err != nil {
		return answer{}, err
	}
	al, err = move(r.Context(), id, keyID(r))
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusOK, body: al}, nil
}

// counterKey names a domain metric's layout: a struct, so that looking it
// up allocates nothing.
type counterKey struct{ name, dim, value, result string }

// count emits one domain metric: name by function, the given dimension and,
// for outcomes, the result (the state reached, or the error's class). Each
// combination's layout is built once: the dimension values come from the
// domain's enums (commands, severities, states, error classes), so there
// are few of them.
func (a *API) count(r *http.Request, name, result string, dim metrics.Dimension, err error) {
	if err != nil {
		result = classify(err).class
	}
	key := counterKey{name, dim.Name, dim.Value, result}
	a.countersMu.RLock()
	l, ok := a.counters[key]
	a.countersMu.RUnlock()
	if !ok {
		dims := []metrics.Dimension{{Name: "Function", Value: a.cfg.Function}, dim}
		if result != "" {
			dims = append(dims, metrics.Dimension{Name: "Result", Value: result})
		}
		var lerr error
		if l, lerr = a.cfg.Metrics.Layout(dims, []metrics.Metric{{Name: name, Unit: metrics.Count}}); lerr != nil {
			a.cfg.Logger.Error("emit metrics", "metric", name, "error", lerr)
			return
		}
		a.countersMu.Lock()
		if a.counters == nil {
			a.counters = map[counterKey]*metrics.Layout{}
		}
		a.counters[key] = l
		a.countersMu.Unlock()
	}
	// On the request's own line when there is one (one write to the log,
	// not two), else on a line of its own.
	if n, ok := r.Context().Value(noteCtxKey{}).(*requestNote); ok {
		n.counts = append(n.counts, l)
		return
	}
	a.log.countLine(r, l)
}
