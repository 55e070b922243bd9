package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"
)

// Layout is what stays the same between documents of one kind: the
// namespace, the dimensions and their values, and the metrics' names and
// units. The Emitter checks it by the rules Emit applies and encodes it
// once; AppendTo then adds only the values and the timestamp. A request's
// metrics then cost a few hundred nanoseconds instead of the microseconds
// of a document encoded from scratch (docs/benchmarks.md), and they can
// share one line with the request's log fields: CloudWatch takes the EMF
// directive from any JSON log line that has an `_aws` member.
type Layout struct {
	names    []string // metric names, in the order AppendTo takes the values
	dimNames []string
	dims     []byte // `,"Dim":"value",...`
	tail     []byte // `,"_aws":{"CloudWatchMetrics":[...],"Timestamp":`
}

// Layout checks and encodes a document kind with the dimensions dims and
// the metrics ms (their values are ignored).
func (e *Emitter) Layout(dims []Dimension, ms []Metric) (*Layout, error) {
	if _, err := e.encode(time.UnixMilli(0), dims, ms, nil); err != nil {
		return nil, err
	}
	l := &Layout{}
	for _, d := range dims {
		l.dims = append(l.dims, ',')
		l.dims = appendMember(l.dims, d.Name, d.Value)
		l.dimNames = append(l.dimNames, d.Name)
	}
	defs := make([]definition, 0, len(ms))
	for _, m := range ms {
		l.names = append(l.names, m.Name)
		defs = append(defs, definition{Name: m.Name, Unit: m.Unit})
	}
	cwm, err := json.Marshal([]directive{{Namespace: e.namespace, Dimensions: [][]string{l.dimNames}, Metrics: defs}})
	if err != nil {
		return nil, fmt.Errorf("metrics: layout: %w", err)
	}
	l.tail = append(l.tail, `,"`+metadataKey+`":{"CloudWatchMetrics":`...)
	l.tail = append(l.tail, cwm...)
	l.tail = append(l.tail, `,"Timestamp":`...)
	return l, nil
}

// Has reports whether name is a member of the layout's documents, so that
// a caller adding members of its own can check it takes none of them.
func (l *Layout) Has(name string) bool {
	return name == metadataKey || slices.Contains(l.names, name) || slices.Contains(l.dimNames, name)
}

// AppendTo ends the JSON object that b has opened, and holds at least one
// member, with the layout's members: one value per metric, in the layout's
// order, the dimensions and `_aws` with t as the timestamp. The caller
// writes the line with Emitter.WriteLine.
func (l *Layout) AppendTo(b []byte, t time.Time, values ...float64) ([]byte, error) {
	if len(values) != len(l.names) {
		return b, fmt.Errorf("metrics: %d values for %d metrics", len(values), len(l.names))
	}
	ts := t.UnixMilli()
	if ts < 0 {
		return b, fmt.Errorf("%w: %v", errTimestamp, t)
	}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return b, fmt.Errorf("%w: %s=%v", errValue, l.names[i], v)
		}
	}
	for i, v := range values {
		b = append(b, ',')
		b = appendString(b, l.names[i])
		b = append(b, ':')
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	b = append(b, l.dims...)
	b = append(b, l.tail...)
	b = strconv.AppendInt(b, ts, 10)
	return append(b, "}}\n"...), nil
}

// WriteLine writes one finished line in a single Write, under the lock
// that keeps Emit's documents whole.
func (e *Emitter) WriteLine(line []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.w.Write(line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("metrics: write: %w", err)
	}
	return nil
}

// appendMember appends "name":"value".
func appendMember(b []byte, name, value string) []byte {
	b = appendString(b, name)
	b = append(b, ':')
	return appendString(b, value)
}

// appendString appends s as a JSON string. Names and values in a request
// line are nearly always plain ASCII, which needs no escaping; anything
// else goes through encoding/json, which escapes it correctly (and also
// escapes <, > and &, which Emit leaves as they are: the same JSON value).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendString appends s to b as a JSON string, for callers that build the
// rest of a line a Layout ends.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }
