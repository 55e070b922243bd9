package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/local/stack"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// The faults of docs/RELIABILITY.md: a dependency of the API stops while
// clients keep calling, and the tests check what the clients are told and
// what is left in the table once it is back.

// faultStack is a stack whose actuations time out after a second, so that
// the actuations a test leaves open (no device answers here) are all
// settled soon after it stops calling; its table is behind an outage
// proxy, the second answer, which the test may take down and bring back.
func faultStack(t *testing.T) (*stack.Stack, *dynamotest.Outage) {
	t.Helper()
	endpoint, _ := dynamotest.Endpoint(t)
	table := dynamotest.NewOutage(t, endpoint)
	cfg := testConfigAt(t, t.TempDir(), table.URL)
	cfg.DisableThrottling = true
	cfg.ActuationTimeout, cfg.TimeoutEvery = time.Second, 100*time.Millisecond
	st, err := stack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st, table
}

// waitFor polls f until it holds. The bound only keeps a broken stack from
// hanging the test; nothing here is a claim about speed.
func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("%s: not within a minute", what)
}

// Phases of a fault as the clients live through it.
const (
	phaseUp int32 = iota
	phaseDown
	phaseBack
)

// outcome is one answer a client got, and in which phases the request
// started and ended.
type outcome struct {
	kind       string // read, actuate, create, update
	from, to   int32
	status     int
	retryAfter string
	code       string // the error code, for an error
	err        error  // the request did not get an answer at all
}

// ledger is what the clients were told.
type ledger struct {
	mu        sync.Mutex
	outcomes  []outcome
	accepted  []string       // actuation ids answered 202
	created   []string       // incident ids answered 201
	versions  map[string]int // per incident, the version of the last 200 or 201
	unexpects []string       // answers no client should get
}

func (l *ledger) add(o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outcomes = append(l.outcomes, o)
}

func (l *ledger) count(f func(outcome) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, o := range l.outcomes {
		if f(o) {
			n++
		}
	}
	return n
}

// summary counts the answers by kind, phase and status, for a failing
// test's log.
func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := map[string]int{}
	for _, o := range l.outcomes {
		e := ""
		if o.err != nil {
			e = o.err.Error()[:min(len(o.err.Error()), 80)]
		}
		n[fmt.Sprintf("%s %d..%d %d %s %s", o.kind, o.from, o.to, o.status, o.code, e)]++
	}
	var b strings.Builder
	for k, v := range n {
		fmt.Fprintf(&b, "\n  %s: %d", k, v)
	}
	for _, u := range l.unexpects[:min(len(l.unexpects), 10)] {
		fmt.Fprintf(&b, "\n  unexpected: %s", u)
	}
	return b.String()
}

func (l *ledger) unexpected(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unexpects = append(l.unexpects, fmt.Sprintf(format, args...))
}

// client calls the stack's API from a goroutine, where t.Fatal may not be
// used: a request that gets no answer is an outcome like any other.
type client struct {
	st    *stack.Stack
	key   string
	phase *atomic.Int32
	log   *ledger
	http  *http.Client
}

func (c *client) do(kind, method, path, body string) (outcome, map[string]any) {
	o := outcome{kind: kind, from: c.phase.Load()}
	defer func() { o.to = c.phase.Load(); c.log.add(o) }()
	req, err := http.NewRequest(method, c.st.APIURL+path, strings.NewReader(body))
	if err != nil {
		o.err = err
		return o, nil
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-API-Key", c.key)
	res, err := c.http.Do(req)
	if err != nil {
		o.err = err
		return o, nil
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		o.err = err
		return o, nil
	}
	o.status, o.retryAfter = res.StatusCode, res.Header.Get("Retry-After")
	var v any // GET /valves answers a list
	if err := json.Unmarshal(b, &v); err != nil {
		o.err = fmt.Errorf("%s %s: %d, body not JSON: %q", method, path, res.StatusCode, b)
		return o, nil
	}
	m, _ := v.(map[string]any)
	if e, ok := m["error"].(map[string]any); ok {
		o.code, _ = e["code"].(string)
	}
	return o, m
}

// reader reads what an operator's screen shows.
func (c *client) reader(stop <-chan struct{}) {
	paths := []string{"/valves", "/valves/v-102", "/incidents", "/pipeline/alerts", "/valves/v-101/actuations"}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		c.do("read", http.MethodGet, paths[i%len(paths)], "")
	}
}

