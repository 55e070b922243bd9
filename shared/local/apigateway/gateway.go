// Package gateway is the local stand-in for API Gateway (REST API, Lambda
// proxy integration). It turns each HTTP request into the
// events.APIGatewayProxyRequest that AWS would send and invokes the same
// handler function the function binary passes to lambda.Start, so a route
// behaves the same on a laptop as behind the managed endpoint.
//
// What it reproduces, because handlers depend on it: the event's fields
// and their nulls, the JSON round trip of the Lambda runtime, the 10 MB
// payload limit, the 29 s integration timeout, 502 for a failed or
// malformed invocation, and the x-amzn-RequestId header. Every answer the
// gateway makes itself uses the API's one error shape (package apierror),
// as the deployed stack's gateway responses do, and carries the CORS
// headers of the policy.
//
// Before the function runs, it does what API Gateway does, in API
// Gateway's order: match the route (an OPTIONS on a known path is a CORS
// preflight, answered here), throttle (a token bucket per route and one for
// the stage), run the REQUEST authorizer with X-API-Key as its identity
// source (optionally caching its answers), and only then take the body
// and invoke the function.
package apigateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/routes"
)

// Handler is a Lambda entry point for API Gateway REST proxy events, the
// signature of httpadapter.HandlerAdapter.ProxyWithContext.
type Handler func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// StreamHandler is the Lambda entry point of a function behind a streamed
// integration (routes.Route.Stream): its answer is read, as the Lambda
// runtime reads it, for the bytes Lambda streams: a JSON prelude, eight
// zero bytes, the body.
type StreamHandler func(ctx context.Context, ev events.APIGatewayProxyRequest) (*events.LambdaFunctionURLStreamingResponse, error)

// The limits of API Gateway REST APIs, used when Options leaves them zero.
const (
	// DefaultMaxBody is API Gateway's 10 MB payload limit.
	DefaultMaxBody int64 = 10 << 20
	// DefaultTimeout is API Gateway's 29 s integration timeout.
	DefaultTimeout = 29 * time.Second
	// DefaultBodyTimeout bounds how long a request body may take to
	// arrive once its headers have: a client that promises 1,000 bytes and
	// sends 5 would otherwise hold its connection (and a goroutine) for as
	// long as it likes. API Gateway's front end does not wait on a body
	// for ever either; 10 s is our bound (a 64 KiB body at 52 kbit/s).
	DefaultBodyTimeout = 10 * time.Second
	// DefaultStage is the stage name of the local stack.
	DefaultStage = "local"
	// DefaultStreamTimeout is how long API Gateway lets a streamed answer
	// run: 15 minutes.
	DefaultStreamTimeout = 15 * time.Minute
	// DefaultStall is how long the gateway waits for a client to take a
	// piece of a streamed answer before it cuts the client off.
	DefaultStall = 30 * time.Second
)

// The fixed identity of the local "account" and "API". The twelve zeros are
// the account id the AWS documentation uses in examples; no real account
// has it, so an ARN built from it can never address a real resource.
const (
	accountID = "000000000000"
	apiID     = "local"
	arnPrefix = "arn:aws:lambda:local:" + accountID + ":function:"
)

// requestTimeLayout is the format of requestContext.requestTime, the
// common log format ("09/Apr/2015:12:34:56 +0000").
const requestTimeLayout = "02/Jan/2006:15:04:05 -0700"

