package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/metrics"
)

// requestLog writes one line per request that is both the request's log
// line and its EMF metrics document: CloudWatch Logs takes the metrics from
// any JSON line with an `_aws` member, and one line written by hand costs a
// tenth of a slog record plus a document encoded on its own
// (docs/benchmarks.md). Because it carries the metrics, the line is written
// whatever the logger's level.
type requestLog struct {
	function string
	logger   *slog.Logger // for what goes wrong while writing a line
	metrics  *metrics.Emitter
	now      func() time.Time
	served   atomic.Bool // set by the first request: the rest are warm
	routes   map[string]*routeLine
	lines    sync.Pool // of *[]byte: the line buffers, reused
}

// routeLine is what the request lines of one route have in common,
// encoded on the route's first request rather than in New: a function
// serves many routes and a sandbox may see one of them, so building them
// all would only lengthen the cold start.
type routeLine struct {
	once   sync.Once
	fields []byte          // `,"function":"...","route":"..."`
	layout *metrics.Layout // Function and Route; Requests, Latency, Errors5xx
	err    error           // why there is no layout
}

func newRequestLog(function string, logger *slog.Logger, m *metrics.Emitter, now func() time.Time, patterns []string) *requestLog {
	l := &requestLog{function: function, logger: logger, metrics: m, now: now, routes: make(map[string]*routeLine, len(patterns)+1)}
	for _, route := range append(patterns, unmatched) {
		l.routes[route] = &routeLine{}
	}
	return l
}

// line is the route's routeLine, built once.
func (l *requestLog) line(route string) *routeLine {
	rl, ok := l.routes[route]
	if !ok {
		route, rl = unmatched, l.routes[unmatched]
	}
	rl.once.Do(func() {
		rl.fields = append(rl.fields, `,"function":`...)
		rl.fields = metrics.AppendString(rl.fields, l.function)
		rl.fields = append(rl.fields, `,"route":`...)
		rl.fields = metrics.AppendString(rl.fields, route)
		rl.layout, rl.err = l.metrics.Layout([]metrics.Dimension{{Name: "Function", Value: l.function}, {Name: "Route", Value: route}},
			[]metrics.Metric{{Name: "Requests", Unit: metrics.Count}, {Name: "Latency", Unit: metrics.Milliseconds}, {Name: "Errors5xx", Unit: metrics.Count}})
		// The members the request line writes itself, which the metrics
		// must leave to it.
		for _, k := range [...]string{"timestamp", "level", "message", "request_id", "function", "route",
			"method", "path", "status", "latency_ms", "cold_start", "key_id", "error"} {
			if rl.err == nil && rl.layout.Has(k) {
				rl.err = fmt.Errorf("metrics layout takes the log member %q", k)
			}
		}
	})
	return rl
}

// buffer is a line buffer from the pool; release puts it back.
func (l *requestLog) buffer() *[]byte {
	if buf, ok := l.lines.Get().(*[]byte); ok {
		return buf
	}
	return new([]byte)
}

func (l *requestLog) release(buf *[]byte) { l.lines.Put(buf) }

// unmatched is the route of a request that matched none.
const unmatched = "unmatched"

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

// Unwrap lets http.ResponseController reach the writer underneath: the
// event stream flushes through it.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// requestNote carries what the handlers learn to the request log line.
type requestNote struct {
	err          error
	keyID        string
	principal    auth.Principal
	hasPrincipal bool
	// counts are the domain metrics the handler counted (once each), for
	// the request line to carry.
	counts []*metrics.Layout
	// held is where counts start, in the note's own allocation: most
	// requests count one or two.
	held [2]*metrics.Layout
}

type noteCtxKey struct{}

// noteError hands the cause of a 5xx to the request log line.
func noteError(r *http.Request, err error) {
	if n, ok := r.Context().Value(noteCtxKey{}).(*requestNote); ok {
		n.err = err
	}
}

// notePrincipal hands the admitted key to the handler and its id to the
// log line; false when the request has no note.
func notePrincipal(r *http.Request, p auth.Principal) bool {
	n, ok := r.Context().Value(noteCtxKey{}).(*requestNote)
	if ok {
		n.principal, n.hasPrincipal, n.keyID = p, true, p.KeyID
	}
	return ok
}

