package stack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/local/stack"
)

// dashboardOrigin is the origin of the page an EventSource runs in: another
// loopback origin than the API's.
const dashboardOrigin = "http://127.0.0.1:5173"

func streamStack(t *testing.T) *stack.Stack {
	t.Helper()
	return streamStackWith(t, httpapi.StreamConfig{})
}

func streamStackWith(t *testing.T, cfg httpapi.StreamConfig) *stack.Stack {
	t.Helper()
	policy, err := cors.Parse(dashboardOrigin)
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.Start(context.Background(), stack.Config{
		DynamoAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), TableName: "plainview", Version: "test", DisableThrottling: true,
		CORS: policy, Stream: cfg,
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sse is one server-sent event as an EventSource dispatches it.
type sse struct {
	id, event, data string
	at              time.Time // when it arrived
}

// stream is an open GET /events read as an EventSource reads it.
type stream struct {
	resp   *http.Response
	frames chan sse
	cancel context.CancelFunc
	err    error // how reading ended, once frames is closed
}

// openStream opens GET /events+query as an EventSource would, from the
// dashboard's origin, resuming after lastID when it is set.
func openStream(t *testing.T, st *stack.Stack, query, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.APIURL+"/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("Origin", dashboardOrigin)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET /events: %v", err)
	}
	s := &stream{resp: resp, frames: make(chan sse, 256), cancel: cancel}
	t.Cleanup(s.close)
	if resp.StatusCode != http.StatusOK {
		return s
	}
	go func() {
		defer close(s.frames)
		// The parsing rules of the HTML standard, as far as our server
		// uses them: field lines, a blank line dispatches, ":" comments.
		sc := bufio.NewScanner(resp.Body)
		var cur sse
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if cur.data != "" || cur.event != "" {
					cur.at = time.Now()
					s.frames <- cur
				}
				cur = sse{}
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				cur.id = value
			case "event":
				cur.event = value
			case "data":
				cur.data += value
			}
		}
		s.err = sc.Err()
	}()
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event other than a heartbeat, or fails after wait.
func (s *stream) next(t *testing.T, wait time.Duration) sse {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				t.Fatalf("stream ended")
			}
			if f.event != "telemetry.tick" {
				return f
			}
		case <-deadline:
			t.Fatalf("no event within %v", wait)
		}
	}
}

// quiet fails if an event other than a heartbeat comes within wait.
func (s *stream) quiet(t *testing.T, wait time.Duration) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				return
			}
			if f.event != "telemetry.tick" {
				t.Errorf("unexpected event %s %s", f.event, f.data)
			}
		case <-deadline:
			return
		}
	}
}

