package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The kinds of request, as reported.
const (
	kindRead     = "read"
	kindActuate  = "actuate"
	kindIncident = "incident"
)

var kinds = []string{kindRead, kindActuate, kindIncident}

// valves are the seed inventory's (docs/API.md).
var valves = []string{"v-101", "v-102", "v-103"}

// result is one request's outcome.
type result struct {
	kind     string
	status   int // 0: no answer
	intended bool
	latency  time.Duration
	problem  string // why it counts as an error
}

// recorder keeps one client's results; it is merged after the phase.
type recorder struct{ results []result }

// workload is one phase: clients calling one API until the time or the
// request budget runs out.
type workload struct {
	base   string
	key    string
	mix    mix
	http   *http.Client
	budget int64 // 0: none
	issued atomic.Int64
}

// run starts n clients and waits for them; it returns what they saw and
// how long the phase lasted.
func (w *workload) run(ctx context.Context, n int, d time.Duration) ([]result, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	recs := make([]recorder, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			c := &loadClient{w: w, rec: &recs[i], rnd: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))}
			c.loop(ctx)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []result
	for _, r := range recs {
		all = append(all, r.results...)
	}
	return all, elapsed
}

// next claims one request of the budget.
func (w *workload) next(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	return w.budget == 0 || w.issued.Add(1) <= w.budget
}

// loadClient is one client: one request in flight at a time, as a browser
// tab or a script would.
type loadClient struct {
	w   *workload
	rec *recorder
	rnd *rand.Rand
	// The incident this client is walking from active to resolved, and
	// the next step; "" when it is to open a new one.
	incident string
	version  int
	step     int
	reads    int
}

func (c *loadClient) loop(ctx context.Context) {
	for c.w.next(ctx) {
		switch p := c.rnd.IntN(100); {
		case p < c.w.mix.read:
			c.read(ctx)
		case p < c.w.mix.read+c.w.mix.actuate:
			c.actuate(ctx)
		default:
			c.incidentStep(ctx)
		}
	}
}

// readPaths are what an operator's screens ask for.
func (c *loadClient) readPath() string {
	v := valves[c.rnd.IntN(len(valves))]
	c.reads++
	switch c.reads % 10 {
	case 0:
		return "/valves"
	case 1:
		return "/valves/" + v
	case 2:
		return "/valves/" + v + "/health"
	case 3:
		return "/valves/" + v + "/actuations?limit=20"
	case 4:
		return "/incidents"
	case 5:
		if c.incident != "" {
			return "/incidents/" + c.incident
		}
		return "/incidents/health"
	case 6:
		return "/pipeline/alerts"
	case 7:
		return "/pipeline/health"
	case 8:
		return "/events?limit=20"
	default:
		return "/pipeline/sections/A-North"
	}
}

func (c *loadClient) read(ctx context.Context) {
	r, _ := c.do(ctx, kindRead, http.MethodGet, c.readPath(), "")
	c.finish(r, r.status == http.StatusOK)
}

// actuate asks a valve to open. No device answers here, so a valve stays
// busy until its actuation times out, and the others are refused with 409
// actuation_in_progress: intended, not an error.
func (c *loadClient) actuate(ctx context.Context) {
	r, code := c.do(ctx, kindActuate, http.MethodPost, "/valves/"+valves[c.rnd.IntN(len(valves))]+"/actuate", `{"command":"OPEN"}`)
	if r.status == http.StatusConflict && code == "actuation_in_progress" {
		r.intended = true
	}
	c.finish(r, r.status == http.StatusAccepted || r.status == http.StatusOK)
}

// incidentSteps walk an incident forward (docs/API.md): acknowledged,
// investigating with a root cause, resolved by a resolution.
var incidentSteps = []string{
	`"status":"acknowledged"`,
	`"status":"investigating","root_cause":"load test"`,
	`"resolution":"load test over"`,
}

// incidentStep opens an incident, or takes the open one a step further
// with the version last seen. Only this client touches it, so a 409 is an
// error here.
func (c *loadClient) incidentStep(ctx context.Context) {
	if c.incident == "" {
		var body struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		}
		r, _ := c.doInto(ctx, kindIncident, http.MethodPost, "/incidents", `{"title":"load test","severity":"info"}`, &body)
		ok := r.status == http.StatusCreated || r.status == http.StatusOK
		if ok && body.ID != "" {
			c.incident, c.version, c.step = body.ID, max(body.Version, 1), 0
		}
		c.finish(r, ok)
		return
	}
	var body struct {
		Version int `json:"version"`
	}
	r, _ := c.doInto(ctx, kindIncident, http.MethodPost, "/incidents/"+c.incident+"/update",
		fmt.Sprintf(`{%s,"version":%d}`, incidentSteps[c.step], c.version), &body)
	ok := r.status == http.StatusOK
	if ok {
		c.version = max(body.Version, c.version+1)
		if c.step++; c.step == len(incidentSteps) {
			c.incident = ""
		}
	}
	c.finish(r, ok)
}

// finish records a result: fine when ok or intended, an error otherwise;
// a 429 is the throttle doing its job, so it is intended too.
func (c *loadClient) finish(r result, ok bool) {
	if r.status == http.StatusTooManyRequests {
		r.intended = true
	}
	if !ok && !r.intended && r.problem == "" {
		r.problem = fmt.Sprintf("%s: status %d", r.kind, r.status)
	}
	c.rec.results = append(c.rec.results, r)
}

func (c *loadClient) do(ctx context.Context, kind, method, path, body string) (result, string) {
	return c.doInto(ctx, kind, method, path, body, nil)
}

// doInto sends one request and decodes a JSON answer into out (when not
// nil); it returns the result and the error code of an error answer.
func (c *loadClient) doInto(ctx context.Context, kind, method, path, body string, out any) (result, string) {
	r := result{kind: kind}
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), method, c.w.base+path, strings.NewReader(body))
	if err != nil {
		r.problem = err.Error()
		return r, ""
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-API-Key", c.w.key)
	start := time.Now()
	res, err := c.w.http.Do(req)
	if err != nil {
		r.latency, r.problem = time.Since(start), fmt.Sprintf("%s %s: %v", method, path, err)
		return r, ""
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	r.latency, r.status = time.Since(start), res.StatusCode
	if err != nil {
		r.problem = fmt.Sprintf("%s %s: reading the answer: %v", method, path, err)
		return r, ""
	}
	if res.StatusCode >= 400 {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		if res.StatusCode != http.StatusConflict && res.StatusCode != http.StatusTooManyRequests {
			r.problem = fmt.Sprintf("%s %s: %d %.200s", method, path, res.StatusCode, b)
		}
		return r, e.Error.Code
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			r.problem = fmt.Sprintf("%s %s: %d, answer not JSON: %v", method, path, res.StatusCode, err)
		}
	}
	return r, ""
}
