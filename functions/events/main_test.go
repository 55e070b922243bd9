package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/plainview/serverless/shared/function/functiontest"
	"github.com/plainview/serverless/shared/routes"
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