// actuate opens v-101 and has its device go through the steps to DONE.
func actuate(t *testing.T, st *stack.Stack, valve paho.Client, key, command string) string {
	t.Helper()
	commands := make(chan string, 4)
	tok := valve.Subscribe("valves/v-101/command", 1, func(_ paho.Client, m paho.Message) {
		var c struct {
			RequestID string `json:"request_id"`
		}
		json.Unmarshal(m.Payload(), &c)
		commands <- c.RequestID
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	defer valve.Unsubscribe("valves/v-101/command")
	id := want(t, post(t, st, key, "/valves/v-101/actuate", `{"command":"`+command+`"}`), 202)["actuation_id"].(string)
	select {
	case got := <-commands:
		if got != id {
			t.Fatalf("command for %s, want %s", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no command within 5 s")
	}
	status := func(state string, torque float64) map[string]any {
		return map[string]any{"state": state, "request_id": id, "angle_deg": 90, "torque_nm": torque,
			"interlocks": map[string]bool{"e_stop": false, "over_torque": false, "over_temp": false}}
	}
	publish(t, valve, "valves/v-101/status", status("ACTUATING", 30))
	time.Sleep(50 * time.Millisecond) // statuses are taken in asynchronously: keep their order
	publish(t, valve, "valves/v-101/status", status("DONE", 51.5))
	return id
}

func TestEventStreamThroughTheLocalGateway(t *testing.T) {
	st := streamStack(t)
	key := newKey(t, st, "ops", allScopes)
	valve := device(t, st, "v-101")

	opened := time.Now()
	s := openStream(t, st, "", "")
	if s.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", s.resp.StatusCode)
	}
	if ct := s.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	if o := s.resp.Header.Get("Access-Control-Allow-Origin"); o != dashboardOrigin {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q", o, dashboardOrigin)
	}
	// The heartbeat: at once, then every 5 s.
	var ticks []sse
	for len(ticks) < 2 {
		select {
		case f := <-s.frames:
			if f.event != "telemetry.tick" {
				t.Fatalf("before any write: event %s %s", f.event, f.data)
			}
			var tick struct {
				Type string `json:"type"`
				At   int64  `json:"at"`
			}
			if err := json.Unmarshal([]byte(f.data), &tick); err != nil || tick.Type != "telemetry.tick" || tick.At == 0 || f.id != "" {
				t.Errorf("heartbeat = id %q data %s (%v)", f.id, f.data, err)
			}
			ticks = append(ticks, f)
		case <-time.After(6 * time.Second):
			t.Fatalf("heartbeat %d not within 6 s", len(ticks)+1)
		}
	}
	if d := ticks[0].at.Sub(opened); d > time.Second {
		t.Errorf("first heartbeat after %v, want at once", d)
	}

	id := actuate(t, st, valve, key, "OPEN")
	var types []string
	for !slices.Contains(types, "valve.actuation.completed") {
		f := s.next(t, 10*time.Second)
		if f.id == "" {
			t.Errorf("event %s has no id line", f.event)
		}
		var ev struct {
			Type  string         `json:"type"`
			Asset string         `json:"asset"`
			Data  map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(f.data), &ev); err != nil || ev.Type != f.event || ev.Asset != "v-101" {
			t.Fatalf("event %s: data %s (%v)", f.event, f.data, err)
		}
		if ev.Data["actuation_id"] != id {
			t.Errorf("%s: actuation_id %v, want %s", f.event, ev.Data["actuation_id"], id)
		}
		if f.event == "valve.actuation.completed" && (ev.Data["valve_id"] != "v-101" || ev.Data["torque_nm"] != 51.5) {
			t.Errorf("completed: data %v, want valve_id v-101 and torque_nm 51.5", ev.Data)
		}
		types = append(types, f.event)
	}
	want := []string{"valve.actuation.requested", "valve.actuation.sent", "valve.actuation.progress", "valve.actuation.completed"}
	if !slices.Equal(types, want) {
		t.Errorf("events = %v, want %v", types, want)
	}
}

// An EventSource that lost its connection comes back with the id of the
// last event it got: it gets exactly what came after, nothing twice.
func TestEventStreamResumesFromLastEventID(t *testing.T) {
	st := streamStack(t)
	key := newKey(t, st, "ops", allScopes)
	valve := device(t, st, "v-101")

	s := openStream(t, st, "?asset=v-101", "")
	actuate(t, st, valve, key, "OPEN")
	first := s.next(t, 10*time.Second)
	if first.event != "valve.actuation.requested" {
		t.Fatalf("first event %s, want valve.actuation.requested", first.event)
	}
	s.close()

	// While it is away: the rest of this actuation and another one.
	eventually(t, "succeeded", func() bool {
		items := getJSON(t, st, "/events?asset=v-101&type=valve.actuation.completed")["items"].([]any)
		return len(items) == 1
	})
	actuate(t, st, valve, key, "CLOSE")
	eventually(t, "second completed", func() bool {
		items := getJSON(t, st, "/events?asset=v-101&type=valve.actuation.completed")["items"].([]any)
		return len(items) == 2
	})
	// What it missed, as the listing tells it from the same cursor.
	var missed []string
	for _, e := range getJSON(t, st, "/events?asset=v-101&limit=200&since="+first.id)["items"].([]any) {
		missed = append(missed, e.(map[string]any)["id"].(string))
	}
	if len(missed) < 7 {
		t.Fatalf("missed %d events, want the 3 left of the first actuation and 4 of the second", len(missed))
	}

	r := openStream(t, st, "?asset=v-101", first.id)
	var got []string
	for len(got) < len(missed) {
		f := r.next(t, 10*time.Second)
		var ev struct {
			ID string `json:"id"`
		}
		json.Unmarshal([]byte(f.data), &ev)
		got = append(got, ev.ID)
	}
	if !slices.Equal(got, missed) {
		t.Errorf("after reconnecting: %v, want %v", got, missed)
	}
	r.quiet(t, 2500*time.Millisecond) // nothing twice
}

func TestEventStreamFilters(t *testing.T) {
	st := streamStack(t)
	key := newKey(t, st, "ops", allScopes)
	valve := device(t, st, "v-101")

	completed := openStream(t, st, "?type=valve.actuation.completed&asset=v-101", "")
	other := openStream(t, st, "?asset=v-102", "")
	actuate(t, st, valve, key, "OPEN")
	if f := completed.next(t, 10*time.Second); f.event != "valve.actuation.completed" {
		t.Errorf("type filter: got %s", f.event)
	}
	completed.quiet(t, 2*time.Second)
	other.quiet(t, time.Second)

	for _, tc := range []struct{ query, lastID string }{
		{"?type=no.such.type", ""},
		{"?limit=5", ""},
		{"?since=x", ""},
		{"?asset=a%2Fb", ""},
		{"", "not-a-cursor"},
	} {
		s := openStream(t, st, tc.query, tc.lastID)
		if s.resp.StatusCode != http.StatusBadRequest || s.resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s Last-Event-ID %q: %d %s, want 400 in the error shape", tc.query, tc.lastID, s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
		}
	}
	// A cursor of another filter is no place in this one.
	s := openStream(t, st, "?asset=v-101", "")
	actuate(t, st, valve, key, "CLOSE")
	f := s.next(t, 10*time.Second)
	if r := openStream(t, st, "?asset=v-102", f.id); r.resp.StatusCode != http.StatusBadRequest {
		t.Errorf("cursor of asset v-101 on asset v-102: %d, want 400", r.resp.StatusCode)
	}
}

// The stream ends itself, cleanly, before API Gateway would cut it; the
// client then reconnects with Last-Event-ID.
func TestEventStreamEndsCleanlyAfterItsLength(t *testing.T) {
	st := streamStackWith(t, httpapi.StreamConfig{MaxDuration: 1500 * time.Millisecond})
	s := openStream(t, st, "", "")
	opened := time.Now()
	for {
		select {
		case _, ok := <-s.frames:
			if !ok {
				if d := time.Since(opened); d < time.Second {
					t.Errorf("the stream ended after %v, want its length, 1.5 s", d)
				}
				if s.err != nil {
					t.Errorf("the stream ended with %v, want a clean end", s.err)
				}
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the stream still runs 10 s on, want an end after 1.5 s")
		}
	}
}

// A device's flow reading far from its recent mean reaches the dashboard
// as anomaly.detected: found by ingestion, written once, streamed.
func TestAFlowAnomalyReachesTheStream(t *testing.T) {
	st := streamStack(t)
	valve := device(t, st, "v-101")
	s := openStream(t, st, "?type=anomaly.detected", "")
	start := time.Now().Add(-time.Minute).Unix()
	for i, flow := range []float64{100, 102, 98, 100, 160} {
		publish(t, valve, "plainview/devices/v-101/telemetry", map[string]any{"ts": start + int64(i), "flow_rate_lpm": flow})
		time.Sleep(150 * time.Millisecond) // a batch each: the spike is judged against what came before
	}
	f := s.next(t, 10*time.Second)
	var ev struct {
		Asset string `json:"asset"`
		Data  struct {
			AssetID     string  `json:"asset_id"`
			AnomalyType string  `json:"anomaly_type"`
			Confidence  float64 `json:"confidence"`
			Value       float64 `json:"value"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(f.data), &ev); err != nil || f.event != "anomaly.detected" || f.id == "" {
		t.Fatalf("event %s id %q: %s (%v)", f.event, f.id, f.data, err)
	}
	if ev.Asset != "v-101" || ev.Data.AssetID != "v-101" || ev.Data.AnomalyType != "flow_rate_lpm_deviation" ||
		ev.Data.Value != 160 || ev.Data.Confidence <= 0 || ev.Data.Confidence > 1 {
		t.Errorf("anomaly.detected data = %s", f.data)
	}
	s.quiet(t, 2*time.Second) // once
}
