package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/routes"
)

// deadEndpoint is an address nothing listens on.
func deadEndpoint(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestADatabaseThatIsDownMakesReadsRetryableAndTheServiceNotReady(t *testing.T) {
	var logs bytes.Buffer
	st := store.New(store.NewClient(store.LocalConfig(), deadEndpoint(t)), "plainview", nil)
	api := httpapi.New(httpapi.Config{Routes: []httpapi.Routes{httpapi.ReadRoutes, httpapi.EventRoutes},
		Function: routes.FuncReads, Version: "t", Store: st,
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
		Metrics: metrics.NewEmitter(&logs, "Plainview"),
	})
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}

	if rec := get("/readyz"); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("readyz: %d Retry-After=%q", rec.Code, rec.Header().Get("Retry-After"))
	}
	rec := get("/health")
	var h struct {
		Status string
		Checks map[string]string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || rec.Code != 200 {
		t.Fatalf("health: %d %s", rec.Code, rec.Body)
	}
	if h.Status != "degraded" || h.Checks["database"] != "error" || h.Checks["mqtt"] != "disabled" {
		t.Errorf("health = %+v", h)
	}
	rec = get("/valves")
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"unavailable"`) {
		t.Errorf("valves: %d %s", rec.Code, rec.Body)
	}
	if rec := get("/livez"); rec.Code != 200 {
		t.Errorf("livez must not depend on the database: %d", rec.Code)
	}
	// The cause is in the log, not in the answer.
	if strings.Contains(rec.Body.String(), "dial") || !strings.Contains(logs.String(), `"error":`) {
		t.Errorf("cause leaked or not logged: body %s", rec.Body)
	}
}

func TestEachRequestWritesOneLineThatIsItsLogAndItsMetrics(t *testing.T) {
	var logs, out bytes.Buffer
	st := store.New(store.NewClient(store.LocalConfig(), deadEndpoint(t)), "plainview", nil)
	api := httpapi.New(httpapi.Config{Routes: []httpapi.Routes{httpapi.ReadRoutes, httpapi.EventRoutes},
		Function: routes.FuncReads, Store: st,
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
		Metrics: metrics.NewEmitter(&out, "Plainview"),
	})
	for range 2 {
		api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/livez", nil))
	}
	api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/valves", nil)) // 503: the database is down
	api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/nowhere", nil))

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines for 4 requests:\n%s", len(lines), out.String())
	}
	if logs.Len() != 0 {
		t.Errorf("the request lines are not the logger's; it wrote:\n%s", logs.String())
	}
	type line struct {
		Timestamp string   `json:"timestamp"`
		Level     string   `json:"level"`
		Message   string   `json:"message"`
		RequestID string   `json:"request_id"`
		Function  string   `json:"function"`
		Route     string   `json:"route"`
		Method    string   `json:"method"`
		Path      string   `json:"path"`
		Error     string   `json:"error"`
		Status    int      `json:"status"`
		LatencyMS *float64 `json:"latency_ms"`
		ColdStart bool     `json:"cold_start"`
		AWS       struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		DimFunction string  `json:"Function"`
		DimRoute    string  `json:"Route"`
		Requests    float64 `json:"Requests"`
		Latency     float64 `json:"Latency"`
		Errors5xx   float64 `json:"Errors5xx"`
	}
	want := []struct {
		route, level string
		status       int
		cold         bool
		errors5xx    float64
	}{
		{"GET /livez", "INFO", 200, true, 0},
		{"GET /livez", "INFO", 200, false, 0},
		{"GET /valves", "ERROR", 503, false, 1},
		{"unmatched", "INFO", 404, false, 0},
	}
	for i, raw := range lines {
		noDuplicateMembers(t, raw)
		var l line
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %d: %v\n%s", i, err, raw)
		}
		w := want[i]
		if l.Message != "request" || l.Level != w.level || l.Route != w.route || l.Function != "reads" ||
			l.Status != w.status || l.ColdStart != w.cold || l.LatencyMS == nil || l.Timestamp == "" {
			t.Errorf("line %d, log members: %s", i, raw)
		}
		if (w.status >= 500) != (l.Error != "") {
			t.Errorf("line %d: error %q with status %d", i, l.Error, l.Status)
		}
		cw := l.AWS.CloudWatchMetrics
		if len(cw) != 1 || cw[0].Namespace != "Plainview" || len(cw[0].Dimensions) != 1 ||
			strings.Join(cw[0].Dimensions[0], ",") != "Function,Route" || len(cw[0].Metrics) != 3 || l.AWS.Timestamp == 0 {
			t.Errorf("line %d, directive: %+v", i, l.AWS)
		}
		if l.DimFunction != "reads" || l.DimRoute != w.route || l.Requests != 1 || l.Errors5xx != w.errors5xx || l.Latency != *l.LatencyMS {
			t.Errorf("line %d, metric members: %s", i, raw)
		}
	}
}

// noDuplicateMembers fails when the line's object names a member twice:
// a decoder would keep the last, and CloudWatch might read the other.
func noDuplicateMembers(t *testing.T, line string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	seen := map[string]bool{}
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
			expectKey = depth == 1 && v == '{'
			continue
		case string:
			if depth == 1 && expectKey {
				if seen[v] {
					t.Errorf("member %q twice in %s", v, line)
				}
				seen[v] = true
				expectKey = false
				continue
			}
		}
		if depth == 1 {
			expectKey = true
		}
	}
}

func TestAPanicIsA500InTheErrorShapeAndTheHandlerLivesOn(t *testing.T) {
	var logs bytes.Buffer
	api := httpapi.New(httpapi.Config{Routes: []httpapi.Routes{httpapi.ReadRoutes, httpapi.EventRoutes}, Function: routes.FuncReads, Store: panicky{}, Metrics: metrics.NewEmitter(&logs, "Plainview")})
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/valves", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"internal_error"`) {
		t.Errorf("panic answered %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

// panicky is a store whose every method panics (through the nil embedded
// interface): the handler must survive it.
type panicky struct{ httpapi.Reader }
