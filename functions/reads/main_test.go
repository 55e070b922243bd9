package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/testkit/functiontest"
)

// The function under test.
const (
	fn = routes.FuncReads
)

func TestGetValve(t *testing.T) {
	t.Parallel()
	f := functiontest.New(t, fn, handler)
	ev := functiontest.LoadEvent(t, fn, "get-valve.json")

	resp := f.Invoke(t, ev)

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, http.StatusOK, resp.Body)
	}
	if ct := functiontest.Header(resp, "Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var valve struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &valve); err != nil {
		t.Fatalf("body is not a JSON object: %v; body %s", err, resp.Body)
	}
	if valve.ID != "v-101" || valve.Name != "Wellhead A1" {
		t.Errorf("valve = {id %q, name %q}, want {id \"v-101\", name \"Wellhead A1\"}", valve.ID, valve.Name)
	}
	f.CheckObserved(t, ev, "GET /valves/{id}", http.StatusOK)
}

func TestListValves(t *testing.T) {
	t.Parallel()
	f := functiontest.New(t, fn, handler)
	ev := functiontest.LoadEvent(t, fn, "list-valves.json")

	resp := f.Invoke(t, ev)

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, http.StatusOK, resp.Body)
	}
	if ct := functiontest.Header(resp, "Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var valves []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &valves); err != nil {
		t.Fatalf("body is not a JSON array: %v; body %s", err, resp.Body)
	}
	var ids []string
	for _, v := range valves {
		ids = append(ids, v.ID)
	}
	// The seed inventory, ordered by id.
	if want := []string{"v-101", "v-102", "v-103"}; !slices.Equal(ids, want) {
		t.Errorf("valve ids = %q, want %q", ids, want)
	}
	f.CheckObserved(t, ev, "GET /valves", http.StatusOK)
}

// A route of another function never reaches this one through API Gateway;
// if it does all the same, the function answers as API Gateway would for
// a route it does not have. POST /incidents matters most here: reads
// serves GET /incidents, and a plain ServeMux would answer 405 to it.
func TestRouteOfAnotherFunctionIsNotFound(t *testing.T) {
	t.Parallel()
	for _, sample := range []struct{ function, file string }{
		{routes.FuncValves, "actuate.json"},
		{routes.FuncIncidents, "create-incident.json"},
		{routes.FuncEvents, "list-events.json"},
	} {
		t.Run(sample.function+"/"+sample.file, func(t *testing.T) {
			t.Parallel()
			f := functiontest.New(t, fn, handler)
			ev := functiontest.LoadEvent(t, sample.function, sample.file)

			resp := f.Invoke(t, ev)

			functiontest.CheckError(t, resp, http.StatusNotFound, "not_found")
			f.CheckObserved(t, ev, "unmatched", http.StatusNotFound)
		})
	}
}
