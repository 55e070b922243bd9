package simulator_test

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/plainview/serverless/shared/local/mqttbroker"
)

// record is what test brokers saw; one record can outlive a broker, so a
// restarted broker adds to it.
type record struct {
	mu       sync.Mutex
	connects []connect
	subs     map[string]int // "client topic" → times subscribed
	pubs     []published
}

type connect struct {
	ClientID, Username, Password string
	Clean                        bool
}

// published is a PUBLISH a client sent. A message sent again after a
// reconnect keeps its packet id, so client and packet id tell messages
// apart (paho hands out ids in turn; a test never wraps around 65535).
type published struct {
	Client   string
	PacketID uint16
	Topic    string
	Payload  []byte
}

func (r *record) subscribed(client, topic string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subs[client+" "+topic]
}

func (r *record) published() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]published(nil), r.pubs...)
}

func (r *record) connected() []connect {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]connect(nil), r.connects...)
}

// recorder admits everyone to everything, and records.
type recorder struct {
	mqtt.HookBase
	rec *record
}

func (h *recorder) ID() string { return "test-recorder" }

func (h *recorder) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnConnect, mqtt.OnSubscribed, mqtt.OnPublish:
		return true
	}
	return false
}

func (h *recorder) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (h *recorder) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }

func (h *recorder) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	h.rec.connects = append(h.rec.connects, connect{
		ClientID: pk.Connect.ClientIdentifier, Username: string(pk.Connect.Username),
		Password: string(pk.Connect.Password), Clean: pk.Connect.Clean,
	})
	return nil
}

func (h *recorder) OnSubscribed(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	for _, f := range pk.Filters {
		h.rec.subs[cl.ID+" "+f.Filter]++
	}
}

// OnPublish runs before the broker's PUBACK: whatever a client counts as
// acknowledged is recorded.
func (h *recorder) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !cl.Net.Inline {
		h.rec.mu.Lock()
		h.rec.pubs = append(h.rec.pubs, published{Client: cl.ID, PacketID: pk.PacketID, Topic: pk.TopicName, Payload: append([]byte(nil), pk.Payload...)})
		h.rec.mu.Unlock()
	}
	return pk, nil
}

// testBroker is the embedded broker (shared/local/mqttbroker, whose Stop avoids
// mochi's Close deadlock) with a recorder, stopped when the test ends.
type testBroker struct {
	srv  *mqttbroker.Broker
	addr string
}

// startBroker serves MQTT on addr ("127.0.0.1:0" for any port) until the
// test ends or stop.
func startBroker(t *testing.T, addr string, rec *record) *testBroker {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	rec.mu.Lock()
	if rec.subs == nil {
		rec.subs = map[string]int{}
	}
	rec.mu.Unlock()
	srv, err := mqttbroker.New(ln, slog.New(slog.DiscardHandler), &recorder{rec: rec})
	if err != nil {
		t.Fatal(err)
	}
	b := &testBroker{srv: srv, addr: ln.Addr().String()}
	t.Cleanup(b.stop)
	return b
}

func (b *testBroker) url() string { return "tcp://" + b.addr }

// stop shuts the broker down and frees its address; safe to call again.
func (b *testBroker) stop() { _ = b.srv.Stop() }

// message is one a test client received.
type message struct {
	Topic   string
	Payload []byte
}

// watcher is a client that sees everything on the broker, as an operator
// with the MQTT test client would, and sends commands.
type watcher struct {
	client paho.Client
	mu     sync.Mutex
	msgs   []message
}

func watch(t *testing.T, b *testBroker) *watcher {
	t.Helper()
	w := &watcher{}
	co := paho.NewClientOptions().AddBroker(b.url()).SetClientID("test-watcher").SetCleanSession(true).
		SetAutoReconnect(false)
	w.client = paho.NewClient(co)
	if tok := w.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	tok := w.client.Subscribe("#", 1, func(_ paho.Client, m paho.Message) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.msgs = append(w.msgs, message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...)})
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { w.client.Disconnect(100) })
	return w
}

// all returns the messages received so far, in order.
func (w *watcher) all() []message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]message(nil), w.msgs...)
}

// on returns the messages received on topic so far, in order.
func (w *watcher) on(topic string) []message {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []message
	for _, m := range w.msgs {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// send publishes a command payload to a valve, as the cloud does.
func (w *watcher) send(t *testing.T, valveID, payload string) {
	t.Helper()
	tok := w.client.Publish("valves/"+valveID+"/command", 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("send command: %v", tok.Error())
	}
}

// waitFor polls cond until it holds; it fails the test if it never does.
// The limit only stops a broken simulator from hanging the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
