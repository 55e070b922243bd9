package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// specMillis is the timestamp of the specification's example document.
const specMillis = 1574109732004

// decode reads exactly one JSON object from a line, keeping numbers as
// written so that an integer timestamp is told from a float.
func decode(t *testing.T, line string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, line)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value on the line:\n%s", line)
	}
	return doc
}

func TestEmitWritesTheDocumentOfTheSpecification(t *testing.T) {
	tests := []struct {
		name  string
		dims  []Dimension
		ms    []Metric
		props map[string]any
		want  string // the document, as the specification would write it
	}{
		{
			name:  "the example of the specification",
			dims:  []Dimension{{"functionVersion", "$LATEST"}},
			ms:    []Metric{{"time", Milliseconds, 100}},
			props: map[string]any{"requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"},
			want: `{
				"_aws": {
					"Timestamp": 1574109732004,
					"CloudWatchMetrics": [{
						"Namespace": "lambda-function-metrics",
						"Dimensions": [["functionVersion"]],
						"Metrics": [{"Name": "time", "Unit": "Milliseconds"}]
					}]
				},
				"functionVersion": "$LATEST",
				"time": 100,
				"requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
			}`,
		},
		{
			name: "dimensions keep the caller's order in the dimension set",
			dims: []Dimension{{"Service", "valves"}, {"Operation", "actuate"}, {"Asset", "v-101"}},
			ms:   []Metric{{"Latency", Milliseconds, 12.5}, {"Errors", Count, 0}, {"Size", Bytes, 2048}},
			want: `{
				"_aws": {
					"Timestamp": 1574109732004,
					"CloudWatchMetrics": [{
						"Namespace": "lambda-function-metrics",
						"Dimensions": [["Service", "Operation", "Asset"]],
						"Metrics": [
							{"Name": "Latency", "Unit": "Milliseconds"},
							{"Name": "Errors", "Unit": "Count"},
							{"Name": "Size", "Unit": "Bytes"}
						]
					}]
				},
				"Service": "valves", "Operation": "actuate", "Asset": "v-101",
				"Latency": 12.5, "Errors": 0, "Size": 2048
			}`,
		},
		{
			// A DimensionSet MAY be empty, but Dimensions needs one set.
			name: "no dimensions is one empty dimension set",
			ms:   []Metric{{"Cold", Count, 1}},
			want: `{
				"_aws": {
					"Timestamp": 1574109732004,
					"CloudWatchMetrics": [{
						"Namespace": "lambda-function-metrics",
						"Dimensions": [[]],
						"Metrics": [{"Name": "Cold", "Unit": "Count"}]
					}]
				},
				"Cold": 1
			}`,
		},
		{
			name:  "no metrics is an empty array, not null",
			dims:  []Dimension{{"Service", "reads"}},
			props: map[string]any{"note": "started"},
			want: `{
				"_aws": {
					"Timestamp": 1574109732004,
					"CloudWatchMetrics": [{
						"Namespace": "lambda-function-metrics",
						"Dimensions": [["Service"]],
						"Metrics": []
					}]
				},
				"Service": "reads",
				"note": "started"
			}`,
		},
		{
			name: "properties keep their JSON types and nesting",
			ms:   []Metric{{"Lag", Seconds, -1.25}},
			props: map[string]any{
				"ok":     true,
				"n":      3,
				"nested": map[string]any{"a": []int{1, 2}},
				"none":   nil,
			},
			want: `{
				"_aws": {
					"Timestamp": 1574109732004,
					"CloudWatchMetrics": [{
						"Namespace": "lambda-function-metrics",
						"Dimensions": [[]],
						"Metrics": [{"Name": "Lag", "Unit": "Seconds"}]
					}]
				},
				"Lag": -1.25,
				"ok": true, "n": 3, "nested": {"a": [1, 2]}, "none": null
			}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			e := NewEmitter(&buf, "lambda-function-metrics")
			if err := e.Emit(time.UnixMilli(specMillis), tt.dims, tt.ms, tt.props); err != nil {
				t.Fatalf("Emit: %v", err)
			}
			line := buf.String()
			if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
				t.Fatalf("want exactly one line ending in a newline, got %q", line)
			}
			got := decode(t, line)
			want := decode(t, tt.want)
			if !reflect.DeepEqual(got, want) {
				gotJSON, _ := json.MarshalIndent(got, "", "  ")
				wantJSON, _ := json.MarshalIndent(want, "", "  ")
				t.Errorf("document:\n%s\nwant:\n%s", gotJSON, wantJSON)
			}
		})
	}
}

func TestEmitTimestampIsIntegerUnixMilliseconds(t *testing.T) {
	// Sub-millisecond precision is dropped, not rounded into a fraction:
	// the schema types Timestamp as an integer.
	at := time.Date(2024, 5, 6, 7, 8, 9, 123_987_654, time.FixedZone("X", 3*3600))
	var buf bytes.Buffer
	if err := NewEmitter(&buf, "ns").Emit(at, nil, []Metric{{"m", Count, 1}}, nil); err != nil {
		t.Fatal(err)
	}
	aws := decode(t, buf.String())["_aws"].(map[string]any)
	got := aws["Timestamp"].(json.Number).String()
	if want := fmt.Sprint(at.UnixMilli()); got != want {
		t.Errorf("Timestamp = %s, want %s", got, want)
	}
}

func TestEmitDoesNotEscapeHTML(t *testing.T) {
	// Log lines are read and searched as text.
	var buf bytes.Buffer
	err := NewEmitter(&buf, "a&b").Emit(time.UnixMilli(specMillis), []Dimension{{"Route", "GET /x?a=1&b=<2>"}}, []Metric{{"n", Count, 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"GET /x?a=1&b=<2>"`) || !strings.Contains(buf.String(), `"a&b"`) {
		t.Errorf("HTML characters were escaped: %s", buf.String())
	}
}

func TestEmitAcceptsEveryCloudWatchUnit(t *testing.T) {
	// The list of MetricDatum, spelled out rather than taken from the
	// constants, so that a misspelt constant fails here.
	units := []string{
		"Seconds", "Microseconds", "Milliseconds",
		"Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
		"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
		"Percent", "Count",
		"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
		"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
		"Count/Second", "None",
	}
	consts := []Unit{
		Seconds, Microseconds, Milliseconds,
		Bytes, Kilobytes, Megabytes, Gigabytes, Terabytes,
		Bits, Kilobits, Megabits, Gigabits, Terabits,
		Percent, Count,
		BytesPerSecond, KilobytesPerSecond, MegabytesPerSecond, GigabytesPerSecond, TerabytesPerSecond,
		BitsPerSecond, KilobitsPerSecond, MegabitsPerSecond, GigabitsPerSecond, TerabitsPerSecond,
		CountPerSecond, None,
	}
	for i, u := range units {
		if string(consts[i]) != u {
			t.Errorf("constant %d is %q, want %q", i, consts[i], u)
		}
		var buf bytes.Buffer
		if err := NewEmitter(&buf, "ns").Emit(time.UnixMilli(specMillis), nil, []Metric{{"m", Unit(u), 1}}, nil); err != nil {
			t.Errorf("unit %q: %v", u, err)
		}
	}
}

func TestEmitAcceptsTheLimits(t *testing.T) {
	tests := []struct {
		name      string
		namespace string
		at        time.Time
		dims      []Dimension
		ms        []Metric
	}{
		{name: "namespace of 255 characters", namespace: strings.Repeat("n", 255)},
		{name: "namespace of 255 two-byte characters", namespace: strings.Repeat("é", 255)},
		{name: "the Unix epoch", at: time.Unix(0, 0)},
		{name: "30 dimensions", dims: dimensions(30)},
		{name: "100 metrics", ms: metrics(100)},
		{name: "dimension name of 250 characters", dims: []Dimension{{strings.Repeat("d", 250), "v"}}},
		{name: "metric name of 255 characters", ms: []Metric{{strings.Repeat("m", 255), Count, 1}}},
		{name: "dimension value of 1024 characters", dims: []Dimension{{"d", strings.Repeat("v", 1024)}}},
		{name: "zero, negative and huge metric values", ms: []Metric{{"a", None, 0}, {"b", None, -7}, {"c", None, math.MaxFloat64}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.namespace == "" {
				tt.namespace = "ns"
			}
			if tt.at.IsZero() {
				tt.at = time.UnixMilli(specMillis)
			}
			var buf bytes.Buffer
			if err := NewEmitter(&buf, tt.namespace).Emit(tt.at, tt.dims, tt.ms, nil); err != nil {
				t.Fatalf("Emit: %v", err)
			}
			doc := decode(t, buf.String())
			if got, want := len(doc), 1+len(tt.dims)+len(tt.ms); got != want {
				t.Errorf("root has %d members, want %d", got, want)
			}
		})
	}
}

func TestEmitRejectsInvalidDocumentsAndWritesNothing(t *testing.T) {
	// Each case breaks one rule of this document, which is otherwise valid.
	valid := func() *input {
		return &input{
			namespace: "ns",
			at:        time.UnixMilli(specMillis),
			dims:      []Dimension{{"Service", "valves"}},
			ms:        []Metric{{"Latency", Milliseconds, 1}},
			props:     map[string]any{"requestId": "r-1"},
		}
	}
	invalidUTF8 := "a\xffb"
	tests := []struct {
		name   string
		change func(*input)
		want   error
	}{
		{name: "empty namespace", change: func(in *input) { in.namespace = "" }, want: errNamespace},
		{name: "namespace of 256 characters", change: func(in *input) { in.namespace = strings.Repeat("n", 256) }, want: errNamespace},
		{name: "namespace not UTF-8", change: func(in *input) { in.namespace = invalidUTF8 }, want: errNamespace},
		{name: "time before 1970", change: func(in *input) { in.at = time.Unix(-1, 0) }, want: errTimestamp},
		{name: "the zero time", change: func(in *input) { in.at = time.Time{} }, want: errTimestamp},
		{name: "31 dimensions", change: func(in *input) { in.dims = dimensions(31) }, want: errTooMany},
		{name: "101 metrics", change: func(in *input) { in.ms = metrics(101) }, want: errTooMany},
		{name: "empty dimension name", change: func(in *input) { in.dims[0].Name = "" }, want: errName},
		{name: "dimension name of 251 characters", change: func(in *input) { in.dims[0].Name = strings.Repeat("d", 251) }, want: errName},
		{name: "dimension name not UTF-8", change: func(in *input) { in.dims[0].Name = invalidUTF8 }, want: errName},
		{name: "empty metric name", change: func(in *input) { in.ms[0].Name = "" }, want: errName},
		{name: "metric name of 256 characters", change: func(in *input) { in.ms[0].Name = strings.Repeat("m", 256) }, want: errName},
		{name: "metric name not UTF-8", change: func(in *input) { in.ms[0].Name = invalidUTF8 }, want: errName},
		{name: "duplicate dimension", change: func(in *input) { in.dims = append(in.dims, Dimension{"Service", "reads"}) }, want: errCollision},
		{name: "duplicate metric", change: func(in *input) { in.ms = append(in.ms, Metric{"Latency", Milliseconds, 2}) }, want: errCollision},
		{name: "metric named like a dimension", change: func(in *input) { in.ms[0].Name = "Service" }, want: errCollision},
		{name: "dimension named _aws", change: func(in *input) { in.dims[0].Name = "_aws" }, want: errCollision},
		{name: "metric named _aws", change: func(in *input) { in.ms[0].Name = "_aws" }, want: errCollision},
		{name: "property named _aws", change: func(in *input) { in.props["_aws"] = "x" }, want: errCollision},
		{name: "property named like a dimension", change: func(in *input) { in.props["Service"] = "x" }, want: errCollision},
		{name: "property named like a metric", change: func(in *input) { in.props["Latency"] = 3 }, want: errCollision},
		{name: "property name not UTF-8", change: func(in *input) { in.props[invalidUTF8] = 1 }, want: errProperty},
		{name: "property that is not JSON", change: func(in *input) { in.props["ch"] = make(chan int) }, want: errProperty},
		{name: "property NaN", change: func(in *input) { in.props["x"] = math.NaN() }, want: errProperty},
		{name: "no unit", change: func(in *input) { in.ms[0].Unit = "" }, want: errUnit},
		{name: "unit in lower case", change: func(in *input) { in.ms[0].Unit = "milliseconds" }, want: errUnit},
		{name: "unit not in the list", change: func(in *input) { in.ms[0].Unit = "Requests" }, want: errUnit},
		{name: "NaN value", change: func(in *input) { in.ms[0].Value = math.NaN() }, want: errValue},
		{name: "+Inf value", change: func(in *input) { in.ms[0].Value = math.Inf(1) }, want: errValue},
		{name: "-Inf value", change: func(in *input) { in.ms[0].Value = math.Inf(-1) }, want: errValue},
		{name: "empty dimension value", change: func(in *input) { in.dims[0].Value = "" }, want: errDimensionValue},
		{name: "dimension value of 1025 characters", change: func(in *input) { in.dims[0].Value = strings.Repeat("v", 1025) }, want: errDimensionValue},
		{name: "dimension value not UTF-8", change: func(in *input) { in.dims[0].Value = invalidUTF8 }, want: errDimensionValue},
	}

	// Unbroken, the document is accepted, so no case passes for a reason
	// other than its own.
	if in := valid(); in.emit(io.Discard) != nil {
		t.Fatal("the valid document is refused")
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.change(in)
			var buf bytes.Buffer
			err := in.emit(&buf)
			if !errors.Is(err, tt.want) {
				t.Errorf("Emit error = %v, want %v", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %q, want nothing", buf.String())
			}
		})
	}
}