// Options tunes a Gateway. The zero value gives API Gateway's defaults:
// throttling at the table's and the account's limits, no authorizer, and
// no origin allowed by CORS.
type Options struct {
	Stage   string        // the stage name in the event's requestContext; default "local"
	Logger  *slog.Logger  // gateway-side failures; default discards
	MaxBody int64         // bigger request bodies get 413; default API Gateway's 10 MB
	Timeout time.Duration // the handler's (and the authorizer's) deadline, then 504; default API Gateway's 29 s
	// BodyTimeout is how long a request body may take to arrive, then
	// 408 and the connection is closed; default DefaultBodyTimeout.
	BodyTimeout time.Duration

	// Authorizer runs before the function on every route that needs a key
	// (see RequireKeyForReads). Without one no route needs a key: every
	// request goes through, as on a stack deployed without the authorizer.
	Authorizer AuthorizerHandler
	// AuthorizerCacheTTL is how long the authorizer's answer for one key
	// (Allow or Deny) is reused, as API Gateway's authorizer result cache.
	// Zero, the local stack's default, asks the authorizer every time.
	AuthorizerCacheTTL time.Duration
	// RequireKeyForReads puts the read routes behind the authorizer too;
	// otherwise they are public, like the routes of scope routes.Public.
	RequireKeyForReads bool

	// CORS answers preflights and labels the gateway's own answers. The
	// zero Policy allows no origin.
	CORS cors.Policy

	// StageThrottle is the token bucket of the whole stage, shared by every
	// route and client; zero means API Gateway's account default
	// (DefaultStageRate, DefaultStageBurst). Each route's own bucket comes
	// from its Throttle in the table.
	StageThrottle routes.Throttle
	// DisableThrottling turns both kinds of bucket off, for tests that
	// hammer a route.
	DisableThrottling bool

	// Streams are the entry points of the functions whose routes stream
	// (routes.Route.Stream), by function name.
	Streams map[string]StreamHandler
	// StreamTimeout ends a streamed answer, as API Gateway's integration
	// timeout of a streamed integration does; default 15 minutes.
	StreamTimeout time.Duration
	// Stall cuts off a client that takes no bytes of a streamed answer
	// for this long; default 30 s.
	Stall time.Duration
}

// Gateway serves a route table by invoking Lambda handlers. It is safe for
// concurrent use: only the token buckets and the authorizer cache change
// after New, and each guards itself.
type Gateway struct {
	table     []routes.Route
	functions map[string]Handler
	stage     string
	log       *slog.Logger
	maxBody   int64
	timeout   time.Duration
	bodyWait  time.Duration

	authorizer   AuthorizerHandler
	authCache    *authCache // nil: no caching
	keysForReads bool
	cors         cors.Policy
	limits       *throttle // nil: no throttling

	streams       map[string]StreamHandler
	streamTimeout time.Duration
	stall         time.Duration

	// resources has one route per path of the table, method OPTIONS, so
	// that routes.Match finds the resource of a preflight as API Gateway
	// would (literal segments first); methods lists each path's methods.
	resources []routes.Route
	methods   map[string][]string
}

// New returns an http.Handler serving table, dispatching each route to
// functions[route.Function]. A route whose function is missing answers 502,
// as API Gateway does when its integration cannot be invoked; the local
// stack may run only some of the functions.
func New(table []routes.Route, functions map[string]Handler, opts Options) *Gateway {
	g := &Gateway{
		// Copies, so a caller changing its table or map later cannot change
		// what a running gateway serves, nor race with it.
		table:     slices.Clone(table),
		functions: maps.Clone(functions),
		stage:     opts.Stage,
		log:       opts.Logger,
		maxBody:   opts.MaxBody,
		timeout:   opts.Timeout,
		bodyWait:  opts.BodyTimeout,

		authorizer:   opts.Authorizer,
		authCache:    newAuthCache(opts.AuthorizerCacheTTL),
		keysForReads: opts.RequireKeyForReads,
		cors:         opts.CORS,
		methods:      map[string][]string{},

		streams:       maps.Clone(opts.Streams),
		streamTimeout: opts.StreamTimeout,
		stall:         opts.Stall,
	}
	if !opts.DisableThrottling {
		g.limits = newThrottle(table, opts.StageThrottle, time.Now)
	}
	for _, r := range table {
		if _, seen := g.methods[r.Path]; !seen {
			g.resources = append(g.resources, routes.Route{Method: http.MethodOptions, Path: r.Path})
		}
		if !slices.Contains(g.methods[r.Path], r.Method) {
			g.methods[r.Path] = append(g.methods[r.Path], r.Method)
		}
	}
	if g.stage == "" {
		g.stage = DefaultStage
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxBody
	}
	if g.timeout <= 0 {
		g.timeout = DefaultTimeout
	}
	if g.bodyWait <= 0 {
		g.bodyWait = DefaultBodyTimeout
	}
	if g.streamTimeout <= 0 {
		g.streamTimeout = DefaultStreamTimeout
	}
	if g.stall <= 0 {
		g.stall = DefaultStall
	}
	return g
}

