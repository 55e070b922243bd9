package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/testkit/functiontest"
)

// The function under test.
const (
	fn = routes.FuncIncidents
)

// logged builds the function with the log as the operators' channel, as
// the local stack has it; the SNS adapter has tests of its own.
func logged(env function.Env) apifunc.Handler {
	return handler(env, notify.NewLog(env.Logger))
}

func TestCreateIncidentOpensIt(t *testing.T) {
	t.Parallel()
	f := functiontest.New(t, fn, logged)
	ev := functiontest.LoadEvent(t, fn, "create-incident.json")

	resp := f.Invoke(t, ev)

	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d; body %s", resp.StatusCode, resp.Body)
	}
	var in struct {
		ID, Status, Severity string
		Version              int
		Timeline             []struct{ Kind string }
	}
	if err := json.Unmarshal([]byte(resp.Body), &in); err != nil {
		t.Fatal(err)
	}
	if in.Status != "active" || in.Severity != "warning" || in.Version != 1 || len(in.Timeline) != 1 {
		t.Errorf("incident = %+v", in)
	}
	if loc := functiontest.Header(resp, "Location"); loc != "/incidents/"+in.ID {
		t.Errorf("Location = %q", loc)
	}
	if _, _, err := f.Env.Store.Incident(t.Context(), in.ID); err != nil {
		t.Errorf("not stored: %v", err)
	}
	f.CheckObserved(t, ev, "POST /incidents", http.StatusCreated)
	if m := f.Metrics(t, "IncidentsOpened"); len(m) != 1 || m[0]["Severity"] != "warning" {
		t.Errorf("incident metric = %v", m)
	}
}

// A route of another function never reaches this one through API Gateway;
// if it does all the same, the function answers as API Gateway would for
// a route it does not have.
func TestRouteOfAnotherFunctionIsNotFound(t *testing.T) {
	t.Parallel()
	for _, sample := range []struct{ function, file string }{
		{routes.FuncReads, "get-valve.json"},
		{routes.FuncReads, "list-valves.json"},
		{routes.FuncEvents, "events-since-bad-cursor.json"},
		{routes.FuncValves, "actuate.json"},
	} {
		t.Run(sample.function+"/"+sample.file, func(t *testing.T) {
			t.Parallel()
			f := functiontest.New(t, fn, logged)
			ev := functiontest.LoadEvent(t, sample.function, sample.file)

			resp := f.Invoke(t, ev)

			functiontest.CheckError(t, resp, http.StatusNotFound, "not_found")
			f.CheckObserved(t, ev, "unmatched", http.StatusNotFound)
		})
	}
}
