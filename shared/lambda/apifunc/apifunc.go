// Package apifunc builds the API functions: each one's routes with the
// services they need, and its Lambda entry point. A function's main.go,
// the local stack and the tests all call the same constructor, so the code
// that answers on localhost is the code deployed, route for route.
package apifunc

import (
	"time"

	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/incidents"
	"github.com/plainview/serverless/shared/core/inventory"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/lambda/function"
)

// Options are what the local stack sets beyond the environment; the zero
// value is a function on AWS.
type Options struct {
	MQTT   httpapi.Pinger       // the broker /health pings; nil: "disabled"
	Stream httpapi.StreamConfig // GET /events' pacing; zero: the defaults
}

// config is the handler configuration every API function shares.
func config(env function.Env, fn string, o Options, groups ...httpapi.Routes) httpapi.Config {
	return httpapi.Config{
		Function:           fn,
		Routes:             groups,
		Version:            env.Config.Version,
		Store:              env.Store,
		MQTT:               o.MQTT,
		Logger:             env.Logger,
		Metrics:            env.Metrics,
		RequireKeyForReads: env.Config.RequireKeyForReads,
		CORS:               env.CORS,
		Idempotency:        env.Store,
		Stream:             o.Stream,
	}
}

// Reads is the reads function: the public and read routes, DynamoDB read
// only. It has no MQTT connection of its own on AWS.
func Reads(env function.Env, o Options) *httpapi.API {
	return httpapi.New(config(env, routes.FuncReads, o, httpapi.ReadRoutes))
}

// Valves is the valves function: actuations recorded in the store and
// published through pub (a zero timeout: the actuation default), and the
// inventory's changes.
func Valves(env function.Env, pub actuation.Publisher, timeout time.Duration, o Options) *httpapi.API {
	act := actuation.New(env.Store, pub, nil, env.Logger)
	if timeout > 0 {
		act.WithTimeout(timeout)
	}
	return httpapi.New(config(env, routes.FuncValves, o,
		httpapi.ActuationRoutes(act), httpapi.InventoryRoutes(inventory.New(env.Store, nil))))
}

// Incidents is the incidents function: incidents and leak alerts recorded
// in the store, the ones operators must hear of sent to n.
func Incidents(env function.Env, n incidents.Notifier, o Options) *httpapi.API {
	return httpapi.New(config(env, routes.FuncIncidents, o,
		httpapi.IncidentRoutes(incidents.New(env.Store, n, nil, env.Logger), leaks.New(env.Store, n, nil, env.Logger))))
}

// Events is the events function: GET /events, streamed.
func Events(env function.Env, o Options) *httpapi.API {
	return httpapi.New(config(env, routes.FuncEvents, o, httpapi.EventRoutes))
}
