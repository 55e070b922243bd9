package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/routes"
)

// Domain metrics ride on the request's line; two that disagree on a
// dimension cannot, and each gets a line of its own instead of being lost.
func TestDomainMetricsShareTheRequestLineUnlessTheyDisagree(t *testing.T) {
	tests := []struct {
		name      string
		severity  [2]string
		wantLines int
	}{
		{"same severity: one line", [2]string{"critical", "critical"}, 1},
		{"other severities: a line each", [2]string{"warning", "critical"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			a := New(Config{Function: routes.FuncIncidents, Metrics: metrics.NewEmitter(&out, "Plainview")})
			r := httptest.NewRequest(http.MethodPost, "/pipeline/alerts", nil)
			a.log.serve(httptest.NewRecorder(), r, func(w http.ResponseWriter, r *http.Request) {
				a.count(r, "Alerts", "", metrics.Dimension{Name: "Severity", Value: tt.severity[0]}, nil)
				a.count(r, "IncidentsOpened", "", metrics.Dimension{Name: "Severity", Value: tt.severity[1]}, nil)
				w.WriteHeader(http.StatusCreated)
			})
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != tt.wantLines {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), tt.wantLines, out.String())
			}
			counted := map[string]string{}
			for _, l := range lines {
				var doc map[string]any
				if err := json.Unmarshal([]byte(l), &doc); err != nil {
					t.Fatalf("%v: %s", err, l)
				}
				for _, m := range []string{"Alerts", "IncidentsOpened", "Requests"} {
					if doc[m] == 1.0 {
						counted[m], _ = doc["Severity"].(string)
					}
				}
			}
			if len(counted) != 3 || counted["Alerts"] != tt.severity[0] || counted["IncidentsOpened"] != tt.severity[1] {
				t.Errorf("counted %v, want Requests, Alerts (%s) and IncidentsOpened (%s)", counted, tt.severity[0], tt.severity[1])
			}
		})
	}
}

// A request line holds the request's metrics and up to three domain
// metrics; more than that are written on lines of their own, and none is
// lost.
func TestDomainMetricsPastTheThirdGetLinesOfTheirOwn(t *testing.T) {
	var out bytes.Buffer
	a := New(Config{Function: routes.FuncIncidents, Metrics: metrics.NewEmitter(&out, "Plainview")})
	r := httptest.NewRequest(http.MethodPost, "/pipeline/alerts", nil)
	names := []string{"A1", "A2", "A3", "A4", "A5"}
	a.log.serve(httptest.NewRecorder(), r, func(w http.ResponseWriter, r *http.Request) {
		for _, n := range names {
			a.count(r, n, "", metrics.Dimension{Name: "Severity", Value: "critical"}, nil)
		}
		w.WriteHeader(http.StatusCreated)
	})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want the request line with three and one each for the other two:\n%s", len(lines), out.String())
	}
	seen := map[string]int{}
	for _, l := range lines {
		var doc map[string]any
		if err := json.Unmarshal([]byte(l), &doc); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		for _, m := range append([]string{"Requests"}, names...) {
			if doc[m] == 1.0 {
				seen[m]++
			}
		}
	}
	for _, m := range append([]string{"Requests"}, names...) {
		if seen[m] != 1 {
			t.Errorf("%s counted %d times, want once: %v", m, seen[m], seen)
		}
	}
}

// The request line's timestamp is what slog would write, to the
// millisecond, in UTC and in any other zone.
func TestAppendTimestampWritesWhatAppendFormatWrites(t *testing.T) {
	east := time.FixedZone("east", 5*3600+30*60)
	times := []time.Time{
		time.Date(2026, 11, 24, 1, 2, 3, 4_567_890, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 24, 1, 2, 3, 4_000_000, east),
		time.Date(2026, 11, 24, 1, 2, 3, 4_000_000, time.UTC).Local(),
		time.Now(),
	}
	for i := range 1000 {
		times = append(times, time.UnixMilli(int64(i)*987_654_321_987%253_402_300_799_000).UTC())
	}
	for _, tm := range times {
		want := tm.AppendFormat([]byte("x"), timestampLayout)
		if got := appendTimestamp([]byte("x"), tm); !bytes.Equal(got, want) {
			t.Errorf("appendTimestamp(%v) = %s, want %s", tm, got, want)
		}
	}
}
