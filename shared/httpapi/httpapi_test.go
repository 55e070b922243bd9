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

	"github.com/plainview/serverless/shared/httpapi"
	"github.com/plainview/serverless/shared/metrics"
	"github.com/plainview/serverless/shared/routes"
	"github.com/plainview/serverless/shared/store"
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
	api := httpapi.New(httpapi.Config{
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

func TestEachRequestLogsOneLineAndOneMetricsDocument(t *testing.T) {
	var logs, emf bytes.Buffer
	st := store.New(store.NewClient(store.LocalConfig(), deadEndpoint(t)), "plainview", nil)
	api := httpapi.New(httpapi.Config{
		Function: routes.FuncReads, Store: st,
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
		Metrics: metrics.NewEmitter(&emf, "Plainview"),
	})
	for range 2 {
		api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/livez", nil))
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines = %d: %s", len(lines), logs.String())
	}
	for i, want := range []bool{true, false} {
		var l map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &l); err != nil {
			t.Fatal(err)
		}
		if l["route"] != "GET /livez" || l["status"] != 200.0 || l["cold_start"] != want || l["function"] != "reads" {
			t.Errorf("line %d = %v", i, l)
		}
		if _, ok := l["latency_ms"].(float64); !ok {
			t.Errorf("line %d has no latency: %v", i, l)
		}
	}
	docs := strings.Split(strings.TrimSpace(emf.String()), "\n")
	if len(docs) != 2 {
		t.Fatalf("EMF documents = %d", len(docs))
	}
	var d struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Function, Route string
		Requests        float64
		Errors5xx       float64
	}
	if err := json.Unmarshal([]byte(docs[0]), &d); err != nil {
		t.Fatal(err)
	}
	cw := d.AWS.CloudWatchMetrics
	if len(cw) != 1 || cw[0].Namespace != "Plainview" || len(cw[0].Dimensions) != 1 || strings.Join(cw[0].Dimensions[0], ",") != "Function,Route" {
		t.Errorf("directive = %+v", cw)
	}
	if d.Function != "reads" || d.Route != "GET /livez" || d.Requests != 1 || d.Errors5xx != 0 {
		t.Errorf("values = %+v", d)
	}
}

func TestAPanicIsA500InTheErrorShapeAndTheHandlerLivesOn(t *testing.T) {
	var logs bytes.Buffer
	api := httpapi.New(httpapi.Config{Function: routes.FuncReads, Store: panicky{}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
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
