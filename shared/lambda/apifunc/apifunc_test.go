package apifunc_test

import (
	"context"
	"testing"

	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/function"
)

type nobody struct{}

func (nobody) Publish(context.Context, string, []byte) error { return nil }
func (nobody) Notify(context.Context, string, string) error  { return nil }

// Every route the route table gives a function is served by that
// function's wiring: none answers 501. The constructors are the ones the
// functions' main.go and the local stack call, so a route group left out
// of one fails here, not in a client's hands.
func TestEveryRouteOfEachFunctionIsServed(t *testing.T) {
	var env function.Env // nothing is called: the routes are only built
	built := map[string]*httpapi.API{
		routes.FuncReads:     apifunc.Reads(env, apifunc.Options{}),
		routes.FuncValves:    apifunc.Valves(env, nobody{}, 0, apifunc.Options{}),
		routes.FuncIncidents: apifunc.Incidents(env, nobody{}, apifunc.Options{}),
		routes.FuncEvents:    apifunc.Events(env, apifunc.Options{}),
	}
	for _, fn := range routes.Functions(routes.Table()) {
		api, ok := built[fn]
		if !ok {
			t.Errorf("the route table names function %q, which apifunc does not build", fn)
			continue
		}
		if missing := api.Unserved(); len(missing) > 0 {
			t.Errorf("routes of %s with no code in its wiring (they answer 501): %v", fn, missing)
		}
	}
}