// input is an emitter's namespace and the arguments of one Emit call.
type input struct {
	namespace string
	at        time.Time
	dims      []Dimension
	ms        []Metric
	props     map[string]any
}

func (in *input) emit(w io.Writer) error {
	return NewEmitter(w, in.namespace).Emit(in.at, in.dims, in.ms, in.props)
}

func TestEmitReportsWriteErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	tests := []struct {
		name string
		w    io.Writer
		want error
	}{
		{"the writer's error", writerFunc(func(p []byte) (int, error) { return 0, boom }), boom},
		{"a short write", writerFunc(func(p []byte) (int, error) { return len(p) - 1, nil }), io.ErrShortWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewEmitter(tt.w, "ns").Emit(time.UnixMilli(specMillis), nil, []Metric{{"m", Count, 1}}, nil)
			if !errors.Is(err, tt.want) {
				t.Errorf("Emit error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEmitIsSafeForConcurrentUse(t *testing.T) {
	const goroutines, each = 32, 50
	// The writer does no locking of its own: the race detector and the
	// overlap counter catch an Emitter that lets writes meet.
	w := &recorder{}
	e := NewEmitter(w, "ns")
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				err := e.Emit(time.UnixMilli(specMillis),
					[]Dimension{{"Goroutine", fmt.Sprint(g)}},
					[]Metric{{"I", Count, float64(i)}},
					map[string]any{"padding": strings.Repeat("x", 512*(i%4))})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	if w.overlaps.Load() != 0 {
		t.Errorf("%d writes overlapped", w.overlaps.Load())
	}
	if got, want := len(w.writes), goroutines*each; got != want {
		t.Fatalf("%d Write calls, want %d: one per document", got, want)
	}
	seen := map[string]bool{}
	for _, p := range w.writes {
		line := string(p)
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("a Write is not exactly one line: %q", line)
		}
		doc := decode(t, line)
		seen[fmt.Sprint(doc["Goroutine"], "/", doc["I"])] = true
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d distinct documents, want %d", len(seen), goroutines*each)
	}
}

// recorder keeps each Write call apart. It copies p, as io.Writer allows
// the caller to reuse it.
type recorder struct {
	inFlight atomic.Int32
	overlaps atomic.Int32
	writes   [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.inFlight.Add(1) > 1 {
		r.overlaps.Add(1)
	}
	defer r.inFlight.Add(-1)
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func dimensions(n int) []Dimension {
	d := make([]Dimension, n)
	for i := range d {
		d[i] = Dimension{Name: fmt.Sprintf("d%d", i), Value: "v"}
	}
	return d
}

func metrics(n int) []Metric {
	m := make([]Metric, n)
	for i := range m {
		m[i] = Metric{Name: fmt.Sprintf("m%d", i), Unit: Count, Value: float64(i)}
	}
	return m
}
