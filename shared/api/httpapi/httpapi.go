// Package httpapi is the Plainview HTTP API as net/http handlers. Each
// Lambda function serves the routes of the route table that name it; the
// function binary puts the handler behind aws-lambda-go-api-proxy, and the
// local gateway invokes that same entry point.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"

	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
)

// Reader is what the read routes need from the store.
type Reader interface {
	Ping(ctx context.Context) error
	Valves(ctx context.Context) ([]domain.Valve, error)
	ValvesPage(ctx context.Context, retired bool, p domain.Page) ([]domain.Valve, string, error)
	Valve(ctx context.Context, id string) (domain.Valve, error)
	Actuations(ctx context.Context, valveID string, p domain.Page) ([]domain.Actuation, string, error)
	Actuation(ctx context.Context, valveID, id string) (domain.Actuation, error)
	UnresolvedIncidents(ctx context.Context) ([]domain.Incident, error)
	RecentIncidents(ctx context.Context, since time.Time, limit int) ([]domain.Incident, error)
	Incident(ctx context.Context, id string) (domain.Incident, []domain.TimelineEntry, error)
	IncidentCounts(ctx context.Context) (domain.IncidentCounts, error)
	ActiveAlerts(ctx context.Context, section string) ([]domain.Alert, error)
	RecentAlerts(ctx context.Context, limit int) ([]domain.Alert, error)
	SectionsPage(ctx context.Context, p domain.Page) ([]domain.Section, string, error)
	Section(ctx context.Context, name string) (domain.Section, error)
	Events(ctx context.Context, f domain.EventFilter, p domain.Page) ([]domain.Event, string, error)
	EventsSince(ctx context.Context, f domain.EventFilter, cursor string, limit int) ([]domain.Event, string, error)
	EventCursor(f domain.EventFilter, eventID string) (string, error)
	Alert(ctx context.Context, id string) (domain.Alert, error)
	Readings(ctx context.Context, device string, from, to time.Time, page domain.Page) ([]domain.Reading, string, error)
	EachReading(ctx context.Context, device string, from, to time.Time, f func(domain.Reading) error) error
	Rollups(ctx context.Context, device string, from, to time.Time) ([]domain.Rollup, error)
	FlowStats(ctx context.Context, from, to time.Time) (map[string]domain.MetricStat, error)
	FlowCurrent(ctx context.Context, since time.Time) ([]domain.CurrentFlow, error)
	Anomalies(ctx context.Context, from, to, afterAt time.Time, afterID string, limit int) ([]domain.Anomaly, error)
	AnomalyCounts(ctx context.Context, from, to time.Time) (domain.AnomalyCounts, error)
}

// Pinger checks a dependency, such as the MQTT broker, for /health.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Routes adds the handlers of a group of routes to h, by pattern. A group
// with services of its own is built from them (ActuationRoutes(act)), so
// a function cannot name a group without what it needs. A function names
// the groups it serves (Config.Routes), so that its binary links the code
// of those and no other: all of them together would put a write function
// over its size goal (docs/decisions.md).
type Routes func(a *API, h map[string]http.Handler)

// Config is what a handler is built from.
type Config struct {
	Function string // the function whose routes to serve (routes.FuncReads, ...)
	// Routes are the groups of handlers the function's code has; a route
	// of the function's table without one answers 501.
	Routes  []Routes
	Version string
	Store   Reader
	MQTT    Pinger // nil when this function has no MQTT connection: "disabled"
	Logger  *slog.Logger
	Metrics *metrics.Emitter
	Now     func() time.Time // nil means time.Now

	// RequireKeyForReads: read routes need a key with the read scope, as
	// the deployment's REQUIRE_KEY_FOR_READS says.
	RequireKeyForReads bool
	// CORS says which browser origins may read the answers.
	CORS cors.Policy

	// Idempotency keeps the answers of the writes by Idempotency-Key.
	Idempotency Idempotency

	// Stream tunes GET /events as server-sent events; zero: the defaults.
	Stream StreamConfig
}

// API serves the routes of one function.
type API struct {
	cfg      Config
	w        writers  // the services of the write routes the function serves
	unserved []string // routes of the function's table with no code: 501
	started  time.Time
	mux      *http.ServeMux
	log      *requestLog
	// counters holds the layouts of the domain metrics, by name and
	// dimension values (see count).
	countersMu sync.RWMutex
	counters   map[counterKey]*metrics.Layout
}

// writers are the services of the write groups; each group sets its own.
type writers struct {
	actuator  Actuator
	incidents IncidentWriter
	leaks     LeakWriter
	inventory Inventory
}

// New returns the handler of cfg.Function's routes. Routes of the table that
// have no implementation yet answer 501 in the error shape.
func New(cfg Config) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewEmitter(io.Discard, "Plainview")
	}
	a := &API{cfg: cfg, started: cfg.Now(), mux: http.NewServeMux()}
	impl := map[string]http.Handler{}
	for _, add := range cfg.Routes {
		add(a, impl)
	}
	var patterns []string
	for _, r := range routes.Table() {
		if r.Function != cfg.Function {
			continue
		}
		patterns = append(patterns, r.Pattern())
		h, ok := impl[r.Pattern()]
		if !ok {
			h = http.HandlerFunc(notImplemented)
			a.unserved = append(a.unserved, r.Pattern())
		}
		a.mux.Handle(r.Pattern(), a.guard(r, h))
	}
	a.mux.Handle("/", http.HandlerFunc(noRoute))
	a.log = newRequestLog(cfg.Function, cfg.Logger, cfg.Metrics, cfg.Now, patterns)
	return a
}

