package apigateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/local/apigateway"
	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

var uuidForm = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// invocation is what a handler saw of one call.
type invocation struct {
	ev          events.APIGatewayProxyRequest
	lc          *lambdacontext.LambdaContext
	deadline    time.Time
	hasDeadline bool
}

// recorder is a Handler that reports every invocation on a channel and
// answers with resp.
func recorder(resp events.APIGatewayProxyResponse) (apigateway.Handler, <-chan invocation) {
	got := make(chan invocation, 16)
	h := func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, ok := ctx.Deadline()
		got <- invocation{ev: ev, lc: lc, deadline: deadline, hasDeadline: ok}
		return resp, nil
	}
	return h, got
}

var ok200 = events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Body: `{}`}

// every gives the same handler to each function of the route table.
func every(h apigateway.Handler) map[string]apigateway.Handler {
	fns := map[string]apigateway.Handler{}
	for _, name := range routes.Functions(routes.Table()) {
		fns[name] = h
	}
	return fns
}

func serve(t *testing.T, fns map[string]apigateway.Handler, opts apigateway.Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(apigateway.New(routes.Table(), fns, opts))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer to %s %s: %v", req.Method, req.URL, err)
	}
	return resp, body
}

func newRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func receive(t *testing.T, got <-chan invocation) invocation {
	t.Helper()
	select {
	case inv := <-got:
		return inv
	default:
		t.Fatal("the handler was not invoked")
		return invocation{}
	}
}

func notInvoked(t *testing.T, got <-chan invocation) {
	t.Helper()
	select {
	case inv := <-got:
		t.Fatalf("the handler was invoked with %s %s", inv.ev.HTTPMethod, inv.ev.Path)
	default:
	}
}

