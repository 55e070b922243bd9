package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/testkit/functiontest"
)

// The function under test.
const (
	fn = routes.FuncValves
)

// recorder is a publisher that keeps what it is given: the IoT data plane
// adapter has tests of its own against the service's protocol.
type recorder struct {
	mu       sync.Mutex
	topics   []string
	payloads []string
}

func (r *recorder) Publish(_ context.Context, topic string, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topics, r.payloads = append(r.topics, topic), append(r.payloads, string(payload))
	return nil
}

func withPublisher(pub actuation.Publisher) func(function.Env) apifunc.Handler {
	return func(env function.Env) apifunc.Handler { return handler(env, pub) }
}

func TestActuateRecordsTheActuationAndPublishesTheCommand(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	f := functiontest.New(t, fn, withPublisher(pub))
	ev := functiontest.LoadEvent(t, fn, "actuate.json")

	resp := f.Invoke(t, ev)

	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status = %d; body %s", resp.StatusCode, resp.Body)
	}
	var body struct {
		ActuationID string `json:"actuation_id"`
		State       string
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.State != "sent" {
		t.Fatalf("body %s (%v)", resp.Body, err)
	}
	if loc := functiontest.Header(resp, "Location"); loc != "/valves/v-101/actuations/"+body.ActuationID {
		t.Errorf("Location = %q", loc)
	}
	if len(pub.topics) != 1 || pub.topics[0] != "valves/v-101/command" || !strings.Contains(pub.payloads[0], body.ActuationID) {
		t.Errorf("published %v %v", pub.topics, pub.payloads)
	}
	a, err := f.Env.Store.Actuation(t.Context(), "v-101", body.ActuationID)
	if err != nil || a.KeyID != "ops" || a.Command != "OPEN" {
		t.Errorf("stored actuation %+v (%v)", a, err)
	}
	f.CheckObserved(t, ev, "POST /valves/{id}/actuate", http.StatusAccepted)
	if m := f.Metrics(t, "Actuations"); len(m) != 1 || m[0]["Command"] != "OPEN" || m[0]["Result"] != "sent" {
		t.Errorf("actuation metric = %v", m)
	}
}

func TestActuateWithoutTheAuthorizersContextIsUnauthorized(t *testing.T) {
	t.Parallel()
	f := functiontest.New(t, fn, withPublisher(&recorder{}))
	ev := functiontest.LoadEvent(t, fn, "actuate.json")
	ev.RequestContext.Authorizer = nil

	resp := f.Invoke(t, ev)

	functiontest.CheckError(t, resp, http.StatusUnauthorized, "unauthorized")
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
		{routes.FuncIncidents, "create-incident.json"},
	} {
		t.Run(sample.function+"/"+sample.file, func(t *testing.T) {
			t.Parallel()
			f := functiontest.New(t, fn, withPublisher(&recorder{}))
			ev := functiontest.LoadEvent(t, sample.function, sample.file)

			resp := f.Invoke(t, ev)

			functiontest.CheckError(t, resp, http.StatusNotFound, "not_found")
			f.CheckObserved(t, ev, "unmatched", http.StatusNotFound)
		})
	}
}
