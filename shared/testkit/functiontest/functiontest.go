// Package functiontest runs a Lambda function's entry point in a test, as
// the Lambda runtime would: over a seeded table of the test's own, fed the
// sample API Gateway events of events/, with what the function logs and
// emits kept for inspection.
package functiontest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/config"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// EventsDir is where the sample events are, seen from functions/<name>/.
const EventsDir = "../../events"

// Fixture is a function's environment over a seeded table of its own,
// with what the function logs and emits kept for inspection.
type Fixture struct {
	Env     function.Env
	fn      string
	handler func(function.Env) apifunc.Handler
	logs    bytes.Buffer
	emf     bytes.Buffer
}

func New(t *testing.T, fn string, handler func(function.Env) apifunc.Handler) *Fixture {
	t.Helper()
	f := &Fixture{fn: fn, handler: handler}
	f.Env = function.Env{
		Config:  config.Config{Environment: config.Development, TableName: "plainview", Version: "test"},
		Logger:  slog.New(slog.NewJSONHandler(&f.logs, nil)),
		Metrics: metrics.NewEmitter(&f.emf, "Plainview"),
		Store:   dynamotest.Store(t),
	}
	if err := f.Env.Store.Seed(t.Context()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return f
}

// NewStream is New for a function whose answers stream (apifunc.Stream):
// Invoke reads its answer to the end, as API Gateway reads the bytes
// Lambda streams (a JSON prelude, eight zero bytes, the body), and gives
// it as a proxy response. Only for answers that end: a listing, an error.
func NewStream(t *testing.T, fn string, handler func(function.Env) apifunc.StreamHandler) *Fixture {
	t.Helper()
	return New(t, fn, func(env function.Env) apifunc.Handler { return Buffered(handler(env)) })
}

// Buffered is a streamed entry point as a buffered one: it reads the
// answer to the end, as API Gateway reads the bytes Lambda streams, and
// gives it as the proxy response they stand for (Unstream).
func Buffered(h apifunc.StreamHandler) apifunc.Handler {
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		resp, err := h(ctx, ev)
		if err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		defer resp.Close()
		b, err := io.ReadAll(resp)
		if err != nil {
			return events.APIGatewayProxyResponse{}, fmt.Errorf("read streamed answer: %w", err)
		}
		return Unstream(b)
	}
}

// Unstream splits the bytes of a streamed answer into the proxy response
// they stand for. JSON holds no zero byte, so the first one ends the
// prelude, and seven more must follow it.
func Unstream(b []byte) (events.APIGatewayProxyResponse, error) {
	var out events.APIGatewayProxyResponse
	i := bytes.IndexByte(b, 0)
	if i < 0 || len(b) < i+8 || !bytes.Equal(b[i:i+8], make([]byte, 8)) {
		return out, fmt.Errorf("streamed answer has no prelude end (eight zero bytes): %q", b)
	}
	var head struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
	}
	dec := json.NewDecoder(bytes.NewReader(b[:i]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&head); err != nil {
		return out, fmt.Errorf("streamed answer's prelude: %w", err)
	}
	out.StatusCode, out.Headers, out.Body = head.StatusCode, head.Headers, string(b[i+8:])
	return out, nil
}

// Invoke calls the function's entry point with ev, as the Lambda runtime
// does.
func (f *Fixture) Invoke(t *testing.T, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	resp, err := f.handler(f.Env)(t.Context(), ev)
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	return resp
}