// wantError checks an answer is the API's error shape with this status
// and code, and returns its message.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) string {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if id := resp.Header.Get("x-amzn-RequestId"); !uuidForm.MatchString(id) {
		t.Errorf("x-amzn-RequestId = %q, want a UUID", id)
	}
	var shape struct {
		Error *apierror.Error `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&shape); err != nil || shape.Error == nil {
		t.Fatalf("body %s is not the error shape: %v", body, err)
	}
	if shape.Error.Code != code {
		t.Errorf("error code = %q, want %q", shape.Error.Code, code)
	}
	return shape.Error.Message
}

func TestGETEventCarriesPathParamsQueryHeadersAndContext(t *testing.T) {
	h, got := recorder(ok200)
	const timeout = 5 * time.Second
	srv := serve(t, every(h), apigateway.Options{Timeout: timeout})

	req := newRequest(t, http.MethodGet,
		srv.URL+"/valves/v-101/actuations/a-7?state=open&state=sent&limit=5&q=a%20b", nil)
	req.Header.Add("X-Trace", "first")
	req.Header.Add("X-Trace", "second")
	req.Header.Set("User-Agent", "plainview-test/1.0")
	before := time.Now()
	resp, body := do(t, req)
	after := time.Now()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	inv := receive(t, got).ev
	srvURL, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}

	if inv.Resource != "/valves/{id}/actuations/{actuation_id}" {
		t.Errorf("Resource = %q", inv.Resource)
	}
	if inv.Path != "/valves/v-101/actuations/a-7" {
		t.Errorf("Path = %q", inv.Path)
	}
	if inv.HTTPMethod != http.MethodGet {
		t.Errorf("HTTPMethod = %q", inv.HTTPMethod)
	}
	if want := map[string]string{"id": "v-101", "actuation_id": "a-7"}; !maps.Equal(inv.PathParameters, want) {
		t.Errorf("PathParameters = %v, want %v", inv.PathParameters, want)
	}
	if want := map[string]string{"state": "sent", "limit": "5", "q": "a b"}; !maps.Equal(inv.QueryStringParameters, want) {
		t.Errorf("QueryStringParameters = %v, want the last value of each: %v", inv.QueryStringParameters, want)
	}
	wantMultiQuery := map[string][]string{"state": {"open", "sent"}, "limit": {"5"}, "q": {"a b"}}
	if !maps.EqualFunc(inv.MultiValueQueryStringParameters, wantMultiQuery, slices.Equal) {
		t.Errorf("MultiValueQueryStringParameters = %v, want %v", inv.MultiValueQueryStringParameters, wantMultiQuery)
	}
	if got := inv.Headers["X-Trace"]; got != "second" {
		t.Errorf(`Headers["X-Trace"] = %q, want the last value "second"`, got)
	}
	if got := inv.MultiValueHeaders["X-Trace"]; !slices.Equal(got, []string{"first", "second"}) {
		t.Errorf(`MultiValueHeaders["X-Trace"] = %q, want both values in order`, got)
	}
	if got := inv.Headers["Host"]; got != srvURL.Host {
		t.Errorf(`Headers["Host"] = %q, want %q`, got, srvURL.Host)
	}
	if inv.StageVariables != nil {
		t.Errorf("StageVariables = %v, want nil", inv.StageVariables)
	}
	if inv.Body != "" || inv.IsBase64Encoded {
		t.Errorf("Body = %q (base64 %v), want empty", inv.Body, inv.IsBase64Encoded)
	}

	rc := inv.RequestContext
	if rc.AccountID != "000000000000" || rc.APIID != "local" {
		t.Errorf("AccountID, APIID = %q, %q", rc.AccountID, rc.APIID)
	}
	if rc.ResourceID == "" {
		t.Error("ResourceID is empty")
	}
	if rc.Stage != "local" {
		t.Errorf("Stage = %q, want the default local", rc.Stage)
	}
	if !uuidForm.MatchString(rc.RequestID) {
		t.Errorf("RequestID = %q, want a UUID", rc.RequestID)
	}
	if got := resp.Header.Get("x-amzn-RequestId"); got != rc.RequestID {
		t.Errorf("x-amzn-RequestId = %q, want the event's request id %q", got, rc.RequestID)
	}
	if rc.ExtendedRequestID == "" || rc.ExtendedRequestID == rc.RequestID {
		t.Errorf("ExtendedRequestID = %q, want an id of its own", rc.ExtendedRequestID)
	}
	if rc.Identity.SourceIP != "127.0.0.1" {
		t.Errorf("Identity.SourceIP = %q, want 127.0.0.1 without a port", rc.Identity.SourceIP)
	}
	if rc.Identity.UserAgent != "plainview-test/1.0" {
		t.Errorf("Identity.UserAgent = %q", rc.Identity.UserAgent)
	}
	if rc.ResourcePath != inv.Resource || rc.HTTPMethod != http.MethodGet {
		t.Errorf("ResourcePath, HTTPMethod = %q, %q", rc.ResourcePath, rc.HTTPMethod)
	}
	if rc.Path != "/local/valves/v-101/actuations/a-7" {
		t.Errorf("RequestContext.Path = %q, want the stage in front", rc.Path)
	}
	if rc.Protocol != "HTTP/1.1" {
		t.Errorf("Protocol = %q", rc.Protocol)
	}
	if rc.DomainName != srvURL.Host {
		t.Errorf("DomainName = %q, want %q", rc.DomainName, srvURL.Host)
	}
	if rc.RequestTimeEpoch < before.UnixMilli() || rc.RequestTimeEpoch > after.UnixMilli() {
		t.Errorf("RequestTimeEpoch = %d, want within [%d, %d]", rc.RequestTimeEpoch, before.UnixMilli(), after.UnixMilli())
	}
	at, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.RequestTime)
	if err != nil {
		t.Errorf("RequestTime %q: %v", rc.RequestTime, err)
	} else if at.Unix() != rc.RequestTimeEpoch/1000 {
		t.Errorf("RequestTime %q and RequestTimeEpoch %d disagree", rc.RequestTime, rc.RequestTimeEpoch)
	}
	if rc.Authorizer != nil {
		t.Errorf("Authorizer = %v, want nil until the authorizer exists", rc.Authorizer)
	}
}

func TestHandlerContextCarriesLambdaContextAndDeadline(t *testing.T) {
	h, got := recorder(ok200)
	const timeout = 5 * time.Second
	srv := serve(t, every(h), apigateway.Options{Timeout: timeout})

	before := time.Now()
	do(t, newRequest(t, http.MethodPost, srv.URL+"/valves/v-101/actuate", []byte(`{}`)))
	after := time.Now()
	inv := receive(t, got)

	if inv.lc == nil {
		t.Fatal("no lambdacontext.LambdaContext in the handler's context")
	}
	if !uuidForm.MatchString(inv.lc.AwsRequestID) {
		t.Errorf("AwsRequestID = %q, want a UUID", inv.lc.AwsRequestID)
	}
	if inv.lc.AwsRequestID == inv.ev.RequestContext.RequestID {
		t.Error("AwsRequestID equals the gateway's request id; Lambda and API Gateway each have their own")
	}
	if want := "arn:aws:lambda:local:000000000000:function:valves"; inv.lc.InvokedFunctionArn != want {
		t.Errorf("InvokedFunctionArn = %q, want %q", inv.lc.InvokedFunctionArn, want)
	}
	if !inv.hasDeadline {
		t.Fatal("the handler's context has no deadline")
	}
	if inv.deadline.Before(before.Add(timeout)) || inv.deadline.After(after.Add(timeout)) {
		t.Errorf("deadline %v is not Timeout (%v) after the request", inv.deadline, timeout)
	}
}

func TestRequestWithoutQueryOrPathParamsHasNullMaps(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{})

	do(t, newRequest(t, http.MethodGet, srv.URL+"/health", nil))
	ev := receive(t, got).ev

	// AWS sends null, not {}: handlers that tell the two apart must see
	// the same here.
	if ev.QueryStringParameters != nil || ev.MultiValueQueryStringParameters != nil {
		t.Errorf("query maps = %v, %v, want nil", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
	}
	if ev.PathParameters != nil {
		t.Errorf("PathParameters = %v, want nil", ev.PathParameters)
	}
}

func TestStageOptionNamesTheStageInTheEvent(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{Stage: "prod"})

	do(t, newRequest(t, http.MethodGet, srv.URL+"/valves/v-102", nil))
	rc := receive(t, got).ev.RequestContext

	if rc.Stage != "prod" || rc.Path != "/prod/valves/v-102" {
		t.Errorf("Stage, Path = %q, %q, want prod, /prod/valves/v-102", rc.Stage, rc.Path)
	}
}

func TestEachRequestGetsFreshIDsAndEachResourceOneID(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{})

	var evs []events.APIGatewayProxyRequest
	var lcs []*lambdacontext.LambdaContext
	for _, path := range []string{"/valves/v-101", "/valves/v-102", "/valves"} {
		do(t, newRequest(t, http.MethodGet, srv.URL+path, nil))
		inv := receive(t, got)
		evs, lcs = append(evs, inv.ev), append(lcs, inv.lc)
	}

	if evs[0].RequestContext.RequestID == evs[1].RequestContext.RequestID ||
		evs[0].RequestContext.ExtendedRequestID == evs[1].RequestContext.ExtendedRequestID ||
		lcs[0].AwsRequestID == lcs[1].AwsRequestID {
		t.Error("two requests share an id")
	}
	if evs[0].RequestContext.ResourceID != evs[1].RequestContext.ResourceID {
		t.Error("two requests on /valves/{id} have different resource ids")
	}
	if evs[0].RequestContext.ResourceID == evs[2].RequestContext.ResourceID {
		t.Error("/valves/{id} and /valves have the same resource id")
	}
}

func TestPOSTEventCarriesJSONBody(t *testing.T) {
	h, got := recorder(events.APIGatewayProxyResponse{StatusCode: http.StatusAccepted, Body: `{"ok":true}`})
	srv := serve(t, every(h), apigateway.Options{})

	const payload = `{"command":"OPEN","params":{"target_angle_deg":90},"note":"vanne ouverte ✓"}`
	req := newRequest(t, http.MethodPost, srv.URL+"/valves/v-101/actuate", []byte(payload))
	req.Header.Set("Content-Type", "application/json")
	resp, body := do(t, req)
	ev := receive(t, got).ev

	if resp.StatusCode != http.StatusAccepted || string(body) != `{"ok":true}` {
		t.Errorf("answer = %d %s, want 202 {\"ok\":true}", resp.StatusCode, body)
	}
	if ev.HTTPMethod != http.MethodPost || ev.Resource != "/valves/{id}/actuate" {
		t.Errorf("HTTPMethod, Resource = %q, %q", ev.HTTPMethod, ev.Resource)
	}
	if ev.Body != payload || ev.IsBase64Encoded {
		t.Errorf("Body = %q (base64 %v), want %q as text", ev.Body, ev.IsBase64Encoded, payload)
	}
	if got := ev.Headers["Content-Type"]; got != "application/json" {
		t.Errorf(`Headers["Content-Type"] = %q`, got)
	}
}

func TestBinaryBodyTravelsAsBase64(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{})

	payload := []byte{0x00, 0xff, 0xfe, 0x80, 'p', 'v', 0xc3} // not UTF-8
	req := newRequest(t, http.MethodPost, srv.URL+"/pipeline/alerts", payload)
	req.Header.Set("Content-Type", "application/octet-stream")
	do(t, req)
	ev := receive(t, got).ev

	if !ev.IsBase64Encoded {
		t.Fatalf("IsBase64Encoded = false for a body that is not UTF-8 (Body %q)", ev.Body)
	}
	decoded, err := base64.StdEncoding.DecodeString(ev.Body)
	if err != nil {
		t.Fatalf("Body %q: %v", ev.Body, err)
	}
	if !bytes.Equal(decoded, payload) {
		t.Errorf("decoded body = %x, want %x", decoded, payload)
	}
}

func TestResponseMapsStatusHeadersAndBase64Body(t *testing.T) {
	payload := []byte{0x89, 'P', 'N', 'G', 0x00, 0xff}
	h, got := recorder(events.APIGatewayProxyResponse{
		StatusCode: http.StatusCreated,
		Headers: map[string]string{
			"Content-Type":  "image/png",
			"X-Single":      "one",
			"X-Both":        "from-headers",
			"Cache-Control": "no-store",
		},
		MultiValueHeaders: map[string][]string{
			"X-Multi": {"a", "b"},
			"x-both":  {"mv-1", "mv-2"}, // another spelling of X-Both
		},
		Body:            base64.StdEncoding.EncodeToString(payload),
		IsBase64Encoded: true,
	})
	srv := serve(t, every(h), apigateway.Options{})

	resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/modules", nil))
	ev := receive(t, got).ev

	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status = %d, want 201", resp.StatusCode)
	}
	if !bytes.Equal(body, payload) {
		t.Errorf("body = %x, want the decoded %x", body, payload)
	}
	for name, want := range map[string][]string{
		"Content-Type":  {"image/png"},
		"X-Single":      {"one"},
		"Cache-Control": {"no-store"},
		"X-Multi":       {"a", "b"},
		"X-Both":        {"mv-1", "mv-2"}, // multi-value wins for a name in both
	} {
		if got := resp.Header.Values(name); !slices.Equal(got, want) {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if got := resp.Header.Get("x-amzn-RequestId"); got != ev.RequestContext.RequestID {
		t.Errorf("x-amzn-RequestId = %q, want %q", got, ev.RequestContext.RequestID)
	}
}

func TestResponseWithoutContentTypeIsLabelledJSON(t *testing.T) {
	h, _ := recorder(events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Body: `{"status":"ok"}`})
	srv := serve(t, every(h), apigateway.Options{})

	resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/health", nil))

	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json as a REST API proxy integration gives", ct)
	}
	if string(body) != `{"status":"ok"}` {
		t.Errorf("body = %s", body)
	}
}

func TestHandlerHeadersCannotReplaceTheRequestID(t *testing.T) {
	h, got := recorder(events.APIGatewayProxyResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"x-amzn-RequestId": "forged", "Content-Length": "9999"},
		Body:       "{}",
	})
	srv := serve(t, every(h), apigateway.Options{})

	resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/health", nil))
	ev := receive(t, got).ev

	if got := resp.Header.Get("x-amzn-RequestId"); got != ev.RequestContext.RequestID {
		t.Errorf("x-amzn-RequestId = %q, want the gateway's %q", got, ev.RequestContext.RequestID)
	}
	if string(body) != "{}" || resp.ContentLength != 2 {
		t.Errorf("body = %q with Content-Length %d, want the gateway to frame the real body", body, resp.ContentLength)
	}
}

func TestMalformedResponseIs502(t *testing.T) {
	for name, resp := range map[string]events.APIGatewayProxyResponse{
		"status unset":       {Body: "{}"},
		"status 1xx":         {StatusCode: http.StatusContinue},
		"status over 599":    {StatusCode: 600},
		"body not base64":    {StatusCode: http.StatusOK, Body: "not base64!", IsBase64Encoded: true},
		"negative status":    {StatusCode: -1},
		"status far too big": {StatusCode: 20000},
	} {
		t.Run(name, func(t *testing.T) {
			h, _ := recorder(resp)
			srv := serve(t, every(h), apigateway.Options{})

			got, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/health", nil))

			if msg := wantError(t, got, body, http.StatusBadGateway, apierror.CodeInternal); msg != "internal server error" {
				t.Errorf("message = %q", msg)
			}
		})
	}
}

func TestUnknownRouteIs404(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{})

	for _, tc := range []struct {
		name, method, path, message string
	}{
		{"unknown path", http.MethodGet, "/x", "no route for GET /x"},
		{"unknown path, DELETE", http.MethodDelete, "/x", "no route for DELETE /x"},
		{"empty path parameter", http.MethodGet, "/valves//health", "no route for GET /valves//health"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, newRequest(t, tc.method, srv.URL+tc.path, nil))

			if msg := wantError(t, resp, body, http.StatusNotFound, apierror.CodeNotFound); msg != tc.message {
				t.Errorf("message = %q, want %q", msg, tc.message)
			}
			notInvoked(t, got)
		})
	}
}

func TestAKnownPathWithAnotherMethodIs405WithAllow(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{})

	for _, tc := range []struct {
		method, path, allow string
	}{
		{http.MethodDelete, "/valves/v-101", "GET, HEAD, OPTIONS"},
		{http.MethodPut, "/valves/v-101", "GET, HEAD, OPTIONS"},
		{http.MethodPatch, "/incidents", "GET, HEAD, POST, OPTIONS"},
		{http.MethodPost, "/valves/v-101", "GET, HEAD, OPTIONS"},
		{http.MethodGet, "/valves/v-101/actuate", "POST, OPTIONS"},
		{http.MethodHead, "/valves/v-101/actuate", "POST, OPTIONS"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := do(t, newRequest(t, tc.method, srv.URL+tc.path, nil))
			if a := resp.Header.Get("Allow"); a != tc.allow {
				t.Errorf("Allow = %q, want %q", a, tc.allow)
			}
			if tc.method == http.MethodHead {
				if resp.StatusCode != http.StatusMethodNotAllowed || len(body) != 0 {
					t.Errorf("HEAD: %d %q", resp.StatusCode, body)
				}
			} else if msg := wantError(t, resp, body, http.StatusMethodNotAllowed, apierror.CodeMethodNotAllowed); !strings.Contains(msg, tc.allow) {
				t.Errorf("message = %q, want the allowed methods", msg)
			}
			notInvoked(t, got)
		})
	}
}

func TestHeadOnAGetRouteIsTheGetWithoutItsBody(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{})
	resp, body := do(t, newRequest(t, http.MethodHead, srv.URL+"/valves/v-101", nil))
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
	select {
	case inv := <-got:
		if inv.ev.HTTPMethod != http.MethodHead || inv.ev.Resource != "/valves/{id}" {
			t.Errorf("event %s %s", inv.ev.HTTPMethod, inv.ev.Resource)
		}
	default:
		t.Error("the GET route's function was not invoked")
	}
}

func TestASlowBodyIs408AndClosesTheConnection(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{BodyTimeout: 300 * time.Millisecond})
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/incidents", http.StatusRequestTimeout, apierror.CodeRequestTimeout},
		// Refused before its body is read: answered at once, and the
		// connection still goes within the bound (net/http would wait for
		// the rest of the body to reuse it).
		{"/nothing/here", http.StatusNotFound, apierror.CodeNotFound},
		{"/valves/v-101", http.StatusMethodNotAllowed, apierror.CodeMethodNotAllowed},
	} {
		t.Run(c.path, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// 1,000 bytes promised, 5 sent.
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"tit", c.path)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to a slow body: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			msg := wantError(t, resp, body, c.status, c.code)
			if c.status == http.StatusRequestTimeout && !strings.Contains(msg, "300ms") {
				t.Errorf("message = %q", msg)
			}
			if !resp.Close {
				t.Error("the answer keeps the connection")
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Errorf("after the answer: %q, %v; want the connection closed", rest, err)
			}
			notInvoked(t, got)
		})
	}
}

func TestRouteWhoseFunctionIsMissingIs502(t *testing.T) {
	h, got := recorder(ok200)
	logs := &syncbuf.Buffer{}
	srv := serve(t, map[string]apigateway.Handler{routes.FuncReads: h}, apigateway.Options{
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})

	resp, body := do(t, newRequest(t, http.MethodPost, srv.URL+"/incidents", []byte(`{}`)))

	wantError(t, resp, body, http.StatusBadGateway, apierror.CodeInternal)
	notInvoked(t, got)
	if !strings.Contains(logs.String(), `"function":"incidents"`) {
		t.Errorf("log does not name the missing function:\n%s", logs)
	}
}

func TestHandlerErrorIs502AndItsTextStaysInTheLog(t *testing.T) {
	const secret = "dynamodb table plainview-prod-valves: AccessDenied"
	logs := &syncbuf.Buffer{}
	failing := func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, errors.New(secret)
	}
	srv := serve(t, every(failing), apigateway.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})

	resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/valves", nil))

	if msg := wantError(t, resp, body, http.StatusBadGateway, apierror.CodeInternal); msg != "internal server error" {
		t.Errorf("message = %q, want internal server error", msg)
	}
	if strings.Contains(string(body), "AccessDenied") {
		t.Errorf("the answer leaks the handler's error: %s", body)
	}
	log := logs.String()
	if !strings.Contains(log, secret) || !strings.Contains(log, resp.Header.Get("x-amzn-RequestId")) {
		t.Errorf("log lacks the error or the request id:\n%s", log)
	}
}

func TestHandlerPanicIs502AndTheGatewayKeepsServing(t *testing.T) {
	logs := &syncbuf.Buffer{}
	panicking := func(_ context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		if ev.Path == "/valves/boom" {
			panic("nil map in valve v-boom")
		}
		return ok200, nil
	}
	srv := serve(t, every(panicking), apigateway.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})

	resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/valves/boom", nil))

	if msg := wantError(t, resp, body, http.StatusBadGateway, apierror.CodeInternal); msg != "internal server error" {
		t.Errorf("message = %q", msg)
	}
	if strings.Contains(string(body), "nil map") {
		t.Errorf("the answer leaks the panic: %s", body)
	}
	if log := logs.String(); !strings.Contains(log, "nil map in valve v-boom") || !strings.Contains(log, resp.Header.Get("x-amzn-RequestId")) {
		t.Errorf("log lacks the panic or the request id:\n%s", log)
	}
	if resp, _ := do(t, newRequest(t, http.MethodGet, srv.URL+"/valves/v-101", nil)); resp.StatusCode != http.StatusOK {
		t.Errorf("next request: status = %d, want 200", resp.StatusCode)
	}
}

func TestHandlerPastTimeoutIs504(t *testing.T) {
	const timeout = 50 * time.Millisecond
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })

	for name, h := range map[string]apigateway.Handler{
		// API Gateway does not wait for a function that ignores its
		// deadline; neither does the local gateway.
		"handler ignores ctx": func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			<-release
			return ok200, nil
		},
		// A handler that gives up at the deadline is still a timeout, not
		// a failed function.
		"handler returns ctx.Err()": func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			<-ctx.Done()
			return events.APIGatewayProxyResponse{}, ctx.Err()
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := serve(t, every(h), apigateway.Options{Timeout: timeout})

			start := time.Now()
			resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/valves", nil))
			took := time.Since(start)

			wantError(t, resp, body, http.StatusGatewayTimeout, apierror.CodeInternal)
			if took < timeout || took > 10*time.Second {
				t.Errorf("answered after %v, want just after the %v timeout", took, timeout)
			}
		})
	}
}

func TestBodyOverMaxBodyIs413(t *testing.T) {
	const limit = 16
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{MaxBody: limit})

	resp, body := do(t, newRequest(t, http.MethodPost, srv.URL+"/incidents", bytes.Repeat([]byte("x"), limit)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a body of exactly MaxBody: status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	if ev := receive(t, got).ev; len(ev.Body) != limit {
		t.Errorf("handler got %d bytes, want %d", len(ev.Body), limit)
	}

	resp, body = do(t, newRequest(t, http.MethodPost, srv.URL+"/incidents", bytes.Repeat([]byte("x"), limit+1)))
	wantError(t, resp, body, http.StatusRequestEntityTooLarge, apierror.CodeTooLarge)
	notInvoked(t, got)
}

func TestBodyOverMaxBodyIs413WithoutContentLength(t *testing.T) {
	const limit = 16
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{MaxBody: limit})

	// A reader of unknown length makes the client send the body chunked,
	// so the gateway cannot trust a Content-Length and must count.
	req := newRequest(t, http.MethodPost, srv.URL+"/incidents", nil)
	req.Body = io.NopCloser(io.MultiReader(strings.NewReader(strings.Repeat("x", limit)), strings.NewReader("yy")))
	req.ContentLength = -1
	resp, body := do(t, req)

	wantError(t, resp, body, http.StatusRequestEntityTooLarge, apierror.CodeTooLarge)
	notInvoked(t, got)
}

// echoed is what the net/http handler behind httpadapter saw.
type echoed struct {
	Method      string              `json:"method"`
	Path        string              `json:"path"`
	Query       map[string][]string `json:"query"`
	ID          string              `json:"id"`
	Header      map[string][]string `json:"header"`
	Body        string              `json:"body"`
	RequestID   string              `json:"request_id"`
	FunctionARN string              `json:"function_arn"`
	HasDeadline bool                `json:"has_deadline"`
}

// adapterGateway serves the route table from a net/http ServeMux behind
// httpadapter, as the function binaries do: each route registered with
// its Pattern().
func adapterGateway(t *testing.T) *httptest.Server {
	t.Helper()
	echo := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		gw, _ := core.GetAPIGatewayContextFromContext(r.Context())
		lc, _ := core.GetRuntimeContextFromContext(r.Context())
		_, hasDeadline := r.Context().Deadline()
		e := echoed{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), ID: r.PathValue("id"),
			Header: r.Header, Body: string(body), RequestID: gw.RequestID, HasDeadline: hasDeadline,
		}
		if lc != nil {
			e.FunctionARN = lc.InvokedFunctionArn
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.Header().Set("Location", r.URL.Path+"/a-1")
			w.WriteHeader(http.StatusAccepted)
		}
		_ = json.NewEncoder(w).Encode(e)
	}
	mux := http.NewServeMux()
	for _, rt := range routes.Table() {
		switch rt.Pattern() {
		case "GET /telemetry":
			mux.HandleFunc(rt.Pattern(), func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				_, _ = w.Write([]byte{0x00, 0xff, 0x10, 0xfe})
			})
		case "GET /livez":
			// Writes nothing: net/http would answer 200.
			mux.HandleFunc(rt.Pattern(), func(http.ResponseWriter, *http.Request) {})
		default:
			mux.HandleFunc(rt.Pattern(), echo)
		}
	}
	return serve(t, every(httpadapter.New(mux).ProxyWithContext), apigateway.Options{})
}

func TestNetHTTPHandlerBehindHTTPAdapterSeesTheRequestIntact(t *testing.T) {
	srv := adapterGateway(t)

	t.Run("GET with query and headers", func(t *testing.T) {
		req := newRequest(t, http.MethodGet, srv.URL+"/valves/v-101/actuations?state=open&state=sent&q=a%20b%26c", nil)
		req.Header.Add("X-Trace", "first")
		req.Header.Add("X-Trace", "second")
		resp, body := do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
		}
		var e echoed
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}

		if e.Method != http.MethodGet || e.Path != "/valves/v-101/actuations" || e.ID != "v-101" {
			t.Errorf("method, path, id = %q, %q, %q", e.Method, e.Path, e.ID)
		}
		wantQuery := map[string][]string{"state": {"open", "sent"}, "q": {"a b&c"}}
		if !maps.EqualFunc(e.Query, wantQuery, slices.Equal) {
			t.Errorf("query = %v, want %v", e.Query, wantQuery)
		}
		if got := e.Header["X-Trace"]; !slices.Equal(got, []string{"first", "second"}) {
			t.Errorf("X-Trace = %q, want both values in order", got)
		}
		if e.RequestID == "" || e.RequestID != resp.Header.Get("x-amzn-RequestId") {
			t.Errorf("request id from core.GetAPIGatewayContextFromContext = %q, x-amzn-RequestId = %q",
				e.RequestID, resp.Header.Get("x-amzn-RequestId"))
		}
		if e.FunctionARN != "arn:aws:lambda:local:000000000000:function:reads" {
			t.Errorf("function ARN from core.GetRuntimeContextFromContext = %q", e.FunctionARN)
		}
		if !e.HasDeadline {
			t.Error("the net/http handler's r.Context() has no deadline")
		}
	})

	t.Run("POST with JSON body", func(t *testing.T) {
		const payload = `{"command":"CLOSE","params":{"torque_limit_nm":40}}`
		req := newRequest(t, http.MethodPost, srv.URL+"/valves/v-103/actuate", []byte(payload))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "k-1")
		resp, body := do(t, req)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status = %d, want 202 (body %s)", resp.StatusCode, body)
		}
		if got := resp.Header.Get("Location"); got != "/valves/v-103/actuate/a-1" {
			t.Errorf("Location = %q", got)
		}
		var e echoed
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		if e.Body != payload {
			t.Errorf("body = %q, want %q", e.Body, payload)
		}
		if e.ID != "v-103" || e.FunctionARN != "arn:aws:lambda:local:000000000000:function:valves" {
			t.Errorf("id, function ARN = %q, %q", e.ID, e.FunctionARN)
		}
		if got := e.Header["Idempotency-Key"]; !slices.Equal(got, []string{"k-1"}) {
			t.Errorf("Idempotency-Key = %q", got)
		}
	})

	t.Run("binary answer", func(t *testing.T) {
		resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/telemetry", nil))
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, []byte{0x00, 0xff, 0x10, 0xfe}) {
			t.Errorf("answer = %d %x, want 200 00ff10fe", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("Content-Type = %q", ct)
		}
	})
}

// httpadapter turns a handler that writes nothing (200 in net/http) into
// an error, so on AWS and here the client gets a 502.
func TestNetHTTPHandlerThatWritesNothingIs502BehindHTTPAdapter(t *testing.T) {
	srv := adapterGateway(t)

	resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/livez", nil))

	wantError(t, resp, body, http.StatusBadGateway, apierror.CodeInternal)
}

func TestZeroOptionsGiveAPIGatewayDefaults(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{})

	before := time.Now()
	// Just over a megabyte is far under API Gateway's 10 MB.
	resp, _ := do(t, newRequest(t, http.MethodPost, srv.URL+"/incidents", bytes.Repeat([]byte("x"), 1<<20+1)))
	after := time.Now()
	inv := receive(t, got)

	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	if inv.ev.RequestContext.Stage != apigateway.DefaultStage {
		t.Errorf("Stage = %q, want %q", inv.ev.RequestContext.Stage, apigateway.DefaultStage)
	}
	if inv.deadline.Before(before.Add(apigateway.DefaultTimeout)) || inv.deadline.After(after.Add(apigateway.DefaultTimeout)) {
		t.Errorf("deadline %v is not %v after the request", inv.deadline, apigateway.DefaultTimeout)
	}
	if apigateway.DefaultMaxBody != 10<<20 || apigateway.DefaultTimeout != 29*time.Second {
		t.Errorf("defaults = %d bytes, %v; API Gateway's are 10 MB and 29 s", apigateway.DefaultMaxBody, apigateway.DefaultTimeout)
	}
}

// The gateway must answer from its own copy of the table and functions:
// the caller's map changing later changes nothing.
func TestNewCopiesTheFunctionMap(t *testing.T) {
	h, _ := recorder(ok200)
	fns := every(h)
	srv := serve(t, fns, apigateway.Options{})
	delete(fns, routes.FuncReads)

	if resp, _ := do(t, newRequest(t, http.MethodGet, srv.URL+"/health", nil)); resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d after the caller changed its map, want 200", resp.StatusCode)
	}
}

// identity.sourceIp is an address, never host:port, IPv6 included.
func TestSourceIPOfIPv6ClientHasNoPort(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	h, got := recorder(ok200)
	srv := httptest.NewUnstartedServer(apigateway.New(routes.Table(), every(h), apigateway.Options{}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	do(t, newRequest(t, http.MethodGet, srv.URL+"/health", nil))

	if ip := receive(t, got).ev.RequestContext.Identity.SourceIP; ip != "::1" {
		t.Errorf("SourceIP = %q, want ::1", ip)
	}
}

// Lambda does not stop a function because the caller hung up; the handler's
// context ends only at its deadline.
func TestClientHangingUpDoesNotCancelTheHandler(t *testing.T) {
	outcome := make(chan string, 1)
	h := func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		select {
		case <-ctx.Done():
			outcome <- "cancelled: " + ctx.Err().Error()
		case <-time.After(300 * time.Millisecond):
			outcome <- "ran on"
		}
		return ok200, nil
	}
	srv := serve(t, every(h), apigateway.Options{Timeout: 10 * time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req := newRequest(t, http.MethodGet, srv.URL+"/health", nil).WithContext(ctx)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the request was answered before the client gave up")
	}

	if got := <-outcome; got != "ran on" {
		t.Errorf("handler %s after the client hung up, want it to run on", got)
	}
}
