package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/local/apigateway"
)

// The benchmarks below put a sample API Gateway event through the Lambda
// entry point twice: through our handler (routing table, auth context,
// request log and metrics), and through the same adapter in front of a
// bare ServeMux that writes the same answer, the floor of the adapter. See
// docs/benchmarks.md for how to run them and what they showed.

// loadEvent reads a sample API Gateway REST proxy event.
func loadEvent(b *testing.B, path string) events.APIGatewayProxyRequest {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(data, &ev); err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return ev
}

func ptr[T any](v T) *T { return &v }

// benchValves is the in-memory store's content: the valve of the sample
// events, with every field set so the answer is full size. Its times are
// whole seconds, so the answer has the same length in every run.
func benchValves() map[string]domain.Valve {
	now := time.Now().UTC().Truncate(time.Second)
	return map[string]domain.Valve{
		"v-101": {
			ID:                   "v-101",
			Name:                 "Main line intake",
			Location:             "pad 7, km 12.5",
			TemperatureC:         ptr(41.5),
			PressurePa:           ptr(512000.0),
			LastTorqueNm:         ptr(87.25),
			LastActuationTime:    ptr(now.Add(-3 * time.Hour)),
			EstimatedMaintenance: ptr(now.Add(90 * 24 * time.Hour)),
			LastSeen:             ptr(now),
		},
	}
}

// memReader is an in-memory httpapi.Reader. Only Valve is implemented;
// the other methods panic through the nil embedded interface.
type memReader struct {
	httpapi.Reader
	valves map[string]domain.Valve
}

func (m memReader) Valve(_ context.Context, id string) (domain.Valve, error) {
	v, ok := m.valves[id]
	if !ok {
		return domain.Valve{}, domain.ErrNotFound
	}
	return v, nil
}

// memActuations is an in-memory actuation.Store that keeps nothing: every
// valve is found without an open actuation, so every request is accepted.
type memActuations struct {
	valves map[string]domain.Valve
}

func (m memActuations) Valve(_ context.Context, id string) (domain.Valve, error) {
	v, ok := m.valves[id]
	if !ok {
		return domain.Valve{}, domain.ErrNotFound
	}
	return v, nil
}

func (memActuations) StartActuation(context.Context, domain.Actuation, domain.Event, *actuation.Closing) error {
	return nil
}

func (memActuations) MoveActuation(context.Context, actuation.Transition) error { return nil }

// nopPublisher takes every command.
type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, string, []byte) error { return nil }

// benchConfig is the handler configuration of fn over the in-memory store,
// with a JSON logger (so each log line is really formatted) and a metrics
// emitter, both writing to io.Discard.
func benchConfig(fn string, valves map[string]domain.Valve) httpapi.Config {
	return httpapi.Config{
		Routes:   []httpapi.Routes{httpapi.ReadRoutes},
		Function: fn,
		Store:    memReader{valves: valves},
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics:  metrics.NewEmitter(io.Discard, "Plainview"),
	}
}

// answers checks that h answers ev with status before anything is
// measured, so a broken path is not.
func answers(b *testing.B, h apigateway.Handler, ev events.APIGatewayProxyRequest, status int) {
	b.Helper()
	resp, err := h(context.Background(), ev)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != status {
		b.Fatalf("status %d, want %d: %s", resp.StatusCode, status, resp.Body)
	}
}

// benchProxy measures one invocation of proxy with ev.
func benchProxy(b *testing.B, proxy apigateway.Handler, ev events.APIGatewayProxyRequest, status int) {
	ctx := context.Background()
	answers(b, proxy, ev, status)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proxy(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// floorValveView has the fields our GET /valves/{id} writes.
type floorValveView struct {
	ID                   string             `json:"id"`
	Name                 string             `json:"name"`
	Status               domain.ValveStatus `json:"status"`
	Temperature          *float64           `json:"temperature"`
	PressurePa           *float64           `json:"pressure_pa"`
	LastTorqueNm         *float64           `json:"last_torque_nm"`
	LastActuationTime    *time.Time         `json:"last_actuation_time"`
	EstimatedMaintenance *time.Time         `json:"estimated_maintenance"`
	Connected            bool               `json:"connected"`
	LastSeen             *time.Time         `json:"last_seen"`
	Location             string             `json:"location"`
	RetiredAt            *time.Time         `json:"retired_at"`
}

// floorJSON writes v as JSON with status, as plainly as net/http allows.
func floorJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func BenchmarkGetValve(b *testing.B) {
	ev := loadEvent(b, "../../../events/reads/get-valve.json")
	valves := benchValves()

	b.Run("plainview", func(b *testing.B) {
		proxy := apifunc.Proxy(httpapi.New(benchConfig(routes.FuncReads, valves)))
		benchProxy(b, proxy, ev, http.StatusOK)
	})

	b.Run("floor", func(b *testing.B) {
		benchProxy(b, floorGetValve(valves), ev, http.StatusOK)
	})
}

// floorGetValve is the floor of GET /valves/{id}: the adapter in front of
// a bare ServeMux that writes the same view.
func floorGetValve(valves map[string]domain.Valve) apigateway.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /valves/{id}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := valves[r.PathValue("id")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		now := time.Now()
		floorJSON(w, http.StatusOK, floorValveView{
			ID: v.ID, Name: v.Name, Status: v.Status(now),
			Temperature: v.TemperatureC, PressurePa: v.PressurePa, LastTorqueNm: v.LastTorqueNm,
			LastActuationTime: v.LastActuationTime, EstimatedMaintenance: v.EstimatedMaintenance,
			Connected: v.Connected(now), LastSeen: v.LastSeen, Location: v.Location, RetiredAt: v.RetiredAt,
		})
	})
	return httpadapter.New(mux).ProxyWithContext
}