// actuator asks the three valves to open, in turn. With no device to
// answer, each valve takes one actuation per timeout and refuses the rest
// with 409.
func (c *client) actuator(stop <-chan struct{}) {
	valves := []string{"v-101", "v-102", "v-103"}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		o, body := c.do("actuate", http.MethodPost, "/valves/"+valves[i%3]+"/actuate", `{"command":"OPEN"}`)
		switch {
		case o.status == http.StatusAccepted:
			id, _ := body["actuation_id"].(string)
			c.log.mu.Lock()
			c.log.accepted = append(c.log.accepted, id)
			c.log.mu.Unlock()
		case o.status == http.StatusConflict && o.code == "actuation_in_progress", o.status == http.StatusServiceUnavailable:
		default:
			c.log.unexpected("actuate: %d %s %v", o.status, o.code, o.err)
		}
	}
}

// creator opens incidents and leaves them open.
func (c *client) creator(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		o, body := c.do("create", http.MethodPost, "/incidents", `{"title":"left open","severity":"info"}`)
		switch o.status {
		case http.StatusCreated:
			id, _ := body["id"].(string)
			c.log.mu.Lock()
			c.log.created = append(c.log.created, id)
			c.log.versions[id] = 1
			c.log.mu.Unlock()
		case http.StatusServiceUnavailable:
		default:
			c.log.unexpected("create: %d %s %v", o.status, o.code, o.err)
		}
	}
}

// incidentWorker opens an incident and walks it to resolved, one update
// at a time with the version it was last told; a 503 is retried as it
// was. A retried update that had in fact been applied would come back 409.
func (c *client) incidentWorker(stop <-chan struct{}) {
	steps := []string{`"status":"acknowledged"`, `"status":"investigating","root_cause":"load"`, `"resolution":"done"`}
	var id string
	version, step := 0, 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		if id == "" {
			o, body := c.do("create", http.MethodPost, "/incidents", `{"title":"fault test","severity":"warning"}`)
			switch o.status {
			case http.StatusCreated:
				id, _ = body["id"].(string)
				version, step = 1, 0
				c.log.mu.Lock()
				c.log.created = append(c.log.created, id)
				c.log.versions[id] = version
				c.log.mu.Unlock()
			case http.StatusServiceUnavailable:
			default:
				c.log.unexpected("create: %d %s %v", o.status, o.code, o.err)
			}
			continue
		}
		o, body := c.do("update", http.MethodPost, "/incidents/"+id+"/update", fmt.Sprintf(`{%s,"version":%d}`, steps[step], version))
		switch o.status {
		case http.StatusOK:
			v, _ := body["version"].(float64)
			if int(v) != version+1 {
				c.log.unexpected("update %s from version %d: now %v", id, version, v)
			}
			version = int(v)
			c.log.mu.Lock()
			c.log.versions[id] = version
			c.log.mu.Unlock()
			if step++; step == len(steps) {
				id = ""
			}
		case http.StatusServiceUnavailable:
		default:
			c.log.unexpected("update %s: %d %s %v", id, o.status, o.code, o.err)
		}
	}
}

