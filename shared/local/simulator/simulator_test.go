package simulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/local/simulator"
)

// The devices most tests simulate: a seed valve and a section's gauge.
const (
	valveID = "v-101"
	gaugeID = "A-North"
)

func aValve() simulator.Device {
	return simulator.Device{ID: valveID, Kind: "valve", Asset: valveID, Token: "tok-v-101"}
}

func aGauge() simulator.Device {
	return simulator.Device{ID: gaugeID, Kind: "gauge", Asset: gaugeID, Token: "tok-A-North"}
}

// run starts a simulator with opts (on b, with a fixed seed and an hour
// between readings unless opts say otherwise) and stops it when the test
// ends; stop stops it earlier and returns Run's error.
func run(t *testing.T, b *testBroker, opts simulator.Options) (sim *simulator.Simulator, stop func() error) {
	t.Helper()
	opts.URL = b.url()
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(1, 2))
	}
	if opts.TelemetryEvery == 0 && opts.Rate == 0 {
		opts.TelemetryEvery = time.Hour // quiet unless the test wants readings
	}
	sim, err := simulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(20 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return sim, stop
}

// subscribed waits until the valve has subscribed to its commands n times.
func subscribed(t *testing.T, rec *record, valveID string, n int) {
	t.Helper()
	waitFor(t, valveID+" subscribed", func() bool { return rec.subscribed(valveID, "valves/"+valveID+"/command") >= n })
}

type statusReport struct {
	State       string    `json:"state"`
	RequestID   string    `json:"request_id"`
	AngleDeg    *float64  `json:"angle_deg"`
	TorqueNm    *float64  `json:"torque_nm"`
	TorqueCurve []float64 `json:"torque_curve"`
	Interlocks  *struct {
		EStop      *bool `json:"e_stop"`
		OverTorque *bool `json:"over_torque"`
		OverTemp   *bool `json:"over_temp"`
	} `json:"interlocks"`
	Notes string `json:"notes"`
}

// statuses decodes the valve's status reports for one request, checking
// each carries every field of the contract.
func statuses(t *testing.T, w *watcher, valveID, requestID string) []statusReport {
	t.Helper()
	var out []statusReport
	for _, m := range w.on("valves/" + valveID + "/status") {
		var st statusReport
		if err := json.Unmarshal(m.Payload, &st); err != nil {
			t.Fatalf("status %s is not JSON: %v", m.Payload, err)
		}
		if st.RequestID != requestID {
			continue
		}
		if st.AngleDeg == nil || st.TorqueNm == nil || st.Interlocks == nil || st.Interlocks.EStop == nil ||
			st.Interlocks.OverTorque == nil || st.Interlocks.OverTemp == nil {
			t.Fatalf("status %s lacks a field of the contract", m.Payload)
		}
		out = append(out, st)
	}
	return out
}

func states(sts []statusReport) []string {
	var out []string
	for _, st := range sts {
		out = append(out, st.State)
	}
	return out
}

// finished waits for the request's DONE or ERROR and returns its reports.
func finished(t *testing.T, w *watcher, valveID, requestID string) []statusReport {
	t.Helper()
	var sts []statusReport
	waitFor(t, "the end of "+requestID, func() bool {
		sts = statuses(t, w, valveID, requestID)
		return len(sts) > 0 && (sts[len(sts)-1].State == "DONE" || sts[len(sts)-1].State == "ERROR")
	})
	return sts
}

