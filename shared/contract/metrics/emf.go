// Package metrics writes CloudWatch Embedded Metric Format (EMF) documents:
// one JSON object per line, which CloudWatch Logs turns into metrics without
// a PutMetricData call from the function. Lambda sends whatever a function
// writes to standard output to its log group, so an Emitter over os.Stdout
// is all a handler needs.
//
// The format is specified at
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html.
// CloudWatch drops an invalid document without telling the writer, so Emit
// checks the rules of the specification first and writes nothing when one
// is broken: a lost metric then shows up as an error where it was caused.
package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"
	"unicode/utf8"
)

// Unit is a CloudWatch unit name ("Count", "Milliseconds", ...).
type Unit string

// The CloudWatch units, as MetricDatum lists them. CloudWatch refuses any
// other unit name, and so does Emit.
const (
	Seconds            Unit = "Seconds"
	Microseconds       Unit = "Microseconds"
	Milliseconds       Unit = "Milliseconds"
	Bytes              Unit = "Bytes"
	Kilobytes          Unit = "Kilobytes"
	Megabytes          Unit = "Megabytes"
	Gigabytes          Unit = "Gigabytes"
	Terabytes          Unit = "Terabytes"
	Bits               Unit = "Bits"
	Kilobits           Unit = "Kilobits"
	Megabits           Unit = "Megabits"
	Gigabits           Unit = "Gigabits"
	Terabits           Unit = "Terabits"
	Percent            Unit = "Percent"
	Count              Unit = "Count"
	BytesPerSecond     Unit = "Bytes/Second"
	KilobytesPerSecond Unit = "Kilobytes/Second"
	MegabytesPerSecond Unit = "Megabytes/Second"
	GigabytesPerSecond Unit = "Gigabytes/Second"
	TerabytesPerSecond Unit = "Terabytes/Second"
	BitsPerSecond      Unit = "Bits/Second"
	KilobitsPerSecond  Unit = "Kilobits/Second"
	MegabitsPerSecond  Unit = "Megabits/Second"
	GigabitsPerSecond  Unit = "Gigabits/Second"
	TerabitsPerSecond  Unit = "Terabits/Second"
	CountPerSecond     Unit = "Count/Second"
	None               Unit = "None"
)

// valid reports whether u is one of the CloudWatch units. The zero Unit is
// not: the specification would default it to None, but a forgotten unit is
// more often a mistake than a choice, so callers say None when they mean it.
func (u Unit) valid() bool {
	switch u {
	case Seconds, Microseconds, Milliseconds,
		Bytes, Kilobytes, Megabytes, Gigabytes, Terabytes,
		Bits, Kilobits, Megabits, Gigabits, Terabits,
		Percent, Count,
		BytesPerSecond, KilobytesPerSecond, MegabytesPerSecond, GigabytesPerSecond, TerabytesPerSecond,
		BitsPerSecond, KilobitsPerSecond, MegabitsPerSecond, GigabitsPerSecond, TerabitsPerSecond,
		CountPerSecond, None:
		return true
	}
	return false
}

// Limits of the specification and of CloudWatch. Where the EMF schema and
// the CloudWatch API differ, the smaller wins, because a document must pass
// both to become a metric.
const (
	maxNamespaceLen      = 255  // CloudWatch namespaces (the EMF schema allows 1024)
	maxDimensions        = 30   // keys in a DimensionSet
	maxMetrics           = 100  // MetricDefinitions in a MetricDirective
	maxDimensionNameLen  = 250  // DimensionReference in the EMF schema (CloudWatch allows 255)
	maxMetricNameLen     = 255  // CloudWatch metric names (the EMF schema allows 1024)
	maxDimensionValueLen = 1024 // dimension target members
)

// metadataKey is the root member that holds the metric directives; no
// dimension, metric or property may take its place.
const metadataKey = "_aws"

// ruleError is a rule of the specification that a document would break.
// Emit wraps one with the details; being a constant, it needs no package
// variable and still works with errors.Is.
type ruleError string

func (e ruleError) Error() string { return string(e) }

