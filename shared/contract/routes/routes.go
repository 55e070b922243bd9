// Package routes declares the HTTP routes of the Plainview API once: the CDK
// stack builds API Gateway from this table, the local gateway serves it, the
// Lambda handlers route with it and the README's API reference is checked
// against it. A route added in one place and missing in another fails a test.
package routes

import (
	"net/http"
	"slices"
	"strings"
)

// Scope is the permission a key needs to call a route.
type Scope string

// The scopes of docs/API.md. Public routes need no key at all.
const (
	Public         Scope = ""
	Read           Scope = "read"
	ValvesActuate  Scope = "valves:actuate"
	ValvesOverride Scope = "valves:override"
	IncidentsWrite Scope = "incidents:write"
	AlertsWrite    Scope = "alerts:write"
	Admin          Scope = "admin"
)

// Function names: routes are grouped into Lambda functions by the
// permissions the code needs, not one function per route.
const (
	// FuncReads serves public and read routes: DynamoDB read only.
	FuncReads = "reads"
	// FuncValves serves actuation (DynamoDB writes and IoT publish) and
	// the inventory of valves and sections (DynamoDB writes).
	FuncValves = "valves"
	// FuncIncidents serves incident and alert writes: DynamoDB writes and
	// the operators' notification topic. Alerts live here because an alert
	// opens or joins an incident in the same transaction.
	FuncIncidents = "incidents"
	// FuncEvents serves the event log, GET /events, which may be a
	// server-sent event stream held open for minutes: a function of its
	// own, so that open streams neither share the 10 s timeout of the
	// reads nor take their concurrency. DynamoDB read only.
	FuncEvents = "events"
)

// Throttle is a token bucket as API Gateway counts it: a steady rate of
// requests per second and a burst, shared by all clients of the route.
type Throttle struct {
	RatePerSecond float64
	Burst         int
}

// The throttles of the route classes (README, "Limits").
var (
	ReadThrottle    = Throttle{RatePerSecond: 100, Burst: 200}
	ActuateThrottle = Throttle{RatePerSecond: 10, Burst: 20}
	WriteThrottle   = Throttle{RatePerSecond: 20, Burst: 40}
	PublicThrottle  = Throttle{RatePerSecond: 100, Burst: 200}
)

// Paths longer than this match no route; it bounds the work of a lookup.
const maxPathSegments = 8

// Route is one method on one API Gateway resource path.
type Route struct {
	Method   string
	Path     string // API Gateway resource path, e.g. /valves/{id}
	Function string
	Scope    Scope
	Throttle Throttle
	Summary  string
	// Stream: the function answers in Lambda's streamed format (a JSON
	// prelude, eight zero bytes, the body) and API Gateway passes the body
	// on as it comes (integration responseTransferMode STREAM, invoked
	// with InvokeWithResponseStream, up to 15 minutes).
	Stream bool
}

// Pattern is the route as a net/http ServeMux pattern ("GET /valves/{id}").
// API Gateway's {name} path parameters and ServeMux wildcards share a syntax;
// "{$}" pins "/" to the root only.
func (r Route) Pattern() string {
	if r.Path == "/" {
		return r.Method + " /{$}"
	}
	return r.Method + " " + r.Path
}