func TestNewRejectsBadOptions(t *testing.T) {
	ok := simulator.Options{URL: "tcp://127.0.0.1:1883", Devices: []simulator.Device{aValve(), aGauge()}}
	if _, err := simulator.New(ok); err != nil {
		t.Fatalf("good options refused: %v", err)
	}
	for name, change := range map[string]func(*simulator.Options){
		"an http url":         func(o *simulator.Options) { o.URL = "http://127.0.0.1:1883" },
		"a url with no host":  func(o *simulator.Options) { o.URL = "tcp://" },
		"no devices":          func(o *simulator.Options) { o.Devices = nil },
		"a bad device id":     func(o *simulator.Options) { o.Devices = []simulator.Device{{ID: "v 1", Kind: "valve"}} },
		"a device twice":      func(o *simulator.Options) { o.Devices = []simulator.Device{aValve(), aValve()} },
		"an unknown kind":     func(o *simulator.Options) { o.Devices = []simulator.Device{{ID: "p-1", Kind: "pump"}} },
		"a gauge, no section": func(o *simulator.Options) { o.Devices = []simulator.Device{{ID: "g-1", Kind: "gauge"}} },
		"a negative interval": func(o *simulator.Options) { o.TelemetryEvery = -time.Second },
		"a negative rate":     func(o *simulator.Options) { o.Rate = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			opts := ok
			change(&opts)
			if _, err := simulator.New(opts); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func TestEachDeviceConnectsAsItselfWithAPersistentSession(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	open := simulator.Device{ID: "B-Central", Kind: "gauge", Asset: "B-Central"} // no token
	run(t, b, simulator.Options{Devices: []simulator.Device{aValve(), aGauge(), open}})

	waitFor(t, "three connections", func() bool { return len(rec.connected()) >= 3 })
	want := map[string]connect{
		valveID: {ClientID: valveID, Username: valveID, Password: aValve().Token},
		gaugeID: {ClientID: gaugeID, Username: gaugeID, Password: aGauge().Token},
		open.ID: {ClientID: open.ID, Username: open.ID},
	}
	for _, c := range rec.connected() {
		if c != want[c.ClientID] {
			t.Errorf("connected as %+v, want %+v (clean session false)", c, want[c.ClientID])
		}
	}
}

func TestValveAnswersOpenWithEveryStepInOrder(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	w := watch(t, b)
	sim, _ := run(t, b, simulator.Options{Devices: []simulator.Device{aValve()}, StepDelay: 20 * time.Millisecond})
	subscribed(t, rec, valveID, 1)

	w.send(t, valveID, `{"command":"CLOSE","params":{},"request_id":"act-1"}`)
	finished(t, w, valveID, "act-1")
	w.send(t, valveID, `{"command":"OPEN","params":{"torque_limit_nm":200,"speed":0.5},"request_id":"act-2","mission_id":"m-1"}`)
	sts := finished(t, w, valveID, "act-2")

	if got, want := states(sts), []string{"ALIGNING", "ACTUATING", "VERIFYING", "DONE"}; !slices.Equal(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	if a := *sts[0].AngleDeg; a != 0 {
		t.Errorf("ALIGNING at %v°, want 0° (where CLOSE left it)", a)
	}
	done := sts[3]
	if *done.AngleDeg != 90 {
		t.Errorf("DONE at %v°, want 90°", *done.AngleDeg)
	}
	if tq := *done.TorqueNm; tq < 40 || tq > 60 {
		t.Errorf("DONE torque %v Nm, want 40 to 60", tq)
	}
	if n := len(done.TorqueCurve); n == 0 || n > 100 {
		t.Errorf("torque curve of %d points, want a short one", n)
	}
	for _, st := range sts {
		if *st.Interlocks.EStop || *st.Interlocks.OverTorque || *st.Interlocks.OverTemp {
			t.Errorf("%s raised an interlock", st.State)
		}
	}
	waitFor(t, "the statuses acknowledged", func() bool { return sim.Stats().Status == 8 })
	if st := sim.Stats(); st.Commands != 2 {
		t.Errorf("%d commands counted, want 2", st.Commands)
	}
}

func TestValveKeepsItsAngleBetweenCommands(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	w := watch(t, b)
	run(t, b, simulator.Options{Devices: []simulator.Device{aValve()}, StepDelay: time.Millisecond})
	subscribed(t, rec, valveID, 1)

	for i, c := range []struct {
		command string
		want    float64
	}{
		{`"CLOSE","params":{}`, 0},
		{`"INDEX","params":{}`, 15},
		{`"TORQUE_TEST","params":{"torque_limit_nm":100}`, 15},
		{`"INDEX","params":{"target_angle_deg":45}`, 45},
		{`"OPEN","params":{}`, 90},
	} {
		id := fmt.Sprintf("act-%d", i)
		w.send(t, valveID, `{"command":`+c.command+`,"request_id":"`+id+`"}`)
		sts := finished(t, w, valveID, id)
		if last := sts[len(sts)-1]; last.State != "DONE" || *last.AngleDeg != c.want {
			t.Errorf("%s ended %s at %v°, want DONE at %v°", c.command, last.State, *last.AngleDeg, c.want)
		}
	}
}

func TestValveStopsWithOverTorqueWhenTheLimitIsBelowWhatTheMoveTakes(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	w := watch(t, b)
	run(t, b, simulator.Options{Devices: []simulator.Device{aValve()}, StepDelay: 20 * time.Millisecond})
	subscribed(t, rec, valveID, 1)

	w.send(t, valveID, `{"command":"CLOSE","params":{"torque_limit_nm":10},"request_id":"act-1"}`)
	finished(t, w, valveID, "act-1")
	// The valve carries out one command after the other: once the next
	// one has started, the first has said all it will say.
	w.send(t, valveID, `{"command":"TORQUE_TEST","params":{},"request_id":"act-2"}`)
	waitFor(t, "the next command", func() bool { return len(statuses(t, w, valveID, "act-2")) > 0 })

	sts := statuses(t, w, valveID, "act-1")
	if got, want := states(sts), []string{"ALIGNING", "ERROR"}; !slices.Equal(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	e := sts[1]
	if !*e.Interlocks.OverTorque || e.Notes != "over torque" {
		t.Errorf("ERROR has over_torque %v and notes %q, want true and \"over torque\"", *e.Interlocks.OverTorque, e.Notes)
	}
	if *e.AngleDeg != 90 {
		t.Errorf("ERROR at %v°, want 90° (the valve did not move)", *e.AngleDeg)
	}
}

func TestStopAnswersDoneAtOnceAndHaltsTheMoveUnderWay(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	w := watch(t, b)
	// Steps far enough apart that the STOP lands in the middle of the move.
	run(t, b, simulator.Options{Devices: []simulator.Device{aValve()}, StepDelay: 500 * time.Millisecond})
	subscribed(t, rec, valveID, 1)

	w.send(t, valveID, `{"command":"STOP","params":{},"request_id":"act-0"}`)
	if sts := finished(t, w, valveID, "act-0"); !slices.Equal(states(sts), []string{"DONE"}) {
		t.Errorf("STOP at rest answered %v, want [DONE]", states(sts))
	}

	w.send(t, valveID, `{"command":"CLOSE","params":{},"request_id":"act-1"}`)
	waitFor(t, "the move to start", func() bool { return len(statuses(t, w, valveID, "act-1")) > 0 })
	w.send(t, valveID, `{"command":"STOP","params":{},"request_id":"act-2"}`)
	sts := finished(t, w, valveID, "act-2")
	if !slices.Equal(states(sts), []string{"DONE"}) {
		t.Errorf("STOP answered %v, want [DONE]", states(sts))
	}
	// Once the next command has started, the stopped one has said all
	// it will say.
	w.send(t, valveID, `{"command":"TORQUE_TEST","params":{},"request_id":"act-3"}`)
	waitFor(t, "the next command", func() bool { return len(statuses(t, w, valveID, "act-3")) > 0 })
	if got := states(statuses(t, w, valveID, "act-1")); slices.Contains(got, "DONE") {
		t.Errorf("the stopped move reported %v; it should not finish", got)
	}
}

func TestValveIgnoresCommandsItCannotRead(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	w := watch(t, b)
	sim, _ := run(t, b, simulator.Options{Devices: []simulator.Device{aValve()}, StepDelay: 20 * time.Millisecond})
	subscribed(t, rec, valveID, 1)

	w.send(t, valveID, `OPEN the valve`)
	w.send(t, valveID, `{"command":"OPEN","params":{}}`)
	w.send(t, valveID, `{"command":"CLOSE","params":{},"request_id":"act-1"}`)
	finished(t, w, valveID, "act-1")

	for _, m := range w.on("valves/" + valveID + "/status") {
		if !strings.Contains(string(m.Payload), `"request_id":"act-1"`) {
			t.Errorf("answered a command it could not read: %s", m.Payload)
		}
	}
	if n := sim.Stats().Commands; n != 1 {
		t.Errorf("%d commands counted, want 1", n)
	}
}

func TestValveAnswersACommandItDoesNotKnowWithError(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	w := watch(t, b)
	run(t, b, simulator.Options{Devices: []simulator.Device{aValve()}, StepDelay: 10 * time.Millisecond})
	subscribed(t, rec, valveID, 1)

	w.send(t, valveID, `{"command":"SPIN","params":{},"request_id":"act-1"}`)
	sts := finished(t, w, valveID, "act-1")
	if !slices.Equal(states(sts), []string{"ERROR"}) || !strings.Contains(sts[0].Notes, "SPIN") {
		t.Errorf("SPIN answered %v (notes %q), want ERROR naming the command", states(sts), sts[0].Notes)
	}
}

func TestCommandDeliveredTwiceIsCarriedOutOnce(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	w := watch(t, b)
	run(t, b, simulator.Options{Devices: []simulator.Device{aValve()}, StepDelay: 10 * time.Millisecond})
	subscribed(t, rec, valveID, 1)

	w.send(t, valveID, `{"command":"CLOSE","params":{},"request_id":"act-1"}`)
	w.send(t, valveID, `{"command":"CLOSE","params":{},"request_id":"act-1"}`)
	finished(t, w, valveID, "act-1")
	w.send(t, valveID, `{"command":"OPEN","params":{},"request_id":"act-2"}`)
	finished(t, w, valveID, "act-2")

	if got := states(statuses(t, w, valveID, "act-1")); len(got) != 4 {
		t.Errorf("act-1 reported %v, want one run of four steps", got)
	}
}

func TestTelemetryAndPressureFollowTheContract(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	w := watch(t, b)
	at := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	sim, _ := run(t, b, simulator.Options{
		Devices: []simulator.Device{aValve(), aGauge()}, TelemetryEvery: 20 * time.Millisecond,
		Clock: func() time.Time { return at },
	})
	telemetryTopic, pressureTopic := "plainview/devices/v-101/telemetry", "pipeline/pressure/A-North"
	waitFor(t, "readings from both devices", func() bool {
		return len(w.on(telemetryTopic)) >= 5 && len(w.on(pressureTopic)) >= 5
	})

	for _, m := range w.on(telemetryTopic) {
		var r map[string]float64
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			t.Fatalf("telemetry %s: %v", m.Payload, err)
		}
		for field, lim := range map[string][2]float64{
			"ts":            {float64(at.Unix()), float64(at.Unix())},
			"temperature_c": {30, 60},
			"pressure_pa":   {1_500_000, 2_800_000},
			"flow_rate_lpm": {700, 1300},
			"torque_nm":     {0, 100},
		} {
			v, ok := r[field]
			if !ok || v < lim[0] || v > lim[1] {
				t.Errorf("telemetry %s: %s missing or outside %v", m.Payload, field, lim)
			}
		}
	}
	for _, m := range w.on(pressureTopic) {
		var r map[string]float64
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			t.Fatalf("pressure %s: %v", m.Payload, err)
		}
		if r["ts"] != float64(at.Unix()) || r["kpa"] < 2150 || r["kpa"] > 2650 || len(r) != 2 {
			t.Errorf("pressure %s: want ts %d and kpa around 2200 to 2600", m.Payload, at.Unix())
		}
	}
	for _, m := range w.all() {
		if strings.HasPrefix(m.Topic, "pipeline/pressure/") && m.Topic != pressureTopic {
			t.Errorf("pressure on %s, want only %s", m.Topic, pressureTopic)
		}
	}
	if st := sim.Stats(); st.Telemetry == 0 || st.Pressure == 0 {
		t.Errorf("stats %v count no readings", st)
	}
}

func TestLeaksFollowTheContract(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	w := watch(t, b)
	sim, _ := run(t, b, simulator.Options{Devices: []simulator.Device{aValve(), aGauge()}, LeakEvery: 5 * time.Millisecond})
	waitFor(t, "leaks", func() bool { return len(w.on("plainview/leaks")) >= 20 })

	// QoS 1 is at least once: a leak sent again after a reconnect arrives
	// twice, byte for byte (ingest deduplicates it by id). One id on two
	// different leaks is the fault.
	ids := map[string]string{}
	for _, m := range w.on("plainview/leaks") {
		var l struct {
			ID       string   `json:"id"`
			TS       *float64 `json:"ts"`
			AssetID  string   `json:"asset_id"`
			Location *struct {
				Lat *float64 `json:"lat"`
				Lon *float64 `json:"lon"`
			} `json:"location"`
			Class          string   `json:"class"`
			Confidence     *float64 `json:"confidence"`
			Severity       string   `json:"severity"`
			VolumeEstimate *float64 `json:"volume_estimate"`
		}
		if err := json.Unmarshal(m.Payload, &l); err != nil {
			t.Fatalf("leak %s: %v", m.Payload, err)
		}
		switch {
		case ids[l.ID] == string(m.Payload):
			continue // the same leak again
		case !domain.ValidID(l.ID) || ids[l.ID] != "":
			t.Errorf("leak %s: id not a fresh valid id (%s has it)", m.Payload, ids[l.ID])
		case l.TS == nil || l.Location == nil || l.Location.Lat == nil || l.Location.Lon == nil || l.VolumeEstimate == nil:
			t.Errorf("leak %s: a field is missing", m.Payload)
		case (domain.Location{Lat: *l.Location.Lat, Lon: *l.Location.Lon}).Validate() != nil:
			t.Errorf("leak %s: location off the Earth", m.Payload)
		case !slices.Contains([]string{"METHANE", "OIL", "WATER", "UNKNOWN"}, l.Class):
			t.Errorf("leak %s: class", m.Payload)
		case !slices.Contains([]string{"LOW", "MED", "HIGH", "CRITICAL"}, l.Severity):
			t.Errorf("leak %s: severity", m.Payload)
		case l.Confidence == nil || *l.Confidence < 0.5 || *l.Confidence > 0.99:
			t.Errorf("leak %s: confidence not within 0.5 to 0.99", m.Payload)
		case *l.VolumeEstimate < 0:
			t.Errorf("leak %s: negative volume", m.Payload)
		// Only the gauge reports leaks, on its own section (the broker
		// and ingestion refuse others). The id names the reporter.
		case !strings.HasPrefix(l.ID, "leak-A-North-") || l.AssetID != "A-North":
			t.Errorf("leak %s: not the gauge's own section", m.Payload)
		}
		ids[l.ID] = string(m.Payload)
	}
	if sim.Stats().Leaks == 0 {
		t.Error("no leak counted as acknowledged")
	}
}

func TestRestartedBrokerGetsWhatWasSentWhileItWasDown(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	sim, stop := run(t, b, simulator.Options{
		Devices: []simulator.Device{aValve(), aGauge()}, TelemetryEvery: 20 * time.Millisecond, StepDelay: 10 * time.Millisecond,
	})
	subscribed(t, rec, valveID, 1)
	waitFor(t, "readings", func() bool { return sim.Stats().Telemetry >= 3 && sim.Stats().Pressure >= 3 })

	b.stop()
	down := time.Now()
	// paho keeps what the devices publish meanwhile.
	waitFor(t, "messages kept while the broker is down", func() bool { return sim.Stats().Pending >= 10 })
	up := time.Now()
	b = startBroker(t, b.addr, rec)

	// The valve subscribes again: the new broker has no session for it.
	subscribed(t, rec, valveID, 2)
	if err := b.srv.Publish("valves/v-101/command", []byte(`{"command":"CLOSE","params":{},"request_id":"act-after"}`), false, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the answer to a command sent after the restart", func() bool {
		for _, p := range rec.published() {
			if p.Topic == "valves/v-101/status" && strings.Contains(string(p.Payload), `"DONE"`) {
				return true
			}
		}
		return false
	})
	waitFor(t, "the backlog acknowledged", func() bool { return sim.Stats().Pending == 0 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	st := sim.Stats()
	if st.Reconnects < 2 {
		t.Errorf("%d reconnects, want one per device", st.Reconnects)
	}
	if st.Pending != 0 || st.Failed != 0 {
		t.Errorf("stats %v: want nothing pending or failed", st)
	}
	// Every message the simulator counts reached a broker, once or more;
	// each one that reached a broker is counted once.
	distinct := map[string]map[string]bool{}
	fromDowntime := map[string]int{}
	for _, p := range rec.published() {
		topic := p.Topic
		if distinct[topic] == nil {
			distinct[topic] = map[string]bool{}
		}
		distinct[topic][fmt.Sprintf("%s/%d", p.Client, p.PacketID)] = true
		var r struct{ TS float64 }
		if json.Unmarshal(p.Payload, &r) == nil && r.TS > float64(down.UnixMilli())/1000 && r.TS < float64(up.UnixMilli())/1000 {
			fromDowntime[topic]++
		}
	}
	for topic, counted := range map[string]int64{
		"plainview/devices/v-101/telemetry": st.Telemetry,
		"pipeline/pressure/A-North":         st.Pressure,
		"valves/v-101/status":               st.Status,
	} {
		if got := len(distinct[topic]); int64(got) != counted {
			t.Errorf("%s: the brokers got %d distinct messages, the simulator counts %d", topic, got, counted)
		}
		if topic != "valves/v-101/status" && fromDowntime[topic] == 0 {
			t.Errorf("%s: nothing stamped while the broker was down arrived", topic)
		}
	}
}

func TestRateSetsTheReadingsPerSecondOverAllDevices(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	const rate = 200
	fleet := []simulator.Device{aValve(), aGauge(),
		{ID: "v-102", Kind: "valve", Asset: "v-102"}, {ID: "B-Central", Kind: "gauge", Asset: "B-Central"}}
	start := time.Now()
	sim, stop := run(t, b, simulator.Options{Devices: fleet, Rate: rate, TelemetryEvery: time.Hour})
	time.Sleep(time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A loose lower bound only: a loaded machine may fall behind.
	elapsed := time.Since(start)
	st := sim.Stats()
	if got, want := st.Telemetry+st.Pressure, int64(rate*time.Second.Seconds()/4); got < want {
		t.Errorf("%d readings in %v at %d/s, want at least %d", got, elapsed, rate, want)
	}
	if st.Telemetry == 0 || st.Pressure == 0 {
		t.Errorf("stats %v: every kind of device should report", st)
	}
}

func TestRunRunsOnce(t *testing.T) {
	rec := &record{}
	b := startBroker(t, "127.0.0.1:0", rec)
	sim, stop := run(t, b, simulator.Options{Devices: []simulator.Device{aGauge()}})
	waitFor(t, "the first Run to connect", func() bool { return len(rec.connected()) > 0 })
	if err := sim.Run(context.Background()); err == nil {
		t.Error("a second Run did not fail")
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}
