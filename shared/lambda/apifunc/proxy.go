package apifunc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

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
