package mqttbroker

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

func start(t *testing.T, hooks ...mqtt.Hook) *Broker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ln, slog.New(slog.DiscardHandler), append([]mqtt.Hook{new(AllowAll)}, hooks...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	return b
}

func (b *Broker) tracked() int {
	b.ln.mu.Lock()
	defer b.ln.mu.Unlock()
	return len(b.ln.conns)
}

func encode(t testing.TB, pk packets.Packet) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func connectPacket(id string) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: id, Clean: true, Keepalive: 30}}
}

// connect dials b and sends a CONNECT; it fails the test without CONNACK.
func connect(t *testing.T, b *Broker, id string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", b.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(encode(t, connectPacket(id))); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("%s: CONNACK % x, %v", id, ack, err)
	}
	return c
}

func TestClosedConnectionsAreForgotten(t *testing.T) {
	b := start(t)
	const n = 50
	for i := range n {
		// A session that ends with DISCONNECT, one that drops, and a
		// dial without CONNECT (what the health check does).
		c := connect(t, b, "clean")
		c.Write(encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}))
		c.Close()
		connect(t, b, "dropped").Close()
		d, err := net.Dial("tcp", b.ln.Addr().String())
		if err != nil {
			t.Fatal(i, err)
		}
		d.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.tracked() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := b.tracked(); got != 0 {
		t.Errorf("%d of %d closed connections still tracked", got, 3*n)
	}
	// Stop still drops a connection that is open.
	live := connect(t, b, "live")
	// The last dial of the loop may be accepted only now, and forgotten
	// a moment later: wait for the count to settle at the live one.
	for deadline := time.Now().Add(5 * time.Second); b.tracked() != 1 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if b.tracked() != 1 {
		t.Errorf("tracked %d, want the live one", b.tracked())
	}
	b.Stop()
	live.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(live); err != nil {
		t.Errorf("live connection after Stop: %v (want it closed)", err)
	}
}

// recorder notes what the broker accepted.
type recorder struct {
	mqtt.HookBase
	published chan string
}

func (r *recorder) ID() string                                    { return "recorder" }
func (r *recorder) Provides(b byte) bool                          { return b == mqtt.OnPublished }
func (r *recorder) OnPublished(_ *mqtt.Client, pk packets.Packet) { r.published <- pk.TopicName }

func TestWhatIoTCoreRefusesClosesTheConnectionUnstored(t *testing.T) {
	rec := &recorder{published: make(chan string, 16)}
	b := start(t, rec)
	publish := func(topic string, qos byte) packets.Packet {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic, Payload: []byte(`{}`), ProtocolVersion: 4}
		if qos > 0 {
			pk.PacketID = 1
		}
		return pk
	}
	for name, pk := range map[string]packets.Packet{
		"QoS 2":        publish("plainview/devices/d/telemetry", 2),
		"$SYS":         publish("$SYS/broker/x", 1),
		"$SYS at QoS0": publish("$SYS/broker/x", 0),
		"wildcard":     publish("plainview/+/telemetry", 1),
	} {
		c := connect(t, b, "d")
		c.Write(encode(t, pk))
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || len(got) != 0 {
			t.Errorf("%s: answer % x, %v; want none and the connection closed", name, got, err)
		}
		c.Close()
	}
	// A QoS 1 publish on a plain topic is acknowledged and delivered.
	c := connect(t, b, "d")
	c.Write(encode(t, publish("plainview/devices/d/telemetry", 1)))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x40 {
		t.Errorf("QoS 1: % x, %v", ack, err)
	}
	select {
	case topic := <-rec.published:
		if topic != "plainview/devices/d/telemetry" {
			t.Errorf("published %s", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the QoS 1 publish was not delivered")
	}
	if len(rec.published) != 0 {
		t.Errorf("a refused publish was delivered: %s", <-rec.published)
	}
}

// FuzzPacketRead feeds the broker's packet check whatever a client could
// send after CONNECT: it never panics, and what it lets through is QoS 0
// or 1 on a topic a client may publish to.
func FuzzPacketRead(f *testing.F) {
	for _, seed := range []struct {
		topic string
		qos   byte
	}{{"plainview/leaks", 1}, {"valves/v-102/command", 2}, {"$SYS/x", 1}, {"a/+/b", 0}, {"#", 1}, {"", 1}, {"$aws/things/x", 1},
		{"$aws/rules/plainview_local_device_telemetry/plainview/devices/v-101/telemetry", 1}} {
		f.Add(encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: seed.qos}, TopicName: seed.topic,
			PacketID: 1, Payload: []byte(`{"id":"x"}`), ProtocolVersion: 4}))
	}
	f.Add(encode(f, connectPacket("v-101")))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < 2 {
			return
		}
		fh := packets.FixedHeader{}
		if err := fh.Decode(raw[0]); err != nil {
			return
		}
		pk := packets.Packet{FixedHeader: fh, ProtocolVersion: 4}
		body := raw[1:]
		// Skip the remaining-length bytes.
		for len(body) > 0 && body[0]&0x80 != 0 {
			body = body[1:]
		}
		if len(body) > 0 {
			body = body[1:]
		}
		if fh.Type != packets.Publish || pk.PublishDecode(body) != nil {
			return
		}
		if refusal(pk) == "" && (pk.FixedHeader.Qos > 1 || (pk.TopicName != "" && !mqtt.IsValidFilter(pk.TopicName, true)) ||
			(strings.HasPrefix(pk.TopicName, "$") && !strings.HasPrefix(pk.TopicName, "$aws/rules/"))) {
			t.Errorf("let through: QoS %d topic %q", pk.FixedHeader.Qos, pk.TopicName)
		}
	})
}