// ServeHTTP answers one request as API Gateway would.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ids := requestIDs{
		request:  newUUID(),
		extended: newExtendedID(),
		lambda:   newUUID(),
	}
	// API Gateway names every answer with its request id, its own errors
	// included, so a client can quote it and we can find the log line.
	w.Header().Set("X-Amzn-RequestId", ids.request)
	w.Header().Set("X-Amz-Apigw-Id", ids.extended)

	bodyRead := g.boundBody(w, r, start)

	route, params, ok := routes.Match(g.table, r.Method, r.URL.Path)
	if !ok && r.Method == http.MethodHead {
		// HEAD is GET without the body (net/http drops what the function
		// writes); the stack gives every GET route a HEAD method on AWS.
		route, params, ok = routes.Match(g.table, http.MethodGet, r.URL.Path)
	}
	if !ok {
		methods := g.resourceMethods(r.URL.Path)
		switch {
		case methods != nil && r.Method == http.MethodOptions:
			// API Gateway answers a preflight itself (a mock integration):
			// no function, no authorizer, no throttle. An origin the policy
			// refuses gets the same 204 without CORS headers, and the
			// browser stops there.
			g.cors.Preflight(w.Header(), r.Header.Get("Origin"), methods)
			w.WriteHeader(http.StatusNoContent)
		case methods != nil:
			// A path that exists, with another method: the stack gives
			// every resource an ANY method answering the same (infra).
			allow := routes.Allow(methods)
			w.Header().Set("Allow", allow)
			g.fail(w, r, http.StatusMethodNotAllowed, apierror.CodeMethodNotAllowed,
				fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
		default:
			// API Gateway answers MISSING_AUTHENTICATION_TOKEN (403) for
			// an unknown resource; our stack maps that gateway response to
			// 404 in the error shape.
			g.fail(w, r, http.StatusNotFound, apierror.CodeNotFound,
				fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
		}
		return
	}

	// Throttling, then the authorizer, as API Gateway orders them: a
	// throttled request costs no authorizer call, and a refused one never
	// reaches the function nor has its body read.
	if g.limits != nil {
		if wait, ok := g.limits.admit(route); !ok {
			w.Header().Set("Retry-After", retryAfter(wait))
			g.fail(w, r, http.StatusTooManyRequests, apierror.CodeThrottled, "too many requests")
			return
		}
	}
	ev := g.event(r, route, params, ids, start)
	if g.needsAuthorizer(route) {
		authCtx, refused := g.authorize(r.Context(), r, ev, ids)
		if refused != nil {
			if refused.status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "5") // as the stack's gateway response (infra/spec)
			}
			g.fail(w, r, refused.status, refused.code, refused.message)
			return
		}
		ev.RequestContext.Authorizer = authCtx
	}

	fn, ok := g.functions[route.Function]
	streamFn, streams := g.streams[route.Function]
	if route.Stream {
		ok = streams
	}
	if !ok {
		g.log.ErrorContext(r.Context(), "gateway: no handler for the route's function",
			"request_id", ids.request, "route", route.Pattern(), "function", route.Function)
		g.fail(w, r, http.StatusBadGateway, apierror.CodeInternal, internalMessage)
		return
	}

	body, err := readBody(w, r, g.maxBody)
	if err == nil {
		bodyRead()
	} else {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			g.fail(w, r, http.StatusRequestEntityTooLarge, apierror.CodeTooLarge,
				fmt.Sprintf("request body is larger than %d bytes", g.maxBody))
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			g.fail(w, r, http.StatusRequestTimeout, apierror.CodeRequestTimeout,
				fmt.Sprintf("the request body did not arrive within %s", g.bodyWait))
			return
		}
		// The client went away or sent a broken chunked body: nobody is
		// left to read a detailed answer.
		g.fail(w, r, http.StatusBadRequest, apierror.CodeBadRequest, "could not read the request body")
		return
	}
	setBody(&ev, body)
	if route.Stream {
		g.serveStream(w, r, route, streamFn, ev, ids)
		return
	}

	// The handler's context carries only the deadline, not the client's
	// cancellation: Lambda keeps running when the caller hangs up, and a
	// handler must not learn otherwise here.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), g.timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       ids.lambda,
		InvokedFunctionArn: arnPrefix + route.Function,
	})

	resp, err := invoke(ctx, fn, ev)
	if ctx.Err() != nil {
		// API Gateway's clock decides, whatever the handler did: past the
		// integration timeout the client has its 504 already, even if the
		// function still finishes (or fails) later.
		g.log.ErrorContext(r.Context(), "gateway: function timed out",
			"request_id", ids.request, "aws_request_id", ids.lambda,
			"route", route.Pattern(), "function", route.Function, "timeout", g.timeout)
		g.fail(w, r, http.StatusGatewayTimeout, apierror.CodeInternal, "endpoint request timed out")
		return
	}
	if err == nil {
		err = writeResponse(w, resp)
	}
	if err != nil {
		// The error text stays in the log: it may name tables, keys or
		// stack frames, none of which a client should see.
		g.log.ErrorContext(r.Context(), "gateway: function failed",
			"request_id", ids.request, "aws_request_id", ids.lambda,
			"route", route.Pattern(), "function", route.Function, "err", err)
		g.fail(w, r, http.StatusBadGateway, apierror.CodeInternal, internalMessage)
	}
}