func TestDynamoDBStoppedUnderLoadAnswers503AndLosesNothing(t *testing.T) {
	st, table := faultStack(t)
	key := newKey(t, st, "ops", allScopes)
	var phase atomic.Int32
	log := &ledger{versions: map[string]int{}}
	c := &client{st: st, key: key, phase: &phase, log: log, http: &http.Client{Timeout: time.Minute}}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, work := range []func(<-chan struct{}){c.reader, c.reader, c.actuator, c.actuator, c.creator, c.incidentWorker, c.incidentWorker} {
		wg.Go(func() { work(stop) })
	}
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()
	defer func() {
		if t.Failed() {
			t.Log(log.summary())
		}
	}()
	answered := func(kind string, status int, in int32) func() bool {
		return func() bool {
			return log.count(func(o outcome) bool { return o.kind == kind && o.status == status && o.from == in && o.to == in }) > 0
		}
	}

	// Up: every kind of request goes through.
	waitFor(t, "an incident updated before the outage", answered("update", 200, phaseUp))
	waitFor(t, "an actuation accepted before the outage", answered("actuate", 202, phaseUp))

	// Down.
	if err := table.Down(); err != nil {
		t.Fatal(err)
	}
	phase.Store(phaseDown)
	for _, kind := range []string{"read", "actuate", "create", "update"} {
		waitFor(t, kind+" answered 503 during the outage", answered(kind, 503, phaseDown))
	}
	ready := call(t, http.MethodGet, st.APIURL+"/readyz")
	if ready.status != 503 || ready.header.Get("Retry-After") == "" || errorCode(t, ready) != "unavailable" {
		t.Errorf("GET /readyz while DynamoDB is down: %d Retry-After=%q %s", ready.status, ready.header.Get("Retry-After"), ready.body)
	}
	// /health answers (200) with what is wrong: it is for people and
	// dashboards; /readyz is the probe that says no.
	if a := call(t, http.MethodGet, st.APIURL+"/health"); a.status != 200 || a.json(t)["status"] != "degraded" || a.json(t)["checks"].(map[string]any)["database"] != "error" {
		t.Errorf("GET /health while DynamoDB is down: %d %s", a.status, a.body)
	}

	// Back, with the same data.
	if err := table.Up(); err != nil {
		t.Fatal(err)
	}
	phase.Store(phaseBack)
	waitFor(t, "an incident created after the outage", answered("create", 201, phaseBack))
	waitFor(t, "an incident updated after the outage", answered("update", 200, phaseBack))
	stopLoad()
	if a := call(t, http.MethodGet, st.APIURL+"/readyz"); a.status != 200 {
		t.Errorf("GET /readyz after the outage: %d %s", a.status, a.body)
	}
	if h := call(t, http.MethodGet, st.APIURL+"/health").json(t); h["status"] != "ok" {
		t.Errorf("GET /health after the outage: %v", h)
	}

	// What the clients were told while it was down: 503 with Retry-After
	// in the error shape, and nothing else.
	for _, o := range log.outcomes {
		if o.err != nil {
			t.Errorf("%s in phase %d..%d: no answer: %v", o.kind, o.from, o.to, o.err)
		}
		if o.from == phaseDown && o.to == phaseDown && (o.status != 503 || o.retryAfter == "" || o.code != "unavailable") {
			t.Errorf("%s during the outage: %d %q Retry-After=%q, want 503 unavailable with Retry-After", o.kind, o.status, o.code, o.retryAfter)
		}
	}
	for _, u := range log.unexpects {
		t.Errorf("unexpected answer: %s", u)
	}
	t.Logf("%d answers: %d accepted actuations, %d incidents created, %d answered 503",
		len(log.outcomes), len(log.accepted), len(log.created), log.count(func(o outcome) bool { return o.status == 503 }))

	// Every actuation left open times out (no device answers), then the
	// table must hold together.
	ctx := context.Background()
	waitFor(t, "every actuation settled", func() bool {
		open, err := st.Store.OpenActuationsDue(ctx, time.Now().Add(time.Hour), 10)
		return err == nil && len(open) == 0
	})
	checkActuations(t, st, log)
	checkIncidents(t, st, log)
}

// allEvents is the whole event log.
func allEvents(t *testing.T, st *stack.Stack) []domain.Event {
	t.Helper()
	var out []domain.Event
	page := domain.Page{Limit: domain.MaxLimit}
	for {
		evs, next, err := st.Store.Events(context.Background(), domain.EventFilter{}, page)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
		if next == "" {
			return out
		}
		page.Cursor = next
	}
}

// eventsBy groups events by a string field of their data.
func eventsBy(t *testing.T, evs []domain.Event, field string) map[string][]domain.Event {
	t.Helper()
	out := map[string][]domain.Event{}
	for _, e := range evs {
		var data map[string]any
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Fatalf("event %s: %v", e.ID, err)
		}
		if id, ok := data[field].(string); ok {
			out[id] = append(out[id], e)
		}
	}
	return out
}

func eventTypes(evs []domain.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	slices.Sort(out)
	return out
}

