package httpapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/contract/routes"
)

// An EventSource that gets anything but a 200 gives up for good: while the
// table does not answer, the stream opens all the same, with its
// heartbeats, and ends cleanly; a client with a place keeps it.
func TestAStreamOpensWhileTheDatabaseIsDown(t *testing.T) {
	var logs bytes.Buffer
	st := store.New(store.NewClient(store.LocalConfig(), deadEndpoint(t)), "plainview", nil)
	api := httpapi.New(httpapi.Config{Routes: []httpapi.Routes{httpapi.EventRoutes}, Function: routes.FuncEvents, Store: st,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Stream: httpapi.StreamConfig{Heartbeat: 100 * time.Millisecond, Poll: 100 * time.Millisecond, MaxDuration: 500 * time.Millisecond}})
	srv := httptest.NewServer(api)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events?asset=v-101", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the stream ended with %v, want a clean end", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" ||
		strings.Count(string(body), "event: telemetry.tick\n") < 2 || strings.Contains(string(body), "id: ") {
		t.Errorf("answer %d %q: %q, want heartbeats and no event", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !strings.Contains(logs.String(), "event stream: first poll failed") || !strings.Contains(logs.String(), "event stream: poll failed") {
		t.Errorf("log = %s, want the failed polls said", logs.String())
	}
}