// noteKey hands the key id (never the key) to the request log line.
func noteKey(r *http.Request, id string) {
	if n, ok := r.Context().Value(noteCtxKey{}).(*requestNote); ok {
		n.keyID = id
	}
}

// exchange is a request's recorder and note, allocated together.
type exchange struct {
	rec  recorder
	note requestNote
}

func (l *requestLog) serve(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	start := l.now()
	cold := !l.served.Swap(true)
	x := &exchange{rec: recorder{ResponseWriter: w}}
	rec, note := &x.rec, &x.note
	note.counts = note.held[:0]
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
	rl := l.line(r.Pattern)
	ms := float64(latency.Microseconds()) / 1000
	level, five := "INFO", 0.0
	if status >= 500 {
		level, five = "ERROR", 1
	}
	now := l.now()

	buf := l.buffer()
	defer l.release(buf)
	b := append((*buf)[:0], `{"timestamp":"`...)
	b = appendTimestamp(b, now)
	b = append(b, `","level":"`...)
	b = append(b, level...)
	b = append(b, `","message":"request","request_id":`...)
	b = metrics.AppendString(b, requestID(r))
	b = append(b, rl.fields...)
	b = append(b, `,"method":`...)
	b = metrics.AppendString(b, r.Method)
	b = append(b, `,"path":`...)
	b = metrics.AppendString(b, r.URL.Path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendFloat(b, ms, 'f', -1, 64)
	b = append(b, `,"cold_start":`...)
	b = strconv.AppendBool(b, cold)
	if note.keyID != "" {
		b = append(b, `,"key_id":`...)
		b = metrics.AppendString(b, note.keyID)
	}
	if status >= 500 && note.err != nil {
		b = append(b, `,"error":`...)
		b = metrics.AppendString(b, note.err.Error())
	}
	err := rl.err
	var apart []*metrics.Layout // domain metrics that could not share the line
	if err == nil {
		// The entries stay on the stack: a request counts one or two
		// domain metrics, and any past the third get lines of their own.
		var entries [4]metrics.Entry
		values, one := [...]float64{1, ms, five}, [...]float64{1}
		entries[0] = metrics.Entry{Layout: rl.layout, Values: values[:]}
		n := 1
		for i, c := range note.counts {
			if n == len(entries) {
				apart = note.counts[i:]
				break
			}
			entries[n] = metrics.Entry{Layout: c, Values: one[:]}
			n++
		}
		var merged []byte
		merged, err = metrics.AppendEntries(b, now, entries[:n]...)
		if err != nil && n > 1 {
			// Two of them disagree on a dimension (an alert and the
			// incident it opened, of other severities): each domain
			// metric gets a line of its own.
			apart = note.counts
			merged, err = metrics.AppendEntries(b, now, entries[0])
		}
		b = merged
	}
	if err != nil {
		// The request is still logged, without its metrics.
		l.logger.Error("emit metrics", "route", r.Pattern, "error", err)
		b = append(b, "}\n"...)
	}
	if err := l.metrics.WriteLine(b); err != nil {
		l.logger.Error("write request line", "error", err)
	}
	*buf = b
	for _, c := range apart {
		l.countLine(r, c)
	}
}

// countLine writes one domain metric on a line of its own.
func (l *requestLog) countLine(r *http.Request, c *metrics.Layout) {
	buf := l.buffer()
	defer l.release(buf)
	line := metrics.AppendString(append((*buf)[:0], `{"request_id":`...), requestID(r))
	line, err := c.AppendTo(line, l.now(), 1)
	if err == nil {
		err = l.metrics.WriteLine(line)
	}
	if err != nil {
		l.logger.Error("emit metrics", "error", err)
	}
	*buf = line
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

// timestampLayout is how slog's JSON handler writes a record's time.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// appendTimestamp appends t as timestampLayout formats it. A Lambda
// sandbox runs in UTC, and for UTC the digits are written here, in a third
// of the time AppendFormat takes to interpret the layout; any other zone
// goes to AppendFormat.
func appendTimestamp(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if _, offset := t.Zone(); offset != 0 || year < 0 || year > 9999 {
		return t.AppendFormat(b, timestampLayout)
	}
	hour, minute, second := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, second, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendDigits appends n, 0 <= n < 10^width, in width digits.
func appendDigits(b []byte, n, width int) []byte {
	for range width {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= len(b)-width; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return b
}