const (
	errNamespace      ruleError = "metrics: invalid namespace"
	errTimestamp      ruleError = "metrics: timestamp before 1970"
	errTooMany        ruleError = "metrics: too many members"
	errName           ruleError = "metrics: invalid name"
	errCollision      ruleError = "metrics: member name used twice"
	errUnit           ruleError = "metrics: invalid unit"
	errValue          ruleError = "metrics: metric value not finite"
	errDimensionValue ruleError = "metrics: invalid dimension value"
	errProperty       ruleError = "metrics: invalid property"
)

// Dimension is one dimension of the metrics of a document.
type Dimension struct {
	Name, Value string
}

// Metric is one value of a metric.
type Metric struct {
	Name  string
	Unit  Unit
	Value float64
}

// Emitter writes EMF documents to a writer. It is safe for concurrent use.
// Each document goes out in a single Write call, and Emit holds a lock
// around it, so documents of concurrent callers never interleave even when
// the writer itself is not safe for concurrent use. Other code writing to
// the same writer is beyond its reach, but one Write per line still keeps
// a line whole on a pipe as long as it fits in PIPE_BUF (4 KiB on Linux).
type Emitter struct {
	namespace string

	mu sync.Mutex // serialises writes to w
	w  io.Writer
}

// NewEmitter returns an Emitter that writes documents for the CloudWatch
// namespace to w. The namespace is checked by Emit, which has an error to
// return.
func NewEmitter(w io.Writer, namespace string) *Emitter {
	return &Emitter{namespace: namespace, w: w}
}

// Emit writes one EMF document: _aws.Timestamp (Unix ms of t), one
// CloudWatchMetrics directive with Namespace, Dimensions [[names of dims in
// order]], Metrics [{Name, Unit}], and the dimension values, metric values
// and properties as top-level members.
//
// Properties are written as they are, for Logs Insights queries; they
// become no metric. Invalid input returns an error and writes nothing.
func (e *Emitter) Emit(t time.Time, dims []Dimension, ms []Metric, props map[string]any) error {
	line, err := e.encode(t, dims, ms, props)
	if err != nil {
		return err
	}
	return e.WriteLine(line)
}

// Record writes one document, as Emit does, for work that is already
// done: a document it cannot write is logged on log rather than returned,
// because a lost metric must not fail (and so retry) the work it counts.
// A nil Emitter records nothing, so a service built without metrics needs
// no check of its own. The functions' counts outside a request (ingest,
// the authorizer's key store, the timeouts run) go through here; a
// request's own metrics are the request log's (shared/api/httpapi).
func (e *Emitter) Record(log *slog.Logger, t time.Time, dims []Dimension, ms ...Metric) {
	if e == nil {
		return
	}
	if err := e.Emit(t, dims, ms, nil); err != nil {
		log.Error("emit metrics", "error", err)
	}
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

type directive struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []definition `json:"Metrics"`
}

type definition struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