// Unserved lists the routes that the table gives this function and its
// Config gives no code: they answer 501. A function's wiring test expects
// none, so a route group left out of a function fails its tests rather
// than its callers.
func (a *API) Unserved() []string { return a.unserved }

// ServeHTTP routes the request; anything the table does not hold for this
// function is a 404 in the error shape, as API Gateway answers it.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.cfg.CORS.Apply(w.Header(), r.Header.Get("Origin"))
	a.log.serve(w, r, a.mux.ServeHTTP)
}

// noRoute answers what no route of the function matches, a wrong method
// included: the mux sends it here through the catch-all "/", which every
// pattern of the table is more specific than, so a request is matched
// once.
func noRoute(w http.ResponseWriter, r *http.Request) {
	apierror.Write(w, http.StatusNotFound, apierror.CodeNotFound, "no route for "+r.Method+" "+r.URL.Path)
}

func notImplemented(w http.ResponseWriter, r *http.Request) {
	apierror.Write(w, http.StatusNotImplemented, apierror.CodeNotImplemented, r.Pattern+" is not implemented yet")
}

// handler is a route's code: it returns the value to send as JSON with
// 200, or an error that fail turns into the error shape.
type handler func(r *http.Request) (any, error)

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v, err := h(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		apierror.Write(w, http.StatusInternalServerError, apierror.CodeInternal, "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// statusError is an error with the answer it deserves.
type statusError struct {
	status  int
	code    string
	message string
}

func (e *statusError) Error() string { return e.message }

func badRequest(msg string) error {
	return &statusError{http.StatusBadRequest, apierror.CodeBadRequest, msg}
}
func notFound(msg string) error { return &statusError{http.StatusNotFound, apierror.CodeNotFound, msg} }

func forbidden(msg string) error {
	return &statusError{http.StatusForbidden, apierror.CodeForbidden, msg}
}

// failure is what a client is told of an error, and the class metrics
// count it under.
type failure struct {
	status        int
	code, message string
	class         string // the Result dimension of the domain metrics
	cause         bool   // a 5xx whose cause goes to the request's log line
}

// classify is the one place an error becomes an answer. Errors of the
// domain have their status and their own message; a DynamoDB that does
// not answer is a 503 the client may retry; anything else is a 500. A
// client never sees the text of an error that is not the domain's: a
// plain ErrConflict, say, may carry DynamoDB's cancellation reasons.
func classify(err error) failure {
	var se *statusError
	var op *smithy.OperationError
	var rule *domain.RuleError
	var conflict *domain.ConflictError
	switch {
	case errors.As(err, &se):
		return failure{status: se.status, code: se.code, message: se.message, class: "error"}
	case errors.As(err, &rule):
		return failure{status: http.StatusUnprocessableEntity, code: rule.Code, message: rule.Message, class: rule.Code}
	case errors.As(err, &conflict):
		return failure{status: http.StatusConflict, code: conflict.Code, message: conflict.Message, class: conflict.Code}
	case errors.Is(err, domain.ErrInvalid):
		return failure{status: http.StatusBadRequest, code: apierror.CodeBadRequest, message: strings.TrimPrefix(err.Error(), domain.ErrInvalid.Error()+": "), class: "invalid"}
	case errors.Is(err, actuation.ErrUndeliverable):
		return failure{status: http.StatusServiceUnavailable, code: apierror.CodeUnavailable, message: actuation.ErrUndeliverable.Error(), class: domain.ActuationRejected}
	case errors.Is(err, domain.ErrNotFound):
		return failure{status: http.StatusNotFound, code: apierror.CodeNotFound, message: "no such record", class: "not_found"}
	case errors.Is(err, domain.ErrBadCursor):
		return failure{status: http.StatusBadRequest, code: apierror.CodeBadRequest, message: "cursor: " + err.Error(), class: "error"}
	case errors.Is(err, domain.ErrConflict):
		return failure{status: http.StatusConflict, code: apierror.CodeConflict, message: "the record changed meanwhile; read it again and retry", class: "error"}
	case errors.As(err, &op), errors.Is(err, context.DeadlineExceeded):
		return failure{status: http.StatusServiceUnavailable, code: apierror.CodeUnavailable, message: "a dependency is unavailable, retry later", class: "error", cause: true}
	}
	return failure{status: http.StatusInternalServerError, code: apierror.CodeInternal, message: "internal error", class: "error", cause: true}
}

// retryAfter is the Retry-After, in seconds, of a 503.
const retryAfter = "1"

// fail answers err in the error shape (classify).
func fail(w http.ResponseWriter, r *http.Request, err error) {
	f := classify(err)
	if f.cause {
		noteError(r, err)
	}
	if f.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	apierror.Write(w, f.status, f.code, f.message)
}