// boundBody gives a request's body bodyWait from start to arrive, and
// returns what to call once it has been read whole. Until then the
// answer closes the connection: net/http reads what is left of an unread
// body after an answer (a refusal's, say) to keep the connection, and a
// client sending it slowly would hold it there; under the deadline that
// read ends, and the connection with it. A server without deadlines (a
// test recorder) just does not support them.
func (g *Gateway) boundBody(w http.ResponseWriter, r *http.Request, start time.Time) (read func()) {
	if r.ContentLength == 0 {
		return func() {}
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(start.Add(g.bodyWait))
	w.Header().Set("Connection", "close")
	return func() {
		_ = rc.SetReadDeadline(time.Time{})
		w.Header().Del("Connection")
	}
}

// resourceMethods returns the methods of the resource path names (the
// table's, without OPTIONS), or nil when no path of the table matches.
func (g *Gateway) resourceMethods(path string) []string {
	res, _, ok := routes.Match(g.resources, http.MethodOptions, path)
	if !ok {
		return nil
	}
	return g.methods[res.Path]
}

// fail sends an answer the gateway makes itself, in the error shape and
// with the CORS headers a browser needs to let the page read it: a page
// that cannot see a 429 or a 401 cannot react to it.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	g.cors.Apply(w.Header(), r.Header.Get("Origin"))
	apierror.Write(w, status, code, message)
}

// requestIDs are the ids of one request. API Gateway and Lambda each give
// their own: the gateway's is the one clients see, Lambda's is the one in
// the function's logs.
type requestIDs struct {
	request  string // requestContext.requestId and x-amzn-RequestId
	extended string // requestContext.extendedRequestId and x-amz-apigw-id
	lambda   string // the LambdaContext's AwsRequestID
}

// internalMessage answers a failure on the function's side without saying
// what it was.
const internalMessage = "internal server error"

