// Package mqttbroker is the embedded MQTT broker that stands in for IoT
// Core: mochi-mqtt with its limits raised to what IoT Core allows, and a
// Stop that does not deadlock.
package mqttbroker

import (
	"bytes"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/plainview/serverless/shared/contract/topics"
)

// Broker is a running embedded broker.
//
// mochi v2.7.9's Server.Close can deadlock: Clients.GetByListener holds a
// read lock and takes it again through Len, so a client detaching at that
// moment (its Delete waiting for the write lock) blocks both forever. Stop
// therefore stops accepting, drops every connection, waits until each has
// detached, and only then calls Close.
type Broker struct {
	*mqtt.Server
	ln   *trackingListener
	live *liveness // sessions not yet fully detached
	once sync.Once
	err  error
}

// New serves MQTT on ln with the hooks, added in order. Its limits are
// raised past mochi's defaults, which silently drop QoS 1 messages past
// 8,192 in flight per client; like IoT Core it takes QoS 0 and 1 only and
// messages of at most 128 KB.
func New(ln net.Listener, logger *slog.Logger, hooks ...mqtt.Hook) (*Broker, error) {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 1 << 16
	caps.MaximumInflight = math.MaxUint16
	caps.MaximumQos = 1
	caps.MaximumPacketSize = 128 << 10
	b := &Broker{
		Server: mqtt.New(&mqtt.Options{Capabilities: caps, InlineClient: true, Logger: quietLogger(logger)}),
		ln:     &trackingListener{Listener: ln, conns: map[net.Conn]struct{}{}},
		live:   new(liveness),
	}
	for _, h := range append([]mqtt.Hook{b.live, new(iotCoreRules)}, hooks...) {
		if err := b.AddHook(h, nil); err != nil {
			return nil, err
		}
	}
	if err := b.AddListener(listeners.NewNet("tcp", b.ln)); err != nil {
		return nil, err
	}
	if err := b.Serve(); err != nil {
		return nil, err
	}
	return b, nil
}

// Stop shuts the broker down and frees its address; safe to call again.
func (b *Broker) Stop() error {
	b.once.Do(func() {
		b.ln.closeAll()
		// A session may still be establishing: the client has its
		// CONNACK before mochi runs OnSessionEstablished. So this waits
		// on a count under a lock, not a WaitGroup, whose Add from zero
		// must not race its Wait (the race detector caught it here).
		for deadline := time.Now().Add(5 * time.Second); b.live.sessions() > 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		// OnDisconnect runs just before mochi deletes the client; let
		// those deletes finish before Close takes its locks.
		time.Sleep(50 * time.Millisecond)
		b.err = b.Close()
	})
	return b.err
}

// liveness counts the sessions that have not yet detached.
type liveness struct {
	mqtt.HookBase
	mu sync.Mutex
	n  int
}

func (h *liveness) sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func (h *liveness) add(d int) {
	h.mu.Lock()
	h.n += d
	h.mu.Unlock()
}

func (h *liveness) ID() string { return "liveness" }

func (h *liveness) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnSessionEstablished, mqtt.OnDisconnect}, []byte{b})
}

func (h *liveness) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if !cl.Net.Inline {
		h.add(1)
	}
}

func (h *liveness) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	if !cl.Net.Inline {
		h.add(-1)
	}
}

// iotCoreRules refuses, before anything is stored or delivered, the
// publishes IoT Core does not take: QoS 2 (mochi would lower it to QoS 1,
// acknowledge it and deliver it, while the client, waiting for PUBREC,
// takes the PUBACK as a failure) and topics a client may not publish to
// ($SYS/..., wildcards), which mochi drops without an answer, so a QoS 1
// publisher waits for ever. IoT Core sends no acknowledgement for QoS 2;
// here the connection is closed, so the client learns at once, as it does
// for a publish its rights refuse.
type iotCoreRules struct{ mqtt.HookBase }

func (iotCoreRules) ID() string { return "iot-core-rules" }

func (iotCoreRules) Provides(b byte) bool { return b == mqtt.OnPacketRead }

// OnPacketRead sees each packet of a network client before mochi handles
// it; ErrRejectPacket closes the connection (and sends the client's will,
// which its rights were checked for at connect).
func (iotCoreRules) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if refusal(pk) != "" {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// refusal says why IoT Core would refuse a packet a client sent, or "".
func refusal(pk packets.Packet) string {
	switch {
	case pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos > 1:
		return "QoS 2 is not supported"
	case pk.FixedHeader.Type == packets.Publish && !publishable(pk.TopicName):
		return "not a topic a client may publish to"
	}
	return ""
}

// publishable: a topic name without wildcards, outside the reserved $
// topics except Basic Ingest's ($aws/rules/..., which IoT Core hands to a
// rule; the client's rights decide whether it may). (An empty name with a
// topic alias is MQTT 5's way to repeat the last topic.)
func publishable(topic string) bool {
	return topic == "" || (mqtt.IsValidFilter(topic, true) &&
		(!strings.HasPrefix(topic, "$") || strings.HasPrefix(topic, topics.BasicIngestPrefix)))
}

// AllowAll admits every client to every topic: for tests and benchmarks,
// never for the local stack, which enforces the IoT policy.
type AllowAll struct{ mqtt.HookBase }

func (AllowAll) ID() string { return "allow-all" }

func (AllowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (AllowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (AllowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// trackingListener remembers the connections it accepted, so they can all
// be dropped at once.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

// trackedConn leaves its listener's list when closed: otherwise every
// connection ever accepted (each health check's dial included) would stay
// in it for the life of the broker.
type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	_ = l.Listener.Close()
	for c := range l.conns {
		_ = c.(*trackedConn).Conn.Close() // the lock is held: close beneath the tracking
	}
}
