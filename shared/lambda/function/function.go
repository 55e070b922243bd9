// Package function holds what every Lambda function's main does before it
// starts: read the configuration, build the logger, the metrics emitter and
// the store. Keeping it here keeps each main.go to its own wiring.
package function

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/lambda/config"
)

// Namespace is the CloudWatch namespace of every Plainview metric.
const Namespace = "Plainview"

// Env is a function's configuration and the clients built from it.
type Env struct {
	Config  config.Config
	AWS     aws.Config
	CORS    cors.Policy
	Logger  *slog.Logger
	Metrics *metrics.Emitter
	Store   *store.Store
}

// Setup reads the configuration through getenv and builds the clients.
// Logs are JSON lines with Lambda's key names (timestamp, message; through
// lambdacontext.ReplaceAttr) whatever the function's log format setting,
// so CloudWatch Logs Insights can query them; metrics go to out as EMF
// documents, which CloudWatch turns into metrics.
func Setup(ctx context.Context, getenv func(string) string, out io.Writer) (Env, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return Env{}, fmt.Errorf("configuration: %w", err)
	}
	policy, err := cors.Parse(cfg.CORSOrigins)
	if err != nil {
		return Env{}, fmt.Errorf("configuration: CORS_ORIGINS: %w", err)
	}
	awsCfg, err := config.AWS(getenv)
	if err != nil {
		return Env{}, fmt.Errorf("aws configuration: %w", err)
	}
	return Env{
		Config:  cfg,
		AWS:     awsCfg,
		CORS:    policy,
		Logger:  slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: cfg.LogLevel, ReplaceAttr: lambdacontext.ReplaceAttr})),
		Metrics: metrics.NewEmitter(out, Namespace),
		Store:   store.New(store.NewClient(awsCfg, cfg.DynamoDBEndpoint), cfg.TableName, nil),
	}, nil
}

// APIConfig is the handler configuration of a function that serves its
// routes of the route table; the function adds the services its routes
// need. The local stack builds its functions the same way, so the same
// code answers on AWS and on localhost.
func APIConfig(env Env, fn string) httpapi.Config {
	return httpapi.Config{
		Function:           fn,
		Version:            env.Config.Version,
		Store:              env.Store,
		Logger:             env.Logger,
		Metrics:            env.Metrics,
		RequireKeyForReads: env.Config.RequireKeyForReads,
		CORS:               env.CORS,
		Idempotency:        env.Store,
	}
}

// Handler is the Lambda entry point of an API function: the same type as
// gateway.Handler, which the local gateway invokes. It is declared here so
// that a function binary does not link the local gateway and its
// authorizer (docs/decisions.md, binary sizes).
type Handler = func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// Proxy is the Lambda entry point of an HTTP handler behind API Gateway
// (REST API, proxy integration).
//
// The adapter builds its URL by pasting the event's path in unescaped, so a
// path holding "%", "?" or "#" would reach the handler cut or mangled, or
// fail to parse (a 502). Escaping the path first keeps such a request what
// it is: a path segment that is no valid id, which the handler answers 404.
func Proxy(h http.Handler) Handler {
	a := httpadapter.New(h)
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		ev.Path = (&url.URL{Path: ev.Path}).EscapedPath()
		return a.ProxyWithContext(ctx, ev)
	}
}

// StreamHandler is the Lambda entry point of a function whose route
// streams (routes.Route.Stream): API Gateway invokes it with
// InvokeWithResponseStream, and aws-lambda-go sends the answer as it is
// read: a JSON prelude (status, headers), eight zero bytes, the body. The
// same type as gateway.StreamHandler.
type StreamHandler = func(context.Context, events.APIGatewayProxyRequest) (*events.LambdaFunctionURLStreamingResponse, error)

// DefaultStall is how long a streamed answer may wait for its reader
// before the function gives up on it.
const DefaultStall = 30 * time.Second

// errStalled ends a streamed answer whose reader stopped reading.
var errStalled = errors.New("streamed answer: the reader stalled")

// Stream is the Lambda entry point of an HTTP handler whose answers
// stream. The handler runs on while its body is read: each Write goes to
// the reader as it is made, and a Flush is a no-op (nothing is held). A
// reader that takes no bytes for stall ends the answer (the handler's
// writes then fail and its request's context is cancelled), so a stalled
// client cannot hold the function until its timeout.
func Stream(h http.Handler, stall time.Duration) StreamHandler {
	if stall <= 0 {
		stall = DefaultStall
	}
	var accessor core.RequestAccessor
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
		ev.Path = (&url.URL{Path: ev.Path}).EscapedPath()
		req, err := accessor.EventToRequestWithContext(ctx, ev)
		if err != nil {
			return nil, fmt.Errorf("stream: request from event: %w", err)
		}
		ctx, cancel := context.WithCancel(req.Context())
		pr, pw := io.Pipe()
		sw := &streamWriter{header: http.Header{}, pr: pr, pw: pw, stall: stall, cancel: cancel, ready: make(chan struct{})}
		go func() {
			defer cancel()
			defer func() {
				// A panic after the answer began cannot become a 500: the
				// reader gets an error instead of a clean end.
				if p := recover(); p != nil {
					if !sw.started() {
						sw.header = http.Header{}
						sw.WriteHeader(http.StatusInternalServerError)
					}
					pw.CloseWithError(fmt.Errorf("stream: handler panicked: %v", p))
					return
				}
				sw.WriteHeader(http.StatusOK) // a handler that wrote nothing: 200, empty
				pw.Close()
			}()
			h.ServeHTTP(sw, req.WithContext(ctx))
		}()
		<-sw.ready
		return &events.LambdaFunctionURLStreamingResponse{
			StatusCode: sw.status,
			Headers:    singleValues(sw.sent),
			Body:       pr,
		}, nil
	}
}

// singleValues joins each header's values with ", ", as the streamed
// prelude has one value per name.
func singleValues(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for name, values := range h {
		out[name] = strings.Join(values, ", ")
	}
	return out
}

// streamWriter is the http.ResponseWriter of a streamed answer: the
// status and headers go into the prelude once (ready), the body through
// the pipe.
type streamWriter struct {
	header http.Header
	sent   http.Header // the headers as they were at WriteHeader
	status int
	ready  chan struct{}

	pr     *io.PipeReader
	pw     *io.PipeWriter
	stall  time.Duration
	cancel context.CancelFunc
}

func (s *streamWriter) Header() http.Header { return s.header }

func (s *streamWriter) started() bool { return s.status != 0 }

func (s *streamWriter) WriteHeader(status int) {
	if s.started() {
		return
	}
	s.status, s.sent = status, s.header.Clone()
	close(s.ready)
}

func (s *streamWriter) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	// The pipe hands the bytes over only when the reader takes them: a
	// reader that takes none for stall is cut off.
	t := time.AfterFunc(s.stall, func() {
		s.pr.CloseWithError(errStalled)
		s.cancel()
	})
	n, err := s.pw.Write(b)
	t.Stop()
	if err != nil {
		s.cancel()
	}
	return n, err
}

// Flush has nothing to do: every Write is handed to the reader already.
func (s *streamWriter) Flush() {}