// LoadEvent reads a sample event of a function and checks that it is one
// API Gateway could send: every field known, and a request for a route of
// that function, described the same way throughout the event.
func LoadEvent(t *testing.T, function, file string) events.APIGatewayProxyRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(EventsDir, function, file))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayProxyRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("%s: %v", file, err)
	}

	route, params, ok := routes.Match(routes.Table(), ev.HTTPMethod, ev.Path)
	switch {
	case !ok:
		t.Fatalf("%s: %s %s is no route of the table", file, ev.HTTPMethod, ev.Path)
	case route.Function != function:
		t.Errorf("%s: %s is a route of %s, not %s", file, route.Pattern(), route.Function, function)
	case ev.Resource != route.Path || ev.RequestContext.ResourcePath != route.Path:
		t.Errorf("%s: resource %q, resourcePath %q, want %q", file, ev.Resource, ev.RequestContext.ResourcePath, route.Path)
	case !maps.Equal(ev.PathParameters, params):
		t.Errorf("%s: pathParameters = %v, want %v", file, ev.PathParameters, params)
	}
	rc := ev.RequestContext
	if rc.HTTPMethod != ev.HTTPMethod || rc.Path != "/"+rc.Stage+ev.Path {
		t.Errorf("%s: requestContext says %s %s, want %s /%s%s", file, rc.HTTPMethod, rc.Path, ev.HTTPMethod, rc.Stage, ev.Path)
	}
	if rc.RequestID == "" {
		t.Errorf("%s: requestContext.requestId is empty", file)
	}
	return ev
}

// Header returns a response header whichever of the two maps holds it.
func Header(resp events.APIGatewayProxyResponse, name string) string {
	if v := http.Header(resp.MultiValueHeaders).Get(name); v != "" {
		return v
	}
	return resp.Headers[name]
}

// CheckError checks an answer in the API's error shape:
// {"error": {"code": ..., "message": ...}}, nothing else.
func CheckError(t *testing.T, resp events.APIGatewayProxyResponse, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d; body %s", resp.StatusCode, status, resp.Body)
	}
	if ct := Header(resp, "Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("body is not in the error shape: %v; body %s", err, resp.Body)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		t.Errorf("error = {code %q, message %q}, want code %q and a message", body.Error.Code, body.Error.Message, code)
	}
}

// CheckObserved checks that the request left exactly one request line, a
// log line that is also the request's EMF document, naming the function,
// the route and API Gateway's request id.
func (f *Fixture) CheckObserved(t *testing.T, ev events.APIGatewayProxyRequest, route string, status int) {
	t.Helper()
	requestID := ev.RequestContext.RequestID

	docs := f.Metrics(t, "Requests")
	if len(docs) != 1 {
		t.Fatalf("%d request lines, want 1:\n%s", len(docs), f.emf.String())
	}
	got := docs[0]
	want := map[string]any{
		"message": "request", "request_id": requestID, "function": f.fn, "route": route, "status": float64(status),
		"Function": f.fn, "Route": route,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("request line: %s = %v, want %v", k, got[k], v)
		}
	}
	// A member is only a dimension when the directive names it as one.
	var meta struct {
		CloudWatchMetrics []struct {
			Dimensions [][]string
		}
	}
	raw, _ := json.Marshal(got["_aws"])
	// The request's directive comes first; a domain metric the handler
	// counted may follow with its own.
	if err := json.Unmarshal(raw, &meta); err != nil || len(meta.CloudWatchMetrics) == 0 ||
		len(meta.CloudWatchMetrics[0].Dimensions) != 1 || !slices.Contains(meta.CloudWatchMetrics[0].Dimensions[0], "Function") {
		t.Errorf("request line: Function is not a dimension: _aws = %s", raw)
	}
}

// Metrics returns the EMF documents that carry the metric name.
func (f *Fixture) Metrics(t *testing.T, name string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, line := range jsonLines(t, "EMF", &f.emf) {
		if _, ok := line["_aws"]; !ok {
			continue
		}
		if _, ok := line[name]; ok {
			docs = append(docs, line)
		}
	}
	return docs
}

// jsonLines parses every line of out as a JSON object.
func jsonLines(t *testing.T, what string, out *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%s line is not a JSON object: %v: %s", what, err, sc.Bytes())
		}
		lines = append(lines, line)
	}
	return lines
}
