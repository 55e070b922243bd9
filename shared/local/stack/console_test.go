package stack_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/local/stack"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

// A 5xx is told on the console, with its cause and where the full line
// is, not only written to metrics.log; a request that succeeds is not.
func TestAFailedRequestIsToldOnTheConsole(t *testing.T) {
	var console syncbuf.Buffer
	dir := t.TempDir()
	endpoint, _ := dynamotest.Endpoint(t)
	table := dynamotest.NewOutage(t, endpoint)
	cfg := testConfigAt(t, dir, table.URL)
	cfg.Logger = slog.New(slog.NewJSONHandler(&console, nil))
	st, err := stack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { st.Close() })

	if a := call(t, http.MethodGet, st.APIURL+"/valves/v-101"); a.status != http.StatusOK {
		t.Fatalf("GET /valves/v-101: %d %s", a.status, a.body)
	}
	if err := table.Down(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = table.Up() })
	if a := call(t, http.MethodGet, st.APIURL+"/valves/v-102"); a.status != http.StatusServiceUnavailable {
		t.Fatalf("GET /valves/v-102 with DynamoDB down: %d %s, want 503", a.status, a.body)
	}

	var failed []map[string]any
	for line := range strings.SplitSeq(console.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request failed" {
			failed = append(failed, m)
		}
	}
	if len(failed) != 1 {
		t.Fatalf("%d request failed lines on the console, want 1 (the 503):\n%s", len(failed), console.String())
	}
	f := failed[0]
	if f["status"] != float64(503) || f["path"] != "/valves/v-102" || f["error"] == "" || f["error"] == nil ||
		f["metrics_log"] != filepath.Join(dir, "metrics.log") {
		t.Errorf("the console says %v, want the 503 of /valves/v-102 with its error and the metrics log's path", f)
	}
	metricsLog, err := os.ReadFile(filepath.Join(dir, "metrics.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(metricsLog), `"path":"/valves/v-102","status":503`) {
		t.Error("metrics.log lacks the 503's line")
	}
}
