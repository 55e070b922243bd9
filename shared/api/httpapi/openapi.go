package httpapi

import (
	"net/http"
	"sync"

	"github.com/plainview/serverless/shared/contract/openapi"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/core/domain"
)

// The OpenAPI document (openapi.yaml, GET /openapi.json) is built from the
// route table and the spec table below, which names the Go types of each
// route's query, body and answers. The table lives here, beside the
// handlers, because it names their types, most of them unexported; the
// openapi package turns it into the document and cannot import this one
// (this one serves its document).

// OpenAPI builds the API's OpenAPI document.
func OpenAPI() (*openapi.Document, error) {
	return openapi.Build(openapi.Info{
		Title:   "Plainview API",
		Version: "1.0.0",
		Description: "Valves, pipeline leaks, incidents and flow analytics. " +
			"Errors always have the shape {\"error\": {\"code\", \"message\"}}; " +
			"listings are newest first, paged with limit and cursor.",
	}, routes.Table(), openAPISpecs(), openAPIMembers())
}

// openAPISpecs is the spec table: one entry per route of routes.Table(),
// keyed "METHOD /path" as in the table. To add a route's entry, name its
// answer's type (a named struct, not a map or an anonymous struct), and
// its body's type and query if it has them, for example:
//
//	"POST /valves": {
//		Body: newValveBody{}, Idempotent: true,
//		Responses: []openapi.Response{{Status: http.StatusCreated, Body: valveView{}, Location: true}},
//	},
//
// Errors lists error statuses beyond those the route has by its kind
// (openapi.Build adds 400 and 429 everywhere; 401 and 403 with a scope;
// 404 with a path parameter; 413 and 415 with a body; 409 and 422 when
// Idempotent). Request body members are optional when omitempty.
func openAPISpecs() map[string]openapi.Op {
	post := func(body any, status int, answer any) openapi.Op {
		return openapi.Op{Body: body, Idempotent: true, Responses: []openapi.Response{{Status: status, Body: answer}}}
	}
	// created: a 201 with the Location of what the request made.
	created := func(body, answer any) openapi.Op {
		op := post(body, http.StatusCreated, answer)
		op.Responses[0].Location = true
		return op
	}
	// retire: a move that takes no body (an empty object at most).
	retire := func(answer any) openapi.Op {
		op := post(struct{}{}, http.StatusOK, answer)
		op.BodyOptional = true
		return op
	}
	actuate := post(actuateBody{}, http.StatusAccepted, accepted{})
	actuate.BodyOptional = true
	actuate.Responses[0].Location = true
	actuate.Errors = []int{http.StatusServiceUnavailable}
	moveAlert := retire(domain.Alert{})

	asset := openapi.Param{Name: "asset", Description: "only events of this asset (valve or section)", Schema: openapi.Schema{"type": "string"}}
	return map[string]openapi.Op{
		"GET /":             {Responses: openapi.OK(serviceInfo{})},
		"GET /health":       {Responses: openapi.OK(healthReport{})},
		"GET /livez":        {Responses: openapi.OK(probe{})},
		"GET /readyz":       {Responses: openapi.OK(probe{}), Errors: []int{http.StatusServiceUnavailable}},
		"GET /modules":      {Responses: openapi.OK([]domain.Module{})},
		"GET /openapi.json": {Responses: openapi.OK(map[string]any{})},

		"GET /valves": {
			Query: []openapi.Param{{Name: "retired", Description: "true: the retired valves too (default false: those in service)",
				Schema: openapi.Schema{"type": "string", "enum": []any{"true", "false"}}},
				{Name: "limit", Description: "page size, 1 to 200 (default 200); a page may hold fewer while a Link names the next",
					Schema: openapi.Schema{"type": "integer", "minimum": 1, "maximum": 200}},
				{Name: "cursor", Description: "the cursor of the Link header's next page", Schema: openapi.Schema{"type": "string", "minLength": 1}}},
			// A plain array, as the first service answered; the next
			// page is in the Link header.
			Responses: []openapi.Response{{Status: http.StatusOK, Body: []valveView{}, Link: true}},
		},
		"GET /valves/{id}":                           {Responses: openapi.OK(valveView{})},
		"GET /valves/{id}/health":                    {Responses: openapi.OK(valveHealthReport{})},
		"GET /valves/{id}/actuations":                {Query: openapi.Listing(), Responses: openapi.OK(listing[domain.Actuation]{})},
		"GET /valves/{id}/actuations/{actuation_id}": {Responses: openapi.OK(domain.Actuation{})},
		"POST /valves/{id}/actuate":                  actuate,

		"GET /incidents":               {Responses: openapi.OK(incidentsOverview{})},
		"POST /incidents":              created(incidentBody{}, incidentWithTimeline{}),
		"GET /incidents/health":        {Responses: openapi.OK(domain.IncidentHealth{})},
		"GET /incidents/{id}":          {Responses: openapi.OK(incidentWithTimeline{})},
		"GET /incidents/{id}/timeline": {Responses: openapi.OK(incidentTimeline{})},
		"POST /incidents/{id}/update":  post(updateBody{}, http.StatusOK, incidentWithTimeline{}),

		"GET /pipeline/alerts":                   {Responses: openapi.OK(alertsOverview{})},
		"POST /pipeline/alerts":                  post(leakBody{}, http.StatusCreated, reportedLeak{}),
		"POST /pipeline/alerts/{id}/acknowledge": moveAlert,
		"POST /pipeline/alerts/{id}/resolve":     moveAlert,
		"GET /pipeline/health": {Query: []openapi.Param{
			{Name: "limit", Description: "sections in pressure_profile, 1 to 200 (default 200)", Schema: openapi.Schema{"type": "integer", "minimum": 1, "maximum": 200}},
			openapi.Cursor()}, Responses: openapi.OK(pipelineReport{})},
		"GET /pipeline/sections/{section}": {Responses: openapi.OK(sectionDetail{})},

		"POST /valves":                             created(newValveBody{}, valveView{}),
		"POST /valves/{id}/update":                 post(valveChangeBody{}, http.StatusOK, valveView{}),
		"POST /valves/{id}/retire":                 retire(valveView{}),
		"POST /pipeline/sections":                  created(newSectionBody{}, sectionView{}),
		"POST /pipeline/sections/{section}/update": post(sectionChangeBody{}, http.StatusOK, sectionView{}),
		"POST /pipeline/sections/{section}/retire": retire(sectionView{}),

		"GET /flow/health":    {Responses: openapi.OK(flowHealthReport{})},
		"GET /flow/metrics":   {Responses: openapi.OK(flowMetricsReport{})},
		"GET /flow/anomalies": {Query: openapi.Listing(), Responses: openapi.OK(listing[domain.Anomaly]{})},
		"GET /telemetry": {
			Query: []openapi.Param{
				{Name: "device", Description: "only this device's readings", Schema: openapi.Schema{"type": "string"}},
				{Name: "metric", Description: "only readings of this metric, with it alone; needs device", Schema: openapi.Schema{"$ref": "#/components/schemas/Metric"}},
				{Name: "from", Description: "RFC 3339; default: a day before to", Schema: openapi.Schema{"type": "string", "format": "date-time"}},
				{Name: "to", Description: "RFC 3339; default: now; at most 31 days after from", Schema: openapi.Schema{"type": "string", "format": "date-time"}},
				openapi.Limit(), openapi.Cursor(),
			},
			Responses: openapi.OK(listing[domain.Reading]{}),
		},
		"GET /telemetry/series": {
			Query: []openapi.Param{
				{Name: "device", Required: true, Description: "the device", Schema: openapi.Schema{"type": "string"}},
				{Name: "metric", Required: true, Description: "the metric", Schema: openapi.Schema{"$ref": "#/components/schemas/Metric"}},
				{Name: "from", Description: "RFC 3339; default: a day before to; the first step starts here (over a day: at the hour that holds it)", Schema: openapi.Schema{"type": "string", "format": "date-time"}},
				{Name: "to", Description: "RFC 3339; default: now; at most 30 days after from", Schema: openapi.Schema{"type": "string", "format": "date-time"}},
				{Name: "step", Required: true, Description: "a duration of at least 1s (30s, 5m, 1h); at most 1,000 steps between from and to, else 400; over a day, whole hours (1h, 6h), else 400", Schema: openapi.Schema{"type": "string"}},
			},
			Responses: openapi.OK(seriesReport{}),
		},
		"GET /events": {
			Query: []openapi.Param{
				openapi.Limit(), openapi.Cursor(),
				{Name: "type", Description: "only events of this type", Schema: openapi.Schema{"$ref": "#/components/schemas/EventType"}},
				asset,
				{Name: "since", Description: "a poll_cursor or next_cursor: what came after it, oldest first (not with cursor)", Schema: openapi.Schema{"type": "string", "minLength": 1}},
			},
			Headers: []openapi.Param{{Name: "Last-Event-ID", Schema: openapi.Schema{"type": "string", "minLength": 1},
				Description: "with Accept: text/event-stream, the id of the last event received: the stream resumes after it (EventSource sends it when it reconnects)"}},
			// The first page has a poll_cursor; a page after since has not.
			Responses: []openapi.Response{{Status: http.StatusOK, Body: openapi.OneOf{eventListing{}, listing[domain.Event]{}},
				EventStream: "With Accept: text/event-stream: server-sent events. A heartbeat at once and every 5 s (event: telemetry.tick, " +
					`data: {"type":"telemetry.tick","at":<unix ms>}), then each new event in order: id: <its cursor>, event: <its type>, ` +
					"data: <the event as JSON, as in the listing's items>. Only type and asset apply (others: 400). The server ends the " +
					"stream within 15 minutes; reconnect with Last-Event-ID to resume without loss or repeat."}},
		},
	}
}

// NewOpenAPIHandler serves GET /openapi.json (Config.OpenAPI). The document
// is built on the first request, not when the function starts, so a cold
// start does not pay for it.
func NewOpenAPIHandler() http.Handler { return &openAPIHandler{} }

type openAPIHandler struct {
	once sync.Once
	body []byte
	err  error
}

func (h *openAPIHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := noQuery(r); err != nil {
		fail(w, r, err)
		return
	}
	h.once.Do(func() {
		doc, err := OpenAPI()
		if err == nil {
			h.body, err = doc.JSON()
		}
		h.err = err
	})
	if h.err != nil {
		fail(w, r, h.err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(h.body)
}
