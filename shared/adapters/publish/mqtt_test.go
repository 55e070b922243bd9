package publish_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mochipackets "github.com/mochi-mqtt/server/v2/packets"

	"github.com/plainview/serverless/shared/adapters/publish"
	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

// patience bounds every wait in these tests; none is expected to come
// near it.
const patience = 10 * time.Second

// allowAll lets every client connect and use every topic. It stands in
// for mochi's auth.AllowHook, whose package imports gopkg.in/yaml.v3, a
// module this one does not require.
type allowAll struct{ mqtt.HookBase }

func (allowAll) ID() string { return "allow-all" }

func (allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (allowAll) OnConnectAuthenticate(*mqtt.Client, mochipackets.Packet) bool { return true }

func (allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// startBroker serves an embedded MQTT broker on addr ("127.0.0.1:0" for any
// port) and returns its address and a function that stops it (also called
// at cleanup).
func startBroker(t *testing.T, addr string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewNet("t", ln)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() { srv.Close() })
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// subscribe connects a separate paho client to the broker at addr and
// returns the payloads it receives on topic.
func subscribe(t *testing.T, addr, clientID, topic string) <-chan []byte {
	t.Helper()
	got := make(chan []byte, 16)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID))
	if tok := c.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { got <- m.Payload() })
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	return got
}

