package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/metrics"
	"github.com/plainview/serverless/shared/routes"
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
