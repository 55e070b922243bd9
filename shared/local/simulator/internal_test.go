package simulator

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
)

func newTestSimulator(t *testing.T, devices ...Device) *Simulator {
	t.Helper()
	s, err := New(Options{URL: "tcp://127.0.0.1:1", Devices: devices, Rand: rand.New(rand.NewPCG(7, 11))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReadingsFollowTheHourOfDay(t *testing.T) {
	s := newTestSimulator(t, Device{ID: "v-9", Kind: domain.DeviceValve}, Device{ID: "g-1", Kind: domain.DeviceGauge, Asset: "A-North"})
	valve := s.devices[0]
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	mean := func(hour int) (temperature, pressure, flow, kpa float64) {
		const n = 200
		at := day.Add(time.Duration(hour) * time.Hour)
		for range n {
			r := s.valveTelemetry(valve, at)
			if r.TS != float64(at.Unix()) {
				t.Fatalf("ts %v at %v", r.TS, at)
			}
			for name, v := range map[string][3]float64{
				"temperature_c": {r.TemperatureC, 39, 51},
				"pressure_pa":   {r.PressurePa, 1_950_000, 2_650_000},
				"flow_rate_lpm": {r.FlowRateLpm, 750, 1250},
				"kpa":           {s.gaugePressure(at).KPa, 2170, 2630},
			} {
				if v[0] < v[1] || v[0] > v[2] {
					t.Errorf("%s %v at %02d:00, want %v to %v", name, v[0], hour, v[1], v[2])
				}
			}
			temperature += r.TemperatureC / n
			pressure += r.PressurePa / n
			flow += r.FlowRateLpm / n
			kpa += s.gaugePressure(at).KPa / n
		}
		return
	}
	t3, p3, f3, k3 := mean(3)
	t15, p15, f15, k15 := mean(15)
	if t15-t3 < 8 || p15-p3 < 500_000 || f15-f3 < 300 || k15-k3 < 300 {
		t.Errorf("15:00 vs 03:00: temperature %.1f vs %.1f °C, pressure %.0f vs %.0f Pa, flow %.0f vs %.0f l/min, gauge %.0f vs %.0f kPa; want the afternoon well above the night",
			t15, t3, p15, p3, f15, f3, k15, k3)
	}
}

func TestSeedValvesCarryOnFromTheirSeedReadings(t *testing.T) {
	s := newTestSimulator(t, Device{ID: "v-103", Kind: domain.DeviceValve})
	// At 09:00 the daily curve is at its mean.
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var temperature, pressure float64
	for range 100 {
		r := s.valveTelemetry(s.devices[0], at)
		temperature += r.TemperatureC / 100
		pressure += r.PressurePa / 100
	}
	// v-103 was seeded at 39 °C and 1.8 MPa.
	if temperature < 38.5 || temperature > 39.5 || pressure < 1_790_000 || pressure > 1_810_000 {
		t.Errorf("v-103 reads %.2f °C and %.0f Pa at 09:00, want about 39 °C and 1,800,000 Pa", temperature, pressure)
	}
}

func TestLeaksAreMostlySmall(t *testing.T) {
	s := newTestSimulator(t, Device{ID: "v-101", Kind: domain.DeviceValve}, Device{ID: "g-1", Kind: domain.DeviceGauge, Asset: "A-North"})
	severities, classes := map[string]int{}, map[string]int{}
	const n = 2000
	for i := range n {
		l := s.leakFrom(s.devices[1], time.Unix(1_800_000_000, 0), int64(i))
		severities[l.Severity]++
		classes[l.Class]++
		if l.Severity == "LOW" && l.VolumeEstimate > 20 || l.Severity == "CRITICAL" && l.VolumeEstimate < 1000 {
			t.Errorf("%s leak of %v l", l.Severity, l.VolumeEstimate)
		}
	}
	if severities["LOW"] < n/2 || severities["LOW"] <= severities["MED"] || severities["CRITICAL"] == 0 {
		t.Errorf("severities %v, want mostly LOW and a few of each", severities)
	}
	for _, c := range []string{"METHANE", "OIL", "WATER", "UNKNOWN"} {
		if classes[c] == 0 {
			t.Errorf("no %s leak in %d: %v", c, n, classes)
		}
	}
}

func TestLeakIDsAreValidIDsEvenForLongDeviceIDs(t *testing.T) {
	long := strings.Repeat("d", 64)
	for _, dev := range []string{"v-101", long} {
		id := leakID(dev, 1_800_000_000_123)
		if !domain.ValidID(id) || !strings.HasPrefix(id, "leak-") || !strings.HasSuffix(id, "-1800000000123") {
			t.Errorf("leak id %q for device %q", id, dev)
		}
	}
}

func TestMoveTorqueStaysWithinFiveNewtonMetresOfFifty(t *testing.T) {
	s := newTestSimulator(t, Device{ID: "v-101", Kind: domain.DeviceValve})
	var sum float64
	const n = 10_000
	for range n {
		tq := s.moveTorque()
		if tq < 45 || tq > 55 {
			t.Fatalf("torque %v Nm", tq)
		}
		sum += tq
	}
	if mean := sum / n; mean < 49.8 || mean > 50.2 {
		t.Errorf("mean torque %.2f Nm, want 50", mean)
	}
}

func TestDueSendsOnePerIntervalAndSkipsAStall(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name                 string
		elapsed, every, tick time.Duration
		sent                 int64
		send, skip           int64
	}{
		{"the first at once", 0, 20 * ms, 20 * ms, 0, 1, 0},
		{"one per tick", 20 * ms, 20 * ms, 20 * ms, 1, 1, 0},
		{"a tick early: none", 39 * ms, 20 * ms, 20 * ms, 2, 0, 0},
		{"a late tick is made up", 60 * ms, 20 * ms, 20 * ms, 2, 2, 0},
		{"a fast rate on a coarse tick", 10 * ms, ms, 10 * ms, 1, 10, 0},
		{"a stall is skipped", time.Hour, 20 * ms, 20 * ms, 10, 3, 180_000 - 10 + 1 - 3},
	} {
		send, skip := due(c.elapsed, c.every, c.tick, c.sent)
		if send != c.send || skip != c.skip {
			t.Errorf("%s: send %d skip %d, want %d and %d", c.name, send, skip, c.send, c.skip)
		}
	}
}

func TestAckStoreCountsAMessageWhenItsPubackTakesItOut(t *testing.T) {
	acked := map[topics.Kind]int{}
	st := newAckStore(func(k topics.Kind) { acked[k]++ })
	st.Open()
	publish := func(topic string, id uint16) packets.ControlPacket {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.TopicName, p.MessageID, p.Qos = topic, id, 1
		return p
	}
	st.Put("o.1", publish("plainview/devices/v-101/telemetry", 1))
	st.Put("o.2", publish("valves/v-101/status", 2))
	st.Put("o.3", packets.NewControlPacket(packets.Subscribe)) // a subscription
	st.Put("i.4", publish("valves/v-101/command", 4))          // a command received
	if st.size() != 2 || !st.holds(1) || st.holds(3) {
		t.Fatalf("%d pending, want the two publishes", st.size())
	}
	st.Del("o.3") // SUBACK
	st.Del("o.1") // PUBACK
	st.Del("o.1") // a second PUBACK for a message sent twice
	if acked[topics.Telemetry] != 1 || acked[topics.Status] != 0 || st.size() != 1 {
		t.Errorf("acked %v with %d pending, want one telemetry message and the status pending", acked, st.size())
	}

	st.Close()
	st.Put("o.5", publish("plainview/leaks", 5)) // paho refuses it once closed
	if st.holds(5) {
		t.Error("a message the closed store refused counts as pending")
	}
}

func TestAckStoreHandsResumeACopyItMayMarkDuplicate(t *testing.T) {
	st := newAckStore(func(topics.Kind) {})
	st.Open()
	sent := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	sent.TopicName, sent.MessageID, sent.Qos, sent.Payload = "plainview/leaks", 1, 1, []byte(`{}`)
	st.Put("o.1", sent)

	// What client.resume does after a reconnect, while the old
	// connection's writer may still be packing sent.
	resent := st.Get("o.1").(*packets.PublishPacket)
	resent.Dup = true
	if sent.Dup {
		t.Error("Get handed out the stored packet: resume's Dup write races with the writer packing it")
	}
	if resent.TopicName != sent.TopicName || resent.MessageID != 1 || string(resent.Payload) != "{}" {
		t.Errorf("Get gave %v, want a copy of %v", resent, sent)
	}
	if st.Get("o.2") != nil {
		t.Error("Get of a key not stored gave a packet")
	}
}

// What paho does to a QoS 1 message published as a persistent session's
// connection comes up, at once: its writer packs the packet Publish stored
// (packing sets RemainingLength on it), while client.resume reads the
// store and marks what it got Dup to send it again. Run with -race (make
// test does): the two must touch no memory in common.
func TestAckStoreSharesNoPacketBetweenTheWriterAndResume(t *testing.T) {
	st := newAckStore(func(topics.Kind) {})
	st.Open()
	sent := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	sent.TopicName, sent.MessageID, sent.Qos, sent.Payload = "plainview/leaks", 1, 1, []byte(`{}`)
	st.Put("o.1", sent)

	var wg sync.WaitGroup
	wg.Go(func() { // the writer
		var out bytes.Buffer
		if err := sent.Write(&out); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() { // resume
		again := st.Get("o.1").(*packets.PublishPacket)
		again.Dup = true
		var out bytes.Buffer
		if err := again.Write(&out); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
}

func TestKindOfTopic(t *testing.T) {
	for topic, want := range map[string]topics.Kind{
		"plainview/devices/v-101/telemetry":                                             topics.Telemetry,
		"$aws/rules/plainview_local_device_telemetry/plainview/devices/v-101/telemetry": topics.Telemetry,
		"pipeline/pressure/A-North":                                                     topics.Pressure,
		"valves/v-101/status":                                                           topics.Status,
		"plainview/leaks":                                                               topics.Leak,
		"valves/v-101/command":                                                          topics.Command,
		"a/b":                                                                           topics.Unknown,
	} {
		if got := kindOf(topic); got != want {
			t.Errorf("kindOf(%q) = %d, want %d", topic, got, want)
		}
	}
}