func BenchmarkActuate(b *testing.B) {
	ev := loadEvent(b, "../../../events/valves/actuate.json")
	valves := benchValves()

	b.Run("plainview", func(b *testing.B) {
		cfg := benchConfig(routes.FuncValves, valves)
		cfg.Routes = []httpapi.Routes{httpapi.ActuationRoutes(actuation.New(memActuations{valves: valves}, nopPublisher{}, nil, nil))}
		proxy := apifunc.Proxy(httpapi.New(cfg))
		benchProxy(b, proxy, ev, http.StatusAccepted)
	})

	// plumbing is our path without the domain's work: an actuator that
	// answers at once, as the floor does. What is left is what the goal
	// counts: routing, the auth context, strict decoding, logging and
	// metrics.
	b.Run("plumbing", func(b *testing.B) {
		cfg := benchConfig(routes.FuncValves, valves)
		cfg.Routes = []httpapi.Routes{httpapi.ActuationRoutes(instantActuator{})}
		proxy := apifunc.Proxy(httpapi.New(cfg))
		benchProxy(b, proxy, ev, http.StatusAccepted)
	})

	b.Run("floor", func(b *testing.B) {
		benchProxy(b, floorActuate(), ev, http.StatusAccepted)
	})
}

// floorActuate is the floor of POST /valves/{id}/actuate: the adapter in
// front of a bare ServeMux that decodes the command and answers the same
// 202.
func floorActuate() apigateway.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /valves/{id}/actuate", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Command string `json:"command"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := r.PathValue("id")
		actID := domain.NewID("act", time.Now())
		loc := "/valves/" + id + "/actuations/" + actID
		w.Header().Set("Location", loc)
		floorJSON(w, http.StatusAccepted, floorAccepted{
			ActuationID: actID, Command: body.Command, Location: loc, OK: true, State: domain.ActuationSent, ValveID: id,
		})
	})
	return httpadapter.New(mux).ProxyWithContext
}

// floorAccepted is the 202 our actuate writes, field for field.
type floorAccepted struct {
	ActuationID string `json:"actuation_id"`
	Command     string `json:"command"`
	Location    string `json:"location"`
	OK          bool   `json:"ok"`
	State       string `json:"state"`
	ValveID     string `json:"valve_id"`
}

// instantActuator accepts every command at once, doing what the floor
// does: one id.
type instantActuator struct{}

func (instantActuator) Actuate(_ context.Context, r actuation.Request) (domain.Actuation, error) {
	return domain.Actuation{ID: domain.NewID("act", time.Now()), ValveID: r.ValveID, Command: r.Command, State: domain.ActuationSent}, nil
}

// BenchmarkOverhead measures what the goal counts, ours over the floor,
// with the two interleaved: each iteration runs a batch of the floor and
// then a batch of ours, each timed on its own. A busy spell of the machine
// (a shared 2-core VM moves by 20 % between runs of a second) then weighs
// on both alike, where GetValve and Actuate above run each side for a
// second at a time. It reports ns per call of each and the overhead in
// percent; ns/op is the time of one batch pair.
func BenchmarkOverhead(b *testing.B) {
	valves := benchValves()
	b.Run("get", func(b *testing.B) {
		ev := loadEvent(b, "../../../events/reads/get-valve.json")
		ours := apifunc.Proxy(httpapi.New(benchConfig(routes.FuncReads, valves)))
		benchPaired(b, ours, floorGetValve(valves), ev, http.StatusOK)
	})
	b.Run("actuate", func(b *testing.B) {
		ev := loadEvent(b, "../../../events/valves/actuate.json")
		cfg := benchConfig(routes.FuncValves, valves)
		cfg.Routes = []httpapi.Routes{httpapi.ActuationRoutes(instantActuator{})}
		benchPaired(b, apifunc.Proxy(httpapi.New(cfg)), floorActuate(), ev, http.StatusAccepted)
	})
}

// benchPaired runs ours and floor in alternate batches, as
// BenchmarkOverhead describes.
func benchPaired(b *testing.B, ours, floor apigateway.Handler, ev events.APIGatewayProxyRequest, status int) {
	ctx := context.Background()
	answers(b, ours, ev, status)
	answers(b, floor, ev, status)
	const batch = 32
	run := func(h apigateway.Handler) time.Duration {
		start := time.Now()
		for range batch {
			if _, err := h(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var tOurs, tFloor time.Duration
	calls := 0
	for b.Loop() {
		tFloor += run(floor)
		tOurs += run(ours)
		calls += batch
	}
	b.ReportMetric(float64(tOurs.Nanoseconds())/float64(calls), "ours-ns/call")
	b.ReportMetric(float64(tFloor.Nanoseconds())/float64(calls), "floor-ns/call")
	b.ReportMetric(100*(float64(tOurs)/float64(tFloor)-1), "overhead-%")
}
