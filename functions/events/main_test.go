package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/testkit/functiontest"
)

// The function under test.
const (
	fn = routes.FuncEvents
)

func TestEventsSinceBadCursor(t *testing.T) {
	t.Parallel()
	f := functiontest.NewStream(t, fn, handler)
	ev := functiontest.LoadEvent(t, fn, "events-since-bad-cursor.json")

	resp := f.Invoke(t, ev)

	functiontest.CheckError(t, resp, http.StatusBadRequest, "bad_request")
	f.CheckObserved(t, ev, "GET /events", http.StatusBadRequest)
}

// Without Accept: text/event-stream the answer is the JSON listing, in the
// streamed format all the same (the route's integration streams).
func TestListingIsStreamedJSON(t *testing.T) {
	t.Parallel()
	f := functiontest.NewStream(t, fn, handler)
	ev := functiontest.LoadEvent(t, fn, "list-events.json")

	resp := f.Invoke(t, ev)

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, resp.Body)
	}
	if ct := functiontest.Header(resp, "Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var listing struct {
		Items      []json.RawMessage `json:"items"`
		PollCursor string            `json:"poll_cursor"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &listing); err != nil {
		t.Fatalf("body is not the listing: %v; body %s", err, resp.Body)
	}
	if listing.Items == nil || listing.PollCursor == "" {
		t.Errorf("listing = %s, want items and a poll_cursor", resp.Body)
	}
	f.CheckObserved(t, ev, "GET /events", http.StatusOK)
}

// A route of another function never reaches this one through API Gateway;
// if it does all the same, the answer is the 404 API Gateway would give,
// in the streamed format.
func TestRouteOfAnotherFunctionIsNotFound(t *testing.T) {
	t.Parallel()
	for _, sample := range []struct{ function, file string }{
		{routes.FuncReads, "get-valve.json"},
		{routes.FuncValves, "actuate.json"},
		{routes.FuncIncidents, "create-incident.json"},
	} {
		t.Run(sample.function+"/"+sample.file, func(t *testing.T) {
			t.Parallel()
			f := functiontest.NewStream(t, fn, handler)
			resp := f.Invoke(t, functiontest.LoadEvent(t, sample.function, sample.file))
			functiontest.CheckError(t, resp, http.StatusNotFound, "not_found")
		})
	}
}

// The stream ends itself before the invocation's deadline (the function's
// timeout), with a clean end of the body, so that the close is the
// function's and an EventSource reconnects; a stream cut by the timeout
// would end in an error instead.
func TestTheStreamEndsCleanlyBeforeTheFunctionsTimeout(t *testing.T) {
	t.Parallel()
	f := functiontest.NewStream(t, fn, handler)
	ev := functiontest.LoadEvent(t, fn, "list-events.json")
	ev.Headers["Accept"], ev.MultiValueHeaders["Accept"] = "text/event-stream", []string{"text/event-stream"}

	// 12 s left: the stream should end 10 s before, after about 2 s.
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := handler(f.Env)(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	b, err := io.ReadAll(resp)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the stream ended with %v, want a clean end", err)
	}
	if took > 8*time.Second {
		t.Errorf("the stream ran %v of the 12 s left, want it to end 10 s before the deadline", took.Round(time.Millisecond))
	}
	got, err := functiontest.Unstream(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.StatusCode != http.StatusOK || got.Headers["Content-Type"] != "text/event-stream" ||
		!strings.HasPrefix(got.Body, "retry: 1000\n\nevent: telemetry.tick\ndata: {\"type\":\"telemetry.tick\",\"at\":") {
		t.Errorf("answer %d %v %q", got.StatusCode, got.Headers, got.Body)
	}
}