// Table returns every route of the API, in the order of docs/API.md.
func Table() []Route {
	get := func(path, fn string, s Scope, summary string) Route {
		t := ReadThrottle
		if s == Public {
			t = PublicThrottle
		}
		return Route{Method: http.MethodGet, Path: path, Function: fn, Scope: s, Throttle: t, Summary: summary}
	}
	post := func(path, fn string, s Scope, t Throttle, summary string) Route {
		return Route{Method: http.MethodPost, Path: path, Function: fn, Scope: s, Throttle: t, Summary: summary}
	}
	stream := func(r Route) Route {
		r.Stream = true
		return r
	}
	return []Route{
		get("/", FuncReads, Public, "service name and version"),
		get("/health", FuncReads, Public, "health of the service and its dependencies"),
		get("/livez", FuncReads, Public, "liveness"),
		get("/readyz", FuncReads, Public, "readiness: 503 while the database is unreachable"),
		get("/modules", FuncReads, Public, "the product modules"),
		get("/openapi.json", FuncReads, Public, "this API's OpenAPI 3.1 document"),
		get("/valves", FuncReads, Read, "a page of the valves in service with their current state, a plain array (limit, cursor; the next page in the Link header); ?retired=true adds the retired"),
		get("/valves/{id}", FuncReads, Read, "one valve"),
		get("/valves/{id}/health", FuncReads, Read, "a valve's readings, thresholds and health score"),
		get("/valves/{id}/actuations", FuncReads, Read, "a valve's actuation history"),
		get("/valves/{id}/actuations/{actuation_id}", FuncReads, Read, "one actuation"),
		post("/valves/{id}/actuate", FuncValves, ValvesActuate, ActuateThrottle, "actuate a valve"),
		post("/valves", FuncValves, Admin, WriteThrottle, "register a valve, and its device"),
		post("/valves/{id}/update", FuncValves, Admin, WriteThrottle, "change a valve's name, location, maintenance date or thresholds"),
		post("/valves/{id}/retire", FuncValves, Admin, WriteThrottle, "retire a valve: its history stays, it takes no command"),
		get("/incidents", FuncReads, Read, "active and recent incidents"),
		post("/incidents", FuncIncidents, IncidentsWrite, WriteThrottle, "open an incident by hand"),
		get("/incidents/health", FuncReads, Read, "incident statistics"),
		get("/incidents/{id}", FuncReads, Read, "one incident with its timeline"),
		get("/incidents/{id}/timeline", FuncReads, Read, "an incident's timeline, newest first"),
		post("/incidents/{id}/update", FuncIncidents, IncidentsWrite, WriteThrottle, "update an incident"),
		get("/pipeline/alerts", FuncReads, Read, "active leaks, recent history and integrity"),
		post("/pipeline/alerts", FuncIncidents, AlertsWrite, WriteThrottle, "report a leak by hand"),
		post("/pipeline/alerts/{id}/acknowledge", FuncIncidents, AlertsWrite, WriteThrottle, "acknowledge a leak"),
		post("/pipeline/alerts/{id}/resolve", FuncIncidents, AlertsWrite, WriteThrottle, "mark a leak repaired"),
		get("/pipeline/health", FuncReads, Read, "integrity, active leaks, volume lost, pressure per section (a page of sections: limit, cursor)"),
		get("/pipeline/sections/{section}", FuncReads, Read, "one pipeline section"),
		post("/pipeline/sections", FuncValves, Admin, WriteThrottle, "register a pipeline section, and its gauge"),
		post("/pipeline/sections/{section}/update", FuncValves, Admin, WriteThrottle, "change a section's location"),
		post("/pipeline/sections/{section}/retire", FuncValves, Admin, WriteThrottle, "retire a section and its gauge"),
		get("/flow/health", FuncReads, Read, "flow health over recent telemetry"),
		get("/flow/metrics", FuncReads, Read, "current flow metrics, history and statistics"),
		get("/flow/anomalies", FuncReads, Read, "flow anomalies (listing)"),
		get("/telemetry", FuncReads, Read, "device readings (listing)"),
		get("/telemetry/series", FuncReads, Read, "one device's metric in steps: min, max, avg, count and last value of each"),
		stream(get("/events", FuncEvents, Read, "the event log (listing), what came after a cursor, or with Accept: text/event-stream a live stream")),
	}
}

// Functions returns the names of the functions that serve the table, each
// once, in table order.
func Functions(table []Route) []string {
	var names []string
	seen := map[string]bool{}
	for _, r := range table {
		if !seen[r.Function] {
			seen[r.Function] = true
			names = append(names, r.Function)
		}
	}
	return names
}

// Streams reports whether fn serves a streamed route: its entry point then
// answers in Lambda's streamed format, for all its routes.
func Streams(table []Route, fn string) bool {
	for _, r := range table {
		if r.Function == fn && r.Stream {
			return true
		}
	}
	return false
}

// Match finds the route for a method and a concrete path, as API Gateway
// does: literal segments win over {params}. It returns the path parameters.
// ok is false when no route has that path and method.
func Match(table []Route, method, path string) (route Route, params map[string]string, ok bool) {
	segs := split(path)
	if segs == nil {
		return Route{}, nil, false
	}
	best := -1
	for _, r := range table {
		if r.Method != method {
			continue
		}
		p, literals, hit := matchPath(split(r.Path), segs)
		if hit && literals > best {
			best, route, params = literals, r, p
		}
	}
	return route, params, best >= 0
}

func split(path string) []string {
	if !strings.HasPrefix(path, "/") {
		return nil
	}
	if path == "/" {
		return []string{}
	}
	segs := strings.Split(path[1:], "/")
	if len(segs) > maxPathSegments {
		return nil
	}
	return segs
}

func matchPath(tmpl, segs []string) (map[string]string, int, bool) {
	if len(tmpl) != len(segs) {
		return nil, 0, false
	}
	var params map[string]string
	literals := 0
	for i, t := range tmpl {
		if strings.HasPrefix(t, "{") {
			if segs[i] == "" {
				return nil, 0, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[strings.Trim(t, "{}")] = segs[i]
			continue
		}
		if t != segs[i] {
			return nil, 0, false
		}
		literals++
	}
	return params, literals, true
}

// Allow is the Allow header of a path whose routes have methods: those,
// HEAD where there is GET, and OPTIONS (the CORS preflight), in a fixed
// order. The local gateway and API Gateway (infra) answer a method the
// path does not have with 405 and this.
func Allow(methods []string) string {
	all := slices.Clone(methods)
	if slices.Contains(all, http.MethodGet) {
		all = append(all, http.MethodHead)
	}
	all = append(all, http.MethodOptions)
	order := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}
	slices.SortFunc(all, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	return strings.Join(slices.Compact(all), ", ")
}
