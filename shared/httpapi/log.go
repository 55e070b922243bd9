package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/plainview/serverless/shared/apierror"
	"github.com/plainview/serverless/shared/metrics"
)

// requestLog writes one log line and one EMF metrics document per request.
type requestLog struct {
	function string
	logger   *slog.Logger
	metrics  *metrics.Emitter
	now      func() time.Time
	served   atomic.Bool // set by the first request: the rest are warm
}

// recorder remembers what the handler answered.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// requestNote carries what the handlers learn to the request log line.
type requestNote struct {
	err   error
	keyID string
}

type noteCtxKey struct{}

// noteError hands the cause of a 5xx to the request log line.
func noteError(r *http.Request, err error) {
	if n, ok := r.Context().Value(noteCtxKey{}).(*requestNote); ok {
		n.err = err
	}
}

// noteKey hands the key id (never the key) to the request log line.
func noteKey(r *http.Request, id string) {
	if n, ok := r.Context().Value(noteCtxKey{}).(*requestNote); ok {
		n.keyID = id
	}
}

func (l *requestLog) serve(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	start := l.now()
	cold := !l.served.Swap(true)
	rec := &recorder{ResponseWriter: w}
	note := &requestNote{}
	r = r.WithContext(context.WithValue(r.Context(), noteCtxKey{}, note))
	defer func() {
		if p := recover(); p != nil {
			note.err = panicError{p}
			if rec.status == 0 {
				apierror.Write(rec, http.StatusInternalServerError, apierror.CodeInternal, "internal error")
			}
		}
		l.write(r, rec.status, l.now().Sub(start), cold, note)
	}()
	next(rec, r)
}

type panicError struct{ v any }

func (p panicError) Error() string { return "panic" }

func (l *requestLog) write(r *http.Request, status int, latency time.Duration, cold bool, note *requestNote) {
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	ms := float64(latency.Microseconds()) / 1000
	attrs := []slog.Attr{
		slog.String("request_id", requestID(r)),
		slog.String("function", l.function),
		slog.String("route", route),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Float64("latency_ms", ms),
		slog.Bool("cold_start", cold),
	}
	if note.keyID != "" {
		attrs = append(attrs, slog.String("key_id", note.keyID))
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
		if note.err != nil {
			attrs = append(attrs, slog.String("error", note.err.Error()))
		}
	}
	l.logger.LogAttrs(r.Context(), level, "request", attrs...)

	five := 0.0
	if status >= 500 {
		five = 1
	}
	err := l.metrics.Emit(l.now(), []metrics.Dimension{{Name: "Function", Value: l.function}, {Name: "Route", Value: route}},
		[]metrics.Metric{
			{Name: "Requests", Unit: metrics.Count, Value: 1},
			{Name: "Latency", Unit: metrics.Milliseconds, Value: ms},
			{Name: "Errors5xx", Unit: metrics.Count, Value: five},
		}, map[string]any{"request_id": requestID(r), "status": status})
	if err != nil {
		l.logger.Error("emit metrics", "error", err)
	}
}

// requestID is API Gateway's id of the request, which is also what the
// client sees in x-amzn-RequestId; the Lambda invocation id otherwise.
func requestID(r *http.Request) string {
	if gw, ok := core.GetAPIGatewayContextFromContext(r.Context()); ok && gw.RequestID != "" {
		return gw.RequestID
	}
	if lc, ok := lambdacontext.FromContext(r.Context()); ok {
		return lc.AwsRequestID
	}
	return ""
}