func newMQTT(t *testing.T, addr string, timeout time.Duration) *publish.MQTT {
	t.Helper()
	p, err := publish.NewMQTT(publish.MQTTOptions{
		URL:      "tcp://" + addr,
		ClientID: "valves-publisher",
		Timeout:  timeout,
	})
	if err != nil {
		t.Fatalf("NewMQTT: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// publishWhenConnected publishes once the publisher has a link to the
// broker: it tries again while Publish fails with ErrNotConnected, for at
// most patience, and returns the first other outcome. Each attempt may
// wait up to wait for its acknowledgement.
func publishWhenConnected(p *publish.MQTT, topic string, payload []byte, wait time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err := p.Publish(ctx, topic, payload)
		cancel()
		if !errors.Is(err, publish.ErrNotConnected) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func receive(t *testing.T, got <-chan []byte) []byte {
	t.Helper()
	select {
	case b := <-got:
		return b
	case <-time.After(patience):
		t.Fatal("subscriber received nothing")
		return nil
	}
}

func TestMQTTPublishDeliversThePayloadToSubscribers(t *testing.T) {
	addr, _ := startBroker(t, "127.0.0.1:0")
	const topic = "valves/v-101/command"
	got := subscribe(t, addr, "operator", topic)
	p := newMQTT(t, addr, 0)

	payload := []byte(`{"actuationId":"a-1","position":"closed"}`)
	if err := publishWhenConnected(p, topic, payload, patience); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if b := receive(t, got); string(b) != string(payload) {
		t.Errorf("received %q, want %q", b, payload)
	}
}

func TestMQTTPublishFailsWhileTheBrokerIsDownAndWorksOnceItIsBack(t *testing.T) {
	addr, stop := startBroker(t, "127.0.0.1:0")
	const topic = "valves/v-101/command"
	var logs syncbuf.Buffer
	p, err := publish.NewMQTT(publish.MQTTOptions{
		URL: "tcp://" + addr, ClientID: "valves-publisher", Timeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatalf("NewMQTT: %v", err)
	}
	t.Cleanup(p.Close)
	if err := publishWhenConnected(p, topic, []byte(`{"n":1}`), patience); err != nil {
		t.Fatalf("Publish with the broker up: %v", err)
	}

	stop()
	// Once the publisher has seen the link go, a publish fails at once
	// and does not sit out the acknowledgement timeout. (One made in the
	// instant the link drops may: that wait is bounded by Timeout.)
	for deadline := time.Now().Add(patience); !strings.Contains(logs.String(), "mqtt connection lost"); {
		if time.Now().After(deadline) {
			t.Fatalf("the publisher never saw the broker go; its log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := p.Publish(ctx, topic, []byte(`{"n":2}`)); !errors.Is(err, publish.ErrNotConnected) {
		t.Fatalf("Publish with the broker gone = %v, want ErrNotConnected", err)
	}

	// A new broker on the same address: the publisher finds it again.
	startBroker(t, addr)
	got := subscribe(t, addr, "operator", topic)
	if err := publishWhenConnected(p, topic, []byte(`{"n":3}`), patience); err != nil {
		t.Fatalf("Publish after the broker came back: %v", err)
	}
	if b := receive(t, got); string(b) != `{"n":3}` {
		t.Errorf("received %q, want the command sent after the broker came back", b)
	}
}

func TestMQTTPublishWithoutABrokerFailsWithErrNotConnected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now

	p := newMQTT(t, addr, 0) // does not fail: it keeps trying in the background
	err = p.Publish(context.Background(), "valves/v-101/command", []byte(`{}`))
	if !errors.Is(err, publish.ErrNotConnected) {
		t.Errorf("Publish = %v, want ErrNotConnected", err)
	}
}

func TestNewMQTTRefusesOptionsItCouldNeverConnectWith(t *testing.T) {
	for name, opts := range map[string]publish.MQTTOptions{
		"no url":       {ClientID: "c"},
		"no scheme":    {URL: "127.0.0.1:1883", ClientID: "c"},
		"other scheme": {URL: "http://127.0.0.1:1883", ClientID: "c"},
		"no client id": {URL: "tcp://127.0.0.1:1883"},
	} {
		if p, err := publish.NewMQTT(opts); err == nil {
			p.Close()
			t.Errorf("%s: NewMQTT(%+v) succeeded, want an error", name, opts)
		}
	}
}

// A command reported as failed must never reach a valve later: not when
// its acknowledgement timed out, not when the link dropped while it was
// waiting. This test plays the broker by hand, at the packet level, to
// withhold acknowledgements and drop links at chosen points.
func TestMQTTNeverResendsACommandItReportedAsFailed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := newMQTT(t, ln.Addr().String(), patience)
	const topic = "valves/v-101/command"

	// Link 1: "first" is never acknowledged; Publish gives up at the
	// caller's deadline. Then the link drops.
	conn := acceptSession(t, ln)
	if err := publishWhenConnected(p, topic, []byte("first"), 200*time.Millisecond); !errors.Is(err, publish.ErrNoAck) {
		t.Fatalf("unacknowledged Publish = %v, want ErrNoAck", err)
	}
	if pub := readPublish(t, conn); string(pub.Payload) != "first" {
		t.Fatalf("link 1 carried %q, want first", pub.Payload)
	}
	conn.Close()

	// Link 2: "second" is waiting for its acknowledgement when the link
	// drops; Publish fails then, without waiting for its timeout.
	conn = acceptSession(t, ln)
	result := make(chan error, 1)
	go func() { result <- publishWhenConnected(p, topic, []byte("second"), patience) }()
	if pub := readPublish(t, conn); string(pub.Payload) != "second" {
		t.Errorf("link 2 carried %q, want second: a failed command was sent again", pub.Payload)
	}
	conn.Close()
	select {
	case err := <-result:
		if err == nil || errors.Is(err, publish.ErrNoAck) {
			t.Fatalf("Publish cut off by a lost link = %v, want a connection error", err)
		}
	case <-time.After(patience):
		t.Fatal("Publish cut off by a lost link did not return")
	}

	// Link 3: only "third" may arrive, acknowledged, until the publisher
	// closes.
	conn = acceptSession(t, ln)
	carried := make(chan []string, 1)
	go func() { carried <- serve(conn) }()
	if err := publishWhenConnected(p, topic, []byte("third"), patience); err != nil {
		t.Fatalf("Publish on link 3: %v", err)
	}
	p.Close()
	var got []string
	select {
	case got = <-carried:
	case <-time.After(patience):
		t.Fatal("link 3 not closed after Close")
	}
	if want := []string{"third"}; !slices.Equal(got, want) {
		t.Errorf("link 3 carried %q, want %q: a failed command was sent again", got, want)
	}
}

// acceptSession accepts the publisher's next connection, checks that it
// asks for a clean session, and accepts that.
func acceptSession(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(patience))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(patience))
	cp, err := packets.ReadPacket(conn)
	if err != nil {
		t.Fatalf("read CONNECT: %v", err)
	}
	connect, ok := cp.(*packets.ConnectPacket)
	if !ok {
		t.Fatalf("first packet is %v, want CONNECT", cp)
	}
	if !connect.CleanSession {
		t.Error("CONNECT without clean session: the broker would keep unacknowledged commands")
	}
	if err := packets.NewControlPacket(packets.Connack).Write(conn); err != nil {
		t.Fatalf("write CONNACK: %v", err)
	}
	return conn
}

// readPublish reads packets from conn up to the next PUBLISH, which it
// does not acknowledge.
func readPublish(t *testing.T, conn net.Conn) *packets.PublishPacket {
	t.Helper()
	for {
		cp, err := packets.ReadPacket(conn)
		if err != nil {
			t.Fatalf("read PUBLISH: %v", err)
		}
		if pub, ok := cp.(*packets.PublishPacket); ok {
			return pub
		}
	}
}

// serve acknowledges every PUBLISH on conn until the client disconnects,
// and returns their payloads in order.
func serve(conn net.Conn) []string {
	var payloads []string
	for {
		cp, err := packets.ReadPacket(conn)
		if err != nil {
			return payloads
		}
		switch cp := cp.(type) {
		case *packets.PublishPacket:
			payloads = append(payloads, string(cp.Payload))
			ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
			ack.MessageID = cp.MessageID
			if ack.Write(conn) != nil {
				return payloads
			}
		case *packets.PingreqPacket:
			if packets.NewControlPacket(packets.Pingresp).Write(conn) != nil {
				return payloads
			}
		case *packets.DisconnectPacket:
			return payloads
		}
	}
}