// encode validates a document and returns it as one line, newline included,
// so that the caller can write it at once.
func (e *Emitter) encode(t time.Time, dims []Dimension, ms []Metric, props map[string]any) ([]byte, error) {
	if e.namespace == "" || utf8.RuneCountInString(e.namespace) > maxNamespaceLen || !utf8.ValidString(e.namespace) {
		return nil, fmt.Errorf("%w: %q must be 1 to %d characters of UTF-8", errNamespace, e.namespace, maxNamespaceLen)
	}
	ts := t.UnixMilli()
	if ts < 0 {
		return nil, fmt.Errorf("%w: %v", errTimestamp, t)
	}
	if len(dims) > maxDimensions {
		return nil, fmt.Errorf("%w: %d dimensions, at most %d", errTooMany, len(dims), maxDimensions)
	}
	if len(ms) > maxMetrics {
		return nil, fmt.Errorf("%w: %d metrics, at most %d", errTooMany, len(ms), maxMetrics)
	}

	// Dimensions, metrics and properties all become members of the root
	// object, so their names share one space: a second member of the same
	// name would silently replace the first, and CloudWatch would publish
	// the wrong value or none.
	taken := make(map[string]struct{}, 1+len(dims)+len(ms)+len(props))
	taken[metadataKey] = struct{}{}
	claim := func(kind, name string) error {
		if _, ok := taken[name]; ok {
			return fmt.Errorf("%w: %s %q", errCollision, kind, name)
		}
		taken[name] = struct{}{}
		return nil
	}

	names := make([]string, 0, len(dims))
	for _, d := range dims {
		if err := checkName("dimension", d.Name, maxDimensionNameLen); err != nil {
			return nil, err
		}
		if err := claim("dimension", d.Name); err != nil {
			return nil, err
		}
		// A dimension target must be a string; an empty one makes no
		// metric, and invalid UTF-8 would be rewritten by the encoder into
		// a value the caller never gave.
		if d.Value == "" || utf8.RuneCountInString(d.Value) > maxDimensionValueLen || !utf8.ValidString(d.Value) {
			return nil, fmt.Errorf("%w: %s=%q must be 1 to %d characters of UTF-8", errDimensionValue, d.Name, d.Value, maxDimensionValueLen)
		}
		names = append(names, d.Name)
	}

	defs := make([]definition, 0, len(ms))
	for _, m := range ms {
		if err := checkName("metric", m.Name, maxMetricNameLen); err != nil {
			return nil, err
		}
		if err := claim("metric", m.Name); err != nil {
			return nil, err
		}
		if !m.Unit.valid() {
			return nil, fmt.Errorf("%w: %q for metric %q", errUnit, m.Unit, m.Name)
		}
		// JSON has no NaN or Inf; encoding/json would fail on them anyway,
		// but this says which metric.
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			return nil, fmt.Errorf("%w: %s=%v", errValue, m.Name, m.Value)
		}
		defs = append(defs, definition{Name: m.Name, Unit: m.Unit})
	}

	for k := range props {
		if !utf8.ValidString(k) {
			return nil, fmt.Errorf("%w: name %q is not UTF-8", errProperty, k)
		}
		if err := claim("property", k); err != nil {
			return nil, err
		}
	}

	// The document is written member by member rather than as a map: a
	// map[string]any makes encoding/json sort the keys and reflect over
	// every value, which was the largest cost of a request (see
	// docs/benchmarks.md). The members are the same.
	w := newDocWriter()
	if err := w.member(metadataKey, metadata{
		Timestamp: ts,
		CloudWatchMetrics: []directive{{
			Namespace:  e.namespace,
			Dimensions: [][]string{names},
			Metrics:    defs,
		}},
	}); err != nil {
		return nil, err
	}
	for _, d := range dims {
		if err := w.member(d.Name, d.Value); err != nil {
			return nil, err
		}
	}
	for _, m := range ms {
		if err := w.member(m.Name, m.Value); err != nil {
			return nil, err
		}
	}
	for k, v := range props {
		if err := w.member(k, v); err != nil {
			return nil, fmt.Errorf("%w: %w", errProperty, err)
		}
	}
	return w.end(), nil
}

// docWriter writes one JSON object, member by member, on one line.
type docWriter struct {
	buf bytes.Buffer
	enc *json.Encoder
	n   int
}

func newDocWriter() *docWriter {
	w := &docWriter{}
	w.buf.WriteByte('{')
	w.enc = json.NewEncoder(&w.buf)
	// Log lines are not HTML; escaping <, > and & only makes them harder
	// to read and search.
	w.enc.SetEscapeHTML(false)
	return w
}

// value writes v as JSON without the newline Encode adds.
func (w *docWriter) value(v any) error {
	if err := w.enc.Encode(v); err != nil {
		return err
	}
	w.buf.Truncate(w.buf.Len() - 1)
	return nil
}

func (w *docWriter) member(name string, v any) error {
	if w.n > 0 {
		w.buf.WriteByte(',')
	}
	w.n++
	if err := w.value(name); err != nil {
		return err
	}
	w.buf.WriteByte(':')
	return w.value(v)
}

func (w *docWriter) end() []byte {
	w.buf.WriteString("}\n")
	return w.buf.Bytes()
}

// checkName checks a dimension or metric name. Invalid UTF-8 is refused
// because the encoder would replace it with U+FFFD, and two different names
// could then become the same member.
func checkName(kind, name string, maxLen int) error {
	if name == "" || utf8.RuneCountInString(name) > maxLen || !utf8.ValidString(name) {
		return fmt.Errorf("%w: %s name %q must be 1 to %d characters of UTF-8", errName, kind, name, maxLen)
	}
	return nil
}