// readBody reads the whole request body, failing with *http.MaxBytesError
// past limit bytes. It reads at most limit+1 bytes whatever the client
// sends.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return body, nil
}

// event builds the proxy event API Gateway would send for r, but for the
// body (setBody), which is read only once the request is let through.
func (g *Gateway) event(r *http.Request, route routes.Route, params map[string]string, ids requestIDs, start time.Time) events.APIGatewayProxyRequest {
	headers, multiHeaders := headerMaps(r)
	query, multiQuery := queryMaps(r.URL.RawQuery)

	ev := events.APIGatewayProxyRequest{
		Resource:                        route.Path,
		Path:                            r.URL.Path,
		HTTPMethod:                      r.Method,
		Headers:                         headers,
		MultiValueHeaders:               multiHeaders,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: multiQuery,
		PathParameters:                  params, // nil when the route has none, as AWS sends null
		StageVariables:                  nil,    // the local stage defines none
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID:         accountID,
			APIID:             apiID,
			ResourceID:        resourceID(route.Path),
			Stage:             g.stage,
			RequestID:         ids.request,
			ExtendedRequestID: ids.extended,
			Identity: events.APIGatewayRequestIdentity{
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
			ResourcePath:     route.Path,
			HTTPMethod:       r.Method,
			Path:             "/" + g.stage + r.URL.Path,
			Protocol:         r.Proto,
			RequestTime:      start.UTC().Format(requestTimeLayout),
			RequestTimeEpoch: start.UnixMilli(),
			DomainName:       r.Host,
		},
	}
	return ev
}

// setBody puts the request body into the event.
func setBody(ev *events.APIGatewayProxyRequest, body []byte) {
	// The event is JSON, and JSON strings are UTF-8: anything else would be
	// mangled into U+FFFD on the way, so such a body travels as base64.
	// (API Gateway decides by its binaryMediaTypes instead; this rule gives
	// the same result for the JSON and binary bodies we serve.)
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	}
}

// headerMaps gives the request headers as API Gateway does: the last value
// of each in one map, all of them in the other, nil when there are none.
func headerMaps(r *http.Request) (map[string]string, map[string][]string) {
	multi := make(map[string][]string, len(r.Header)+1)
	for name, values := range r.Header {
		multi[name] = slices.Clone(values)
	}
	// net/http moves Host out of the header map; API Gateway passes it on.
	if r.Host != "" {
		multi["Host"] = []string{r.Host}
	}
	if len(multi) == 0 {
		return nil, nil
	}
	return lastValues(multi), multi
}

// queryMaps gives the query parameters as API Gateway does, nil when the
// request has no query string (AWS sends null, not {}).
func queryMaps(rawQuery string) (map[string]string, map[string][]string) {
	// A malformed pair is dropped and the rest kept: what r.URL.Query()
	// gives, so a net/http handler behind the proxy adapter sees the same.
	multi, _ := url.ParseQuery(rawQuery)
	if len(multi) == 0 {
		return nil, nil
	}
	return lastValues(multi), multi
}

func lastValues(multi map[string][]string) map[string]string {
	single := make(map[string]string, len(multi))
	for name, values := range multi {
		if len(values) > 0 {
			single[name] = values[len(values)-1]
		}
	}
	return single
}

// sourceIP is the client's address without the port, as API Gateway gives
// it in identity.sourceIp.
func sourceIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr // no port: already an address
	}
	return host
}

// resourceID stands in for API Gateway's id of a resource: short, and the
// same for every method and request on one path, so a handler may compare
// it but never finds a meaning in it.
func resourceID(path string) string {
	sum := sha256.Sum256([]byte(path))
	return hex.EncodeToString(sum[:3])
}

