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
	names []string // metric names, in the order AppendTo takes the values
	// nameMembers are the names as the start of members, `,"Name":` each.
	nameMembers [][]byte
	dims        []Dimension // the dimensions and their values
	// dimMembers are the dimensions as members, `"Dim":"value"` each.
	dimMembers [][]byte
	directive  []byte // `{"Namespace":...,"Dimensions":[[...]],"Metrics":[...]}`
}

// Layout checks and encodes a document kind with the dimensions dims and
// the metrics ms (their values are ignored).
func (e *Emitter) Layout(dims []Dimension, ms []Metric) (*Layout, error) {
	if _, err := e.encode(time.UnixMilli(0), dims, ms, nil); err != nil {
		return nil, err
	}
	l := &Layout{dims: slices.Clone(dims)}
	names := make([]string, 0, len(dims))
	for _, d := range dims {
		l.dimMembers = append(l.dimMembers, appendMember(nil, d.Name, d.Value))
		names = append(names, d.Name)
	}
	defs := make([]definition, 0, len(ms))
	for _, m := range ms {
		l.names = append(l.names, m.Name)
		l.nameMembers = append(l.nameMembers, append(appendString([]byte{','}, m.Name), ':'))
		defs = append(defs, definition{Name: m.Name, Unit: m.Unit})
	}
	d, err := json.Marshal(directive{Namespace: e.namespace, Dimensions: [][]string{names}, Metrics: defs})
	if err != nil {
		return nil, fmt.Errorf("metrics: layout: %w", err)
	}
	l.directive = d
	return l, nil
}

// Has reports whether name is a member of the layout's documents, so that
// a caller adding members of its own can check it takes none of them.
func (l *Layout) Has(name string) bool {
	if name == metadataKey || slices.Contains(l.names, name) {
		return true
	}
	for _, d := range l.dims {
		if d.Name == name {
			return true
		}
	}
	return false
}

// AppendTo ends the JSON object that b has opened, and holds at least one
// member, with the layout's members: one value per metric, in the layout's
// order, the dimensions and `_aws` with t as the timestamp. The caller
// writes the line with Emitter.WriteLine.
func (l *Layout) AppendTo(b []byte, t time.Time, values ...float64) ([]byte, error) {
	return AppendEntries(b, t, Entry{Layout: l, Values: values})
}

// Entry is one layout's values, for a line that carries several.
type Entry struct {
	Layout *Layout
	Values []float64
}

// AppendEntries is AppendTo for several layouts on one line: each one's
// metrics and dimensions as members, and one directive each in `_aws`, so
// CloudWatch makes each its metrics, with each its own dimensions. A
// dimension two layouts share must have the same value (it is written
// once); any other name used twice is errCollision, and b comes back as it
// was, so the caller can write the entries on lines of their own.
func AppendEntries(b []byte, t time.Time, entries ...Entry) ([]byte, error) {
	ts := t.UnixMilli()
	if ts < 0 {
		return b, fmt.Errorf("%w: %v", errTimestamp, t)
	}
	for i, e := range entries {
		l := e.Layout
		if len(e.Values) != len(l.names) {
			return b, fmt.Errorf("metrics: %d values for %d metrics", len(e.Values), len(l.names))
		}
		for j, v := range e.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return b, fmt.Errorf("%w: %s=%v", errValue, l.names[j], v)
			}
		}
		for _, prev := range entries[:i] {
			if err := compatible(prev.Layout, l); err != nil {
				return b, err
			}
		}
	}
	for i, e := range entries {
		for j, v := range e.Values {
			b = append(b, e.Layout.nameMembers[j]...)
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
		}
		for j, d := range e.Layout.dims {
			if writtenBefore(entries[:i], d) {
				continue
			}
			b = append(b, ',')
			b = append(b, e.Layout.dimMembers[j]...)
		}
	}
	b = append(b, `,"`+metadataKey+`":{"CloudWatchMetrics":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.Layout.directive...)
	}
	b = append(b, `],"Timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	return append(b, "}}\n"...), nil
}

// compatible checks that two layouts can share a line: no metric name of
// either is a name of the other, and a dimension of both has one value.
func compatible(a, b *Layout) error {
	for _, n := range b.names {
		if a.Has(n) {
			return fmt.Errorf("%w: metric %q", errCollision, n)
		}
	}
	for _, d := range b.dims {
		if slices.Contains(a.names, d.Name) {
			return fmt.Errorf("%w: dimension %q", errCollision, d.Name)
		}
		for _, ad := range a.dims {
			if ad.Name == d.Name && ad.Value != d.Value {
				return fmt.Errorf("%w: dimension %q is %q and %q", errCollision, d.Name, ad.Value, d.Value)
			}
		}
	}
	return nil
}

// writtenBefore reports whether an earlier entry wrote the dimension.
func writtenBefore(entries []Entry, d Dimension) bool {
	for _, e := range entries {
		if slices.Contains(e.Layout.dims, d) {
			return true
		}
	}
	return false
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
