package openapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/adapters/publish"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/config"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/local/mqttbroker"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
	"github.com/plainview/serverless/shared/testkit/functiontest"
)

// patience bounds each wait of the contract test for the MQTT link.
const patience = 10 * time.Second

// system is the API's functions over one seeded table, called through
// their Lambda entry points as API Gateway calls them.
type system struct {
	fn    map[string]apifunc.Handler
	store *store.Store
	calls int
}

func newSystem(t *testing.T) *system {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	env := function.Env{
		Config:  config.Config{Environment: config.Development, TableName: "plainview", Version: "test"},
		Logger:  log,
		Metrics: metrics.NewEmitter(io.Discard, function.Namespace),
		Store:   dynamotest.Store(t),
	}
	if err := env.Store.Seed(t.Context()); err != nil {
		t.Fatalf("seed: %v", err)
	}

	// Commands go to a real MQTT broker on the loopback interface.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	broker, err := mqttbroker.New(ln, log, new(mqttbroker.AllowAll))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Stop() })
	pub, err := publish.NewMQTT(publish.MQTTOptions{URL: "tcp://" + ln.Addr().String(), ClientID: "valves"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	waitConnected(t, pub)

	// The functions as their main.go builds them (apifunc).
	operators := notify.NewLog(log)
	return &system{store: env.Store, fn: map[string]apifunc.Handler{
		routes.FuncReads:     apifunc.Proxy(apifunc.Reads(env, apifunc.Options{})),
		routes.FuncValves:    apifunc.Proxy(apifunc.Valves(env, pub, 0, apifunc.Options{})),
		routes.FuncIncidents: apifunc.Proxy(apifunc.Incidents(env, operators, apifunc.Options{})),
		// GET /events streams: its answer read to the end, as API
		// Gateway reads it, is what the document describes.
		routes.FuncEvents: functiontest.Buffered(apifunc.Stream(apifunc.Events(env, apifunc.Options{}), apifunc.DefaultStall)),
	}}
}

// waitConnected returns once the publisher has its link to the broker.
func waitConnected(t *testing.T, p *publish.MQTT) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		err := p.Publish(ctx, "plainview/contract-test", []byte("{}"))
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, publish.ErrNotConnected) || time.Now().After(deadline) {
			t.Fatalf("publisher: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// request is one call of the API.
type request struct {
	method, path, query string
	body                string
	contentType         string // default application/json when there is a body
	scopes              string // the authorizer's scopes for the key; "" for no key
}

// answer is a function's response as net/http has it, and its body.
type answer struct {
	req  request
	resp *http.Response
	body string
}

// do calls the route's function with the event API Gateway would send.
func (s *system) do(t *testing.T, r request) answer {
	t.Helper()
	route, params, ok := routes.Match(routes.Table(), r.method, r.path)
	if !ok {
		t.Fatalf("%s %s is no route of the table", r.method, r.path)
	}
	s.calls++
	q, err := url.ParseQuery(r.query)
	if err != nil {
		t.Fatal(err)
	}
	ev := events.APIGatewayProxyRequest{
		Resource: route.Path, Path: r.path, HTTPMethod: r.method,
		Headers: map[string]string{}, MultiValueHeaders: map[string][]string{},
		PathParameters: params, Body: r.body,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: fmt.Sprintf("contract-%d", s.calls), Stage: "prod",
			ResourcePath: route.Path, HTTPMethod: r.method, Path: "/prod" + r.path,
		},
	}
	if len(q) > 0 {
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = map[string]string{}, map[string][]string(q)
		for k, v := range q {
			ev.QueryStringParameters[k] = v[len(v)-1]
		}
	}
	for k, v := range r.headers() {
		ev.Headers[k], ev.MultiValueHeaders[k] = v, []string{v}
	}
	if r.scopes != "" {
		ev.RequestContext.Authorizer = map[string]any{"principalId": "ops", "key_id": "ops", "scopes": r.scopes, "assets": "*"}
	}
	resp, err := s.fn[route.Function](t.Context(), ev)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	h := http.Header{}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return answer{req: r, body: resp.Body, resp: &http.Response{
		StatusCode: resp.StatusCode, Status: fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode)),
		Header: h, Body: io.NopCloser(strings.NewReader(resp.Body)),
	}}
}

func (r request) headers() map[string]string {
	h := map[string]string{"Accept": "application/json"}
	if r.body != "" {
		h["Content-Type"] = "application/json"
		if r.contentType != "" {
			h["Content-Type"] = r.contentType
		}
	}
	if r.scopes != "" {
		h["X-API-Key"] = "pv_ops_" + strings.Repeat("0", 64)
	}
	return h
}

// httpRequest is the request as a client sent it, for the validator.
func (r request) httpRequest(t *testing.T) *http.Request {
	t.Helper()
	u := "https://api.plainview.example" + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	req, err := http.NewRequest(r.method, u, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.headers() {
		req.Header.Set(k, v)
	}
	return req
}

// contract validates requests and answers against the document.
type contract struct {
	v       validator.Validator
	covered map[string]bool // routes called, by "METHOD /path"
}

func newContract(t *testing.T, doc []byte) *contract {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	return &contract{v: v, covered: map[string]bool{}}
}

// check validates an answer, and the request unless it breaks the
// document on purpose, and that the status is the one wanted.
func (c *contract) check(t *testing.T, a answer, status int, requestValid bool) {
	t.Helper()
	name := a.req.method + " " + a.req.path
	if a.req.query != "" {
		name += "?" + a.req.query
	}
	if a.resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d; body %s", name, a.resp.StatusCode, status, a.body)
	}
	route, _, _ := routes.Match(routes.Table(), a.req.method, a.req.path)
	c.covered[route.Method+" "+route.Path] = true
	if requestValid {
		if ok, errs := c.v.ValidateHttpRequest(a.req.httpRequest(t)); !ok {
			t.Errorf("%s: the request breaks the document:%s", name, describe(errs))
		}
	}
	a.resp.Body = io.NopCloser(strings.NewReader(a.body))
	if ok, errs := c.v.ValidateHttpResponse(a.req.httpRequest(t), a.resp); !ok {
		t.Errorf("%s: the %d answer breaks the document:%s\nbody %s", name, a.resp.StatusCode, describe(errs), a.body)
	}
}

func describe[E interface{ Error() string }](errs []E) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n  " + e.Error())
		if ve, ok := any(e).(interface{ GetSchemaErrors() []string }); ok {
			for _, s := range ve.GetSchemaErrors() {
				b.WriteString("\n    " + s)
			}
		}
	}
	return b.String()
}

// field reads a top-level string member of a JSON answer.
func field(t *testing.T, a answer, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("%s %s: %v; body %s", a.req.method, a.req.path, err, a.body)
	}
	s, _ := m[name].(string)
	if s == "" {
		t.Fatalf("%s %s: no %s in %s", a.req.method, a.req.path, name, a.body)
	}
	return s
}