// invoke calls fn as the Lambda runtime would: the event and the response
// both pass through JSON, and run's rules hold for panics and deadlines.
func invoke(ctx context.Context, fn Handler, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	var in events.APIGatewayProxyRequest
	if err := jsonRoundTrip(ev, &in); err != nil {
		return events.APIGatewayProxyResponse{}, fmt.Errorf("serialise event: %w", err)
	}

	resp, err := run(ctx, fn, in)
	if err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	var out events.APIGatewayProxyResponse
	if err := jsonRoundTrip(resp, &out); err != nil {
		return events.APIGatewayProxyResponse{}, fmt.Errorf("serialise response: %w", err)
	}
	return out, nil
}

// run calls a Lambda function: a panic is an error, and the caller gets
// control back at ctx's deadline even from a function that ignores ctx (the
// function then runs on, unobserved, as a timed-out invocation does). An
// error the function returned comes back as a *functionError.
func run[In, Out any](ctx context.Context, fn func(context.Context, In) (Out, error), in In) (Out, error) {
	type result struct {
		out Out
		err error
	}
	done := make(chan result, 1) // buffered: a late function must not block forever
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("function panicked: %v\n%s", p, debug.Stack())}
			}
		}()
		out, err := fn(ctx, in)
		done <- result{out: out, err: err}
	}()

	var zero Out
	select {
	case res := <-done:
		if res.err != nil {
			return zero, &functionError{err: res.err}
		}
		return res.out, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("invoke: %w", ctx.Err())
	}
}

// functionError is an error the function itself returned, as opposed to a
// panic, a timeout or a serialisation failure: API Gateway reads the
// message of this one (an authorizer's "Unauthorized").
type functionError struct {
	err error
}

func (e *functionError) Error() string { return "function: " + e.err.Error() }
func (e *functionError) Unwrap() error { return e.err }

// jsonRoundTrip copies from into to through JSON, as the Lambda runtime
// moves events and responses: what does not survive it here would not
// survive it on AWS.
func jsonRoundTrip(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return fmt.Errorf("marshal %T: %w", from, err)
	}
	if err := json.Unmarshal(b, to); err != nil {
		return fmt.Errorf("unmarshal %T: %w", to, err)
	}
	return nil
}

// writeResponse sends a proxy response to the client. A response API
// Gateway would call malformed is an error, and nothing is written then.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) error {
	// 1xx are not final answers (net/http would follow one with a 200),
	// and 0 is a handler that forgot to set a status: both malformed.
	if resp.StatusCode < 200 || resp.StatusCode > 599 {
		return fmt.Errorf("malformed response: status code %d", resp.StatusCode)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return fmt.Errorf("malformed response: base64 body: %w", err)
		}
	}

	setHeaders(w.Header(), resp.Headers, resp.MultiValueHeaders)
	w.WriteHeader(resp.StatusCode)
	// A write error means the client is gone; there is nobody to tell.
	_, _ = w.Write(body)
	return nil
}

// setHeaders puts a function's answer headers on the gateway's answer, as
// API Gateway does, for buffered and streamed answers alike.
func setHeaders(h http.Header, single map[string]string, multi map[string][]string) {
	requestID, apigwID := h.Get("X-Amzn-RequestId"), h.Get("X-Amz-Apigw-Id")
	for name, value := range single {
		h.Set(name, value)
	}
	// API Gateway merges the two maps; for a name in both, only the
	// multi-value one counts.
	for name, values := range multi {
		h.Del(name)
		for _, v := range values {
			h.Add(name, v)
		}
	}
	// The gateway's own headers win over a handler's, and it frames the
	// body itself: a handler's Content-Length could not be trusted.
	h.Set("X-Amzn-RequestId", requestID)
	h.Set("X-Amz-Apigw-Id", apigwID)
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	// A REST API proxy integration labels an answer without a type JSON.
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
}

// newUUID returns a random (version 4) UUID, the form of API Gateway's and
// Lambda's request ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// newExtendedID returns an id in the form of API Gateway's extended request
// id: 16 characters of base64, "Ab1CdEfGhIjKlmN=".
func newExtendedID() string {
	var b [11]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.StdEncoding.EncodeToString(b[:])
}