// checkActuations: every actuation has its requested event and the event
// of the state it ended in; every 202 a client got is in the table and was
// sent; an actuation no client was told of is one whose sending could not
// be recorded (its command went out, then DynamoDB failed: the client got
// 503), never one that was recorded as sent.
func checkActuations(t *testing.T, st *stack.Stack, log *ledger) {
	t.Helper()
	byAct := eventsBy(t, allEvents(t, st), "actuation_id")
	accepted := map[string]bool{}
	for _, id := range log.accepted {
		accepted[id] = true
	}
	stored := map[string]bool{}
	untold := 0
	for _, v := range []string{"v-101", "v-102", "v-103"} {
		page := domain.Page{Limit: domain.MaxLimit}
		for {
			acts, next, err := st.Store.Actuations(context.Background(), v, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range acts {
				stored[a.ID] = true
				got := eventTypes(byAct[a.ID])
				if n := strings.Count(strings.Join(got, " "), domain.EventActuationRequested); n != 1 {
					t.Errorf("actuation %s (%s): %d requested events: %v", a.ID, a.State, n, got)
				}
				final := map[string]string{domain.ActuationTimedOut: domain.EventActuationTimedOut, domain.ActuationRejected: domain.EventActuationRejected}[a.State]
				if final == "" || !slices.Contains(got, final) {
					t.Errorf("actuation %s ended %s with events %v", a.ID, a.State, got)
				}
				sent := slices.Contains(got, domain.EventActuationSent)
				switch {
				case accepted[a.ID] && !sent:
					t.Errorf("actuation %s was answered 202 but never recorded as sent: %v", a.ID, got)
				case !accepted[a.ID] && sent:
					t.Errorf("actuation %s was recorded as sent but no client was told: %v", a.ID, got)
				case !accepted[a.ID]:
					untold++
				}
			}
			if next == "" {
				break
			}
			page.Cursor = next
		}
	}
	for id := range accepted {
		if !stored[id] {
			t.Errorf("actuation %s was answered 202 and is not in the table", id)
		}
	}
	for id, evs := range byAct {
		if !stored[id] {
			t.Errorf("events %v name actuation %s, which is not in the table", eventTypes(evs), id)
		}
	}
	if answered503 := log.count(func(o outcome) bool { return o.kind == "actuate" && o.status == 503 }); untold > answered503 {
		t.Errorf("%d actuations no client was told of, but only %d actuations were answered 503", untold, answered503)
	}
}

// checkIncidents: every incident answered 201 is in the table, at the
// version of the last answer its client got, with one update event per
// version and one timeline entry per change. An incident no client was
// told of is one whose transaction committed while its answer was lost
// with the connection (the client got 503; docs/RELIABILITY.md): it must
// be as created, and there may be no more of them than creations answered
// 503. (The handler answers from what it wrote, so no read after the write
// can fail it any more.)
func checkIncidents(t *testing.T, st *stack.Stack, log *ledger) {
	t.Helper()
	ctx := context.Background()
	evs := allEvents(t, st)
	byInc := eventsBy(t, evs, "incident_id")
	told := map[string]bool{}
	for _, id := range log.created {
		told[id] = true
	}
	var all []string
	for id, evs := range byInc {
		if slices.Contains(eventTypes(evs), domain.EventIncidentCreated) {
			all = append(all, id)
		}
	}
	if counts, err := st.Store.IncidentCounts(ctx); err != nil || counts.Total != len(all) {
		t.Errorf("incident counter %+v (%v), %d incident.created events", counts, err, len(all))
	}
	untold := 0
	for _, id := range all {
		if told[id] {
			continue
		}
		untold++
		in, timeline, err := st.Store.Incident(ctx, id)
		if err != nil || in.Version != 1 || len(timeline) != 1 || len(byInc[id]) != 1 {
			t.Errorf("incident %s, which no client was told of: version %d, timeline %d, events %v (%v)", id, in.Version, len(timeline), eventTypes(byInc[id]), err)
		}
	}
	if answered503 := log.count(func(o outcome) bool { return o.kind == "create" && o.status == 503 }); untold > answered503 {
		t.Errorf("%d incidents no client was told of, but only %d creations were answered 503", untold, answered503)
	}
	if untold > 0 {
		t.Logf("%d incidents were created while their clients were told 503 (the commit's answer was lost)", untold)
	}
	for _, id := range log.created {
		in, timeline, err := st.Store.Incident(ctx, id)
		if err != nil {
			t.Errorf("incident %s was answered 201: %v", id, err)
			continue
		}
		if want := log.versions[id]; in.Version != want {
			t.Errorf("incident %s is at version %d; its client was last told %d", id, in.Version, want)
		}
		var versions []int
		changes := 0
		for _, e := range byInc[id] {
			if e.Type != domain.EventIncidentUpdated {
				continue
			}
			var data struct {
				Version int
				Changes []string
			}
			if err := json.Unmarshal(e.Data, &data); err != nil {
				t.Fatal(err)
			}
			versions = append(versions, data.Version)
			changes += len(data.Changes)
		}
		slices.Sort(versions)
		for i, v := range versions {
			if v != i+2 {
				t.Errorf("incident %s at version %d has update events for versions %v", id, in.Version, versions)
				break
			}
		}
		if len(versions) != in.Version-1 || len(timeline) != 1+changes {
			t.Errorf("incident %s: version %d, %d update events, timeline of %d for %d changes", id, in.Version, len(versions), len(timeline), changes)
		}
		if (in.Status == domain.IncidentResolved) != (in.ResolvedAt != nil) {
			t.Errorf("incident %s is %s with resolved_at %v", id, in.Status, in.ResolvedAt)
		}
	}
}

func TestABrokerStoppedUnderLoadLeavesNoActuationQueued(t *testing.T) {
	st, _ := faultStack(t)
	key := newKey(t, st, "ops", allScopes)
	var phase atomic.Int32
	log := &ledger{versions: map[string]int{}}
	c := &client{st: st, key: key, phase: &phase, log: log, http: &http.Client{Timeout: time.Minute}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { c.actuator(stop) })
	}
	waitFor(t, "an actuation accepted before the outage", func() bool {
		return log.count(func(o outcome) bool { return o.status == http.StatusAccepted }) > 0
	})
	if err := st.StopBroker(); err != nil {
		t.Fatal(err)
	}
	phase.Store(phaseDown)
	// The valves' open actuations time out within a second; after that
	// each new one finds the broker gone.
	waitFor(t, "actuations answered 503", func() bool {
		return log.count(func(o outcome) bool { return o.status == 503 && o.from == phaseDown }) >= 3
	})
	close(stop)
	wg.Wait()

	for _, u := range log.unexpects {
		t.Errorf("unexpected answer: %s", u)
	}
	for _, o := range log.outcomes {
		if o.status == 503 && (o.retryAfter == "" || o.code != "unavailable") {
			t.Errorf("503 without Retry-After or code unavailable: %+v", o)
		}
	}
	rejected := 0
	for _, v := range []string{"v-101", "v-102", "v-103"} {
		acts, _, err := st.Store.Actuations(context.Background(), v, domain.Page{Limit: domain.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range acts {
			switch a.State {
			case domain.ActuationQueued:
				t.Errorf("actuation %s is left queued", a.ID)
			case domain.ActuationRejected:
				rejected++
			}
		}
	}
	if answered := log.count(func(o outcome) bool { return o.status == 503 }); rejected != answered {
		t.Errorf("%d actuations rejected, %d answered 503: each 503 must be one rejected actuation", rejected, answered)
	}
}

func TestAFailingKeyStoreRefusesWritesWith503AndKeepsPublicReads(t *testing.T) {
	st, _ := faultStack(t)
	key := newKey(t, st, "ops", allScopes)
	kept, err := os.ReadFile(st.KeysFile)
	if err != nil {
		t.Fatal(err)
	}
	before := tableDump(t, st)
	for name, damage := range map[string]func() error{
		"missing":       func() error { return os.Remove(st.KeysFile) },
		"unparsable":    func() error { return os.WriteFile(st.KeysFile, []byte(`{"keys": [`), 0o600) },
		"not a keyring": func() error { return os.WriteFile(st.KeysFile, []byte(`"keys"`), 0o600) },
	} {
		t.Run(name, func(t *testing.T) {
			if err := damage(); err != nil {
				t.Fatal(err)
			}
			for _, w := range []struct{ path, body string }{
				{"/incidents", `{"title":"t","severity":"info"}`},
				{"/valves/v-101/actuate", `{"command":"OPEN"}`},
				{"/pipeline/alerts", `{"section":"A-North","severity":"minor"}`},
			} {
				a := post(t, st, key, w.path, w.body)
				if a.status != 503 || a.header.Get("Retry-After") == "" || errorCode(t, a) != "unavailable" {
					t.Errorf("POST %s with the key store %s: %d Retry-After=%q %s, want 503 with Retry-After", w.path, name, a.status, a.header.Get("Retry-After"), a.body)
				}
			}
			for _, path := range []string{"/", "/valves", "/valves/v-101", "/incidents", "/pipeline/alerts"} {
				if a := call(t, http.MethodGet, st.APIURL+path); a.status != 200 {
					t.Errorf("GET %s with the key store %s: %d %s", path, name, a.status, a.body)
				}
			}
			if err := os.WriteFile(st.KeysFile, kept, 0o600); err != nil {
				t.Fatal(err)
			}
		})
	}
	if after := tableDump(t, st); after != before {
		t.Errorf("writes refused for a failing key store changed the table")
	}
	// The store back, the same key works again.
	want(t, post(t, st, key, "/incidents", `{"title":"t","severity":"info"}`), 201)
}
