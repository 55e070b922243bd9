package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLayoutWritesWhatEmitWrites(t *testing.T) {
	dims := []Dimension{{"Function", "reads"}, {"Route", "GET /valves/{id}"}}
	ms := []Metric{{"Requests", Count, 1}, {"Latency", Milliseconds, 0.125}, {"Errors5xx", Count, 0}}
	at := time.UnixMilli(specMillis)

	var emitted bytes.Buffer
	if err := NewEmitter(&emitted, "Plainview").Emit(at, dims, ms, map[string]any{"request_id": "r-1"}); err != nil {
		t.Fatal(err)
	}

	var written bytes.Buffer
	e := NewEmitter(&written, "Plainview")
	l, err := e.Layout(dims, ms)
	if err != nil {
		t.Fatal(err)
	}
	line := AppendString([]byte(`{"request_id":`), "r-1")
	line, err = l.AppendTo(line, at, 1, 0.125, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteLine(line); err != nil {
		t.Fatal(err)
	}

	if !strings.HasSuffix(written.String(), "}\n") || strings.Count(written.String(), "\n") != 1 {
		t.Errorf("not one line: %q", written.String())
	}
	if got, want := decode(t, written.String()), decode(t, emitted.String()); !reflect.DeepEqual(got, want) {
		t.Errorf("layout wrote\n%s\nEmit wrote\n%s", written.String(), emitted.String())
	}
}

func TestLayoutRefusesWhatEmitRefuses(t *testing.T) {
	e := NewEmitter(&bytes.Buffer{}, "Plainview")
	tests := []struct {
		name string
		dims []Dimension
		ms   []Metric
		want error
	}{
		{"empty dimension value", []Dimension{{"Route", ""}}, []Metric{{"Requests", Count, 0}}, errDimensionValue},
		{"no unit", nil, []Metric{{"Requests", "", 0}}, errUnit},
		{"a name twice", []Dimension{{"Requests", "x"}}, []Metric{{"Requests", Count, 0}}, errCollision},
		{"the metadata member", nil, []Metric{{"_aws", Count, 0}}, errCollision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Layout(tt.dims, tt.ms); !errors.Is(err, tt.want) {
				t.Errorf("Layout: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := NewEmitter(&bytes.Buffer{}, "").Layout(nil, []Metric{{"Requests", Count, 0}}); !errors.Is(err, errNamespace) {
		t.Errorf("empty namespace: %v, want %v", err, errNamespace)
	}
}

func TestLayoutAppendToRefusesBadValues(t *testing.T) {
	l, err := NewEmitter(&bytes.Buffer{}, "Plainview").Layout(nil, []Metric{{"Requests", Count, 0}, {"Latency", Milliseconds, 0}})
	if err != nil {
		t.Fatal(err)
	}
	open := []byte(`{"a":1`)
	for _, tt := range []struct {
		name   string
		at     time.Time
		values []float64
		want   error
	}{
		{"NaN", time.Now(), []float64{1, math.NaN()}, errValue},
		{"infinity", time.Now(), []float64{math.Inf(1), 1}, errValue},
		{"before 1970", time.Unix(-1, 0), []float64{1, 1}, errTimestamp},
	} {
		if got, err := l.AppendTo(open, tt.at, tt.values...); !errors.Is(err, tt.want) || string(got) != string(open) {
			t.Errorf("%s: %q, %v; want the line untouched and %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := l.AppendTo(open, time.Now(), 1); err == nil {
		t.Error("one value for two metrics: no error")
	}
}

func TestLayoutHasItsMembers(t *testing.T) {
	l, err := NewEmitter(&bytes.Buffer{}, "Plainview").Layout([]Dimension{{"Function", "reads"}}, []Metric{{"Requests", Count, 0}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"Function": true, "Requests": true, "_aws": true, "function": false, "reads": false, "status": false} {
		if got := l.Has(name); got != want {
			t.Errorf("Has(%q) = %v, want %v", name, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "GET /valves/{id}", `quote " and \ back`, "tab\tnewline\n", "naïve ✓", "\xff\xfe", "<script>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString([]byte("x"), s)
		var got string
		if err := json.Unmarshal(b[1:], &got); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, b[1:], err)
		}
		// encoding/json is the reference: equal to s when s is valid
		// UTF-8, with U+FFFD for each invalid byte otherwise.
		ref, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("AppendString(%q) decodes to %q, want %q", s, got, want)
		}
	})
}

func TestEntriesShareALineWithADirectiveEach(t *testing.T) {
	e := NewEmitter(&bytes.Buffer{}, "Plainview")
	req, err := e.Layout([]Dimension{{"Function", "valves"}, {"Route", "POST /valves/{id}/actuate"}}, []Metric{{"Requests", Count, 0}})
	if err != nil {
		t.Fatal(err)
	}
	act, err := e.Layout([]Dimension{{"Function", "valves"}, {"Command", "OPEN"}, {"Result", "sent"}}, []Metric{{"Actuations", Count, 0}})
	if err != nil {
		t.Fatal(err)
	}
	line, err := AppendEntries([]byte(`{"message":"request"`), time.UnixMilli(specMillis), Entry{req, []float64{1}}, Entry{act, []float64{1}})
	if err != nil {
		t.Fatal(err)
	}
	noDuplicateMembers(t, string(line))
	doc := decode(t, string(line))
	want := map[string]any{"message": "request", "Requests": json.Number("1"), "Actuations": json.Number("1"),
		"Function": "valves", "Route": "POST /valves/{id}/actuate", "Command": "OPEN", "Result": "sent"}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	var meta struct {
		CloudWatchMetrics []struct {
			Dimensions [][]string
			Metrics    []struct{ Name string }
		}
	}
	raw, _ := json.Marshal(doc["_aws"])
	if err := json.Unmarshal(raw, &meta); err != nil || len(meta.CloudWatchMetrics) != 2 ||
		meta.CloudWatchMetrics[1].Metrics[0].Name != "Actuations" ||
		!reflect.DeepEqual(meta.CloudWatchMetrics[1].Dimensions, [][]string{{"Function", "Command", "Result"}}) {
		t.Errorf("_aws = %s", raw)
	}
}

func TestEntriesThatDisagreeDoNotShareALine(t *testing.T) {
	e := NewEmitter(&bytes.Buffer{}, "Plainview")
	alert, _ := e.Layout([]Dimension{{"Function", "incidents"}, {"Severity", "warning"}}, []Metric{{"Alerts", Count, 0}})
	opened, _ := e.Layout([]Dimension{{"Function", "incidents"}, {"Severity", "critical"}}, []Metric{{"IncidentsOpened", Count, 0}})
	twice, _ := e.Layout([]Dimension{{"Function", "incidents"}}, []Metric{{"Alerts", Count, 0}})
	open := []byte(`{"a":1`)
	for name, second := range map[string]*Layout{"a dimension with two values": opened, "a metric twice": twice} {
		got, err := AppendEntries(open, time.Now(), Entry{alert, []float64{1}}, Entry{second, []float64{1}})
		if !errors.Is(err, errCollision) || string(got) != string(open) {
			t.Errorf("%s: %q, %v; want the line untouched and %v", name, got, err, errCollision)
		}
	}
}

// noDuplicateMembers fails when the line's object names a member twice.
func noDuplicateMembers(t *testing.T, line string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", line)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		name := tok.(string)
		if seen[name] {
			t.Errorf("member %q twice in %s", name, line)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
}