// seedReadings gives the flow and telemetry routes something to analyse:
// steady flow from v-101 over the last half hour, then a surge (an
// anomaly), and a section gauge's pressure.
func seedReadings(t *testing.T, st *store.Store) {
	t.Helper()
	now := time.Now().UTC()
	var rs []domain.Reading
	for i, flow := range []float64{100, 101, 99, 100, 100, 180} {
		at := now.Add(time.Duration(i-6) * 5 * time.Minute)
		rs = append(rs,
			domain.Reading{ID: fmt.Sprintf("r-v-%d", i), Device: "v-101", Asset: "v-101", At: at,
				Values: map[string]float64{domain.MetricFlowRate: flow, domain.MetricTemperature: 40 + float64(i), domain.MetricPressure: 2_000_000}},
			domain.Reading{ID: fmt.Sprintf("r-g-%d", i), Device: "A-North", Asset: "A-North", At: at,
				Values: map[string]float64{domain.MetricPressureKPa: 410}})
	}
	// Through ingestion's recording, so that the flow routes' aggregates
	// and anomalies are there too.
	if _, err := ingest.New(st, nil, nil, nil, nil, nil).WithAnomalies(st).Record(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
}

// Every route answers as the document says: each real answer of the
// functions, status, headers and body, validates against it, and so does
// each request. Schemas allow no member they do not declare, so a field a
// handler adds without the document fails here.
func TestAnswersFollowTheDocument(t *testing.T) {
	s := newSystem(t)
	seedReadings(t, s.store)
	const (
		actuate = "read valves:actuate"
		inc     = "incidents:write"
		alerts  = "alerts:write"
		admin   = "admin"
	)
	get := func(path, query string) request { return request{method: http.MethodGet, path: path, query: query} }
	post := func(path, body, scopes string) request {
		return request{method: http.MethodPost, path: path, body: body, scopes: scopes}
	}

	// The document the reads function serves is the one to check against.
	served := s.do(t, get("/openapi.json", ""))
	if served.resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %s", served.resp.StatusCode, served.body)
	}
	c := newContract(t, []byte(served.body))
	c.check(t, served, http.StatusOK, true)
	ok := func(r request) answer {
		t.Helper()
		a := s.do(t, r)
		c.check(t, a, http.StatusOK, true)
		return a
	}
	status := func(r request, want int, requestValid bool) answer {
		t.Helper()
		a := s.do(t, r)
		c.check(t, a, want, requestValid)
		return a
	}

	for _, p := range []string{"/", "/health", "/livez", "/readyz", "/modules", "/valves", "/valves/v-101", "/valves/v-101/health"} {
		ok(get(p, ""))
	}

	act := status(post("/valves/v-101/actuate", `{"command":"OPEN","params":{"speed":0.5}}`, actuate), http.StatusAccepted, true)
	actuationID := field(t, act, "actuation_id")
	if loc := act.resp.Header.Get("Location"); loc != "/valves/v-101/actuations/"+actuationID {
		t.Errorf("actuate: Location %q", loc)
	}
	status(post("/valves/v-101/actuate", `{"command":"CLOSE"}`, actuate), http.StatusConflict, true) // one open actuation at a time
	status(post("/valves/v-102/actuate", "", actuate), http.StatusAccepted, true)                    // empty: TORQUE_TEST
	ok(get("/valves/v-101/actuations", ""))
	ok(get("/valves/v-101/actuations", "limit=1"))
	ok(get("/valves/v-101/actuations/"+actuationID, ""))

	opened := status(post("/incidents", `{"title":"Pump noise","severity":"warning","affected_modules":["valve-ops"],"description":"grinding at v-102"}`, inc), http.StatusCreated, true)
	incidentID := field(t, opened, "id")
	status(post("/incidents", `{"title":"Door open","severity":"info"}`, inc), http.StatusCreated, true)
	ok(post("/incidents/"+incidentID+"/update", `{"status":"investigating","root_cause":"worn bearing"}`, inc))
	status(post("/incidents/"+incidentID+"/update", `{"status":"active"}`, inc), http.StatusUnprocessableEntity, true) // backwards
	ok(post("/incidents/"+incidentID+"/update", `{"resolution":"bearing replaced","version":2}`, inc))
	for _, p := range []string{"/incidents", "/incidents/health", "/incidents/" + incidentID, "/incidents/" + incidentID + "/timeline"} {
		ok(get(p, ""))
	}

	leak := status(post("/pipeline/alerts", `{"section":"A-North","severity":"critical","volume_estimate":12.5,"location":{"lat":52.1,"lon":4.3},"notes":"sheen on the water"}`, alerts), http.StatusCreated, true)
	alertID := field(t, leak, "id")
	status(post("/pipeline/alerts", `{"section":"B-Central","severity":"minor"}`, alerts), http.StatusCreated, true)
	for _, p := range []string{"/pipeline/alerts", "/pipeline/health", "/pipeline/sections/A-North", "/pipeline/sections/C-South"} {
		ok(get(p, ""))
	}
	ok(post("/pipeline/alerts/"+alertID+"/acknowledge", "", alerts))
	ok(post("/pipeline/alerts/"+alertID+"/resolve", "{}", alerts))

	for _, p := range []string{"/flow/health", "/flow/metrics", "/flow/anomalies"} {
		ok(get(p, ""))
	}
	ok(get("/telemetry", ""))
	ok(get("/telemetry", "device=v-101&metric=flow_rate_lpm&limit=2"))
	ok(get("/telemetry/series", "device=v-101&metric=flow_rate_lpm&step=10m"))
	status(get("/telemetry/series", "device=v-101&metric=flow_rate_lpm&step=1s"), http.StatusBadRequest, false)
	status(get("/telemetry", "metric=flow_rate_lpm"), http.StatusBadRequest, false)
	page := ok(get("/events", "limit=2"))
	ok(get("/events", "cursor="+url.QueryEscape(field(t, page, "next_cursor"))))
	ok(get("/events", "type=incident.created&asset=v-101"))
	ok(get("/events", "since="+url.QueryEscape(field(t, page, "poll_cursor"))))

	added := status(post("/valves", `{"id":"v-201","name":"Bypass D4","location":"yard 2","estimated_maintenance":"2030-01-01T00:00:00Z","thresholds":{"temperature_warning_c":55}}`, admin), http.StatusCreated, true)
	if loc := added.resp.Header.Get("Location"); loc != "/valves/v-201" {
		t.Errorf("POST /valves: Location %q", loc)
	}
	status(post("/valves", `{"id":"v-202","name":"Bare"}`, admin), http.StatusCreated, true)
	status(post("/valves", `{"id":"v-201","name":"again"}`, admin), http.StatusConflict, true)
	ok(post("/valves/v-201/update", `{"name":"Bypass D5","thresholds":null}`, admin))
	ok(post("/valves/v-201/retire", "", admin))
	ok(get("/valves/v-201", ""))
	ok(get("/valves", "retired=true"))
	status(post("/pipeline/sections", `{"section":"F-North","location":"km 12-18"}`, admin), http.StatusCreated, true)
	ok(post("/pipeline/sections/F-North/update", `{"location":"km 12-19"}`, admin))
	ok(post("/pipeline/sections/F-North/retire", "{}", admin))

	// Errors are answers too.
	status(get("/valves/v-999", ""), http.StatusNotFound, true)
	status(get("/incidents/no-such-incident/timeline", ""), http.StatusNotFound, true)
	status(get("/telemetry", "limit=0"), http.StatusBadRequest, false)
	status(get("/telemetry", "from=yesterday"), http.StatusBadRequest, false)
	status(post("/incidents", `{"title":`, inc), http.StatusBadRequest, false)
	status(post("/incidents", `{"title":"x","severity":"grave"}`, inc), http.StatusBadRequest, false) // the enum refuses it too
	status(request{method: http.MethodPost, path: "/pipeline/alerts", body: "section=A-North", contentType: "text/plain", scopes: alerts}, http.StatusUnsupportedMediaType, false)
	status(post("/valves/v-101/actuate", `{"command":"OPEN"}`, ""), http.StatusUnauthorized, false)
	status(post("/valves/v-101/actuate", `{"command":"OPEN"}`, "read"), http.StatusForbidden, true)

	// Every route was called.
	for _, r := range routes.Table() {
		key := r.Method + " " + r.Path
		if !c.covered[key] {
			t.Errorf("%s has no call in this test: add one, so its answers are checked against the document", key)
		}
	}
}

// The check above can fail: an answer with a member the document does not
// declare, or without one it requires, breaks it.
func TestAnAnswerTheDocumentDoesNotDescribeFails(t *testing.T) {
	s := newSystem(t)
	c := newContract(t, apiDocument(t))
	a := s.do(t, request{method: http.MethodGet, path: "/valves/v-101"})
	var v map[string]any
	if err := json.Unmarshal([]byte(a.body), &v); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(map[string]any){
		"an undeclared member": func(m map[string]any) { m["colour"] = "red" },
		"a missing member":     func(m map[string]any) { delete(m, "status") },
		"a wrong type":         func(m map[string]any) { m["connected"] = "yes" },
	} {
		m := map[string]any{}
		for k, x := range v {
			m[k] = x
		}
		change(m)
		b, _ := json.Marshal(m)
		resp := *a.resp
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		if ok, _ := c.v.ValidateHttpResponse(a.req.httpRequest(t), &resp); ok {
			t.Errorf("%s: the answer validates; body %s", name, b)
		}
	}
}
