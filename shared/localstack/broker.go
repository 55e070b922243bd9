package localstack

import (
	"bytes"
	"crypto/subtle"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/plainview/serverless/shared/domain"
)

// Login is a username and password for the broker.
type Login struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// authHook admits the operator, who may watch and publish on every topic,
// as the AWS console's MQTT test client may, and the cloud side (the
// functions), which may publish commands to valves as the valves
// function's IAM role may through the IoT data plane. Devices, with their
// own rights, arrive with the device inventory.
type authHook struct {
	mqtt.HookBase
	operator Login
	cloud    Login
	devices  deviceAuth
	live     *sync.WaitGroup // connections not yet fully detached
	// published receives every publish the broker accepted from a
	// client: the local rules engine.
	published func(clientID, topic string, payload []byte)
}

func (h *authHook) ID() string { return "plainview-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnSessionEstablished ||
		b == mqtt.OnDisconnect || b == mqtt.OnPublished
}

// OnPublished hands what a client published, once accepted, to the rules.
func (h *authHook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	if h.published != nil && !cl.Net.Inline {
		h.published(cl.ID, pk.TopicName, pk.Payload)
	}
}

func (h *authHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	if !cl.Net.Inline {
		h.live.Add(1)
	}
}

func (h *authHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	if !cl.Net.Inline {
		h.live.Done()
	}
}

func (l Login) matches(pk packets.Packet) bool {
	user := subtle.ConstantTimeCompare(pk.Connect.Username, []byte(l.Username))
	pass := subtle.ConstantTimeCompare(pk.Connect.Password, []byte(l.Password))
	return user&pass == 1
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if h.operator.matches(pk) || h.cloud.matches(pk) {
		return true
	}
	_, ok := h.devices.login([]byte(cl.ID), pk.Connect.Username, pk.Connect.Password)
	return ok
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	switch {
	case bytes.Equal(cl.Properties.Username, []byte(h.operator.Username)):
		return true
	case bytes.Equal(cl.Properties.Username, []byte(h.cloud.Username)):
		return write && isCommandTopic(topic)
	}
	if d, ok := h.devices[string(cl.Properties.Username)]; ok && cl.ID == d.ID {
		return deviceRights(d.Device, topic, write)
	}
	return false
}

// isCommandTopic matches valves/{id}/command.
func isCommandTopic(topic string) bool {
	parts := strings.Split(topic, "/")
	return len(parts) == 3 && parts[0] == "valves" && domain.ValidID(parts[1]) && parts[2] == "command"
}

// broker is the embedded MQTT broker and what it takes to stop it safely.
//
// mochi v2.7.9's Server.Close can deadlock: Clients.GetByListener holds a
// read lock and takes it again through Len, so a client detaching at that
// moment (its Delete waiting for the write lock) blocks both forever. The
// stack therefore stops accepting, drops every connection, waits until
// each has detached, and only then calls Close.
type broker struct {
	*mqtt.Server
	ln   *trackingListener
	live *sync.WaitGroup
	once sync.Once
	err  error
}

// stop shuts the broker down; it is safe to call more than once.
func (b *broker) stop() error {
	b.once.Do(func() {
		b.ln.closeAll()
		done := make(chan struct{})
		go func() { b.live.Wait(); close(done) }()
		select {
		case <-done:
			// OnDisconnect runs just before mochi deletes the client; let
			// those deletes finish before Close takes its locks.
			time.Sleep(50 * time.Millisecond)
		case <-time.After(5 * time.Second):
		}
		b.err = b.Close()
	})
	return b.err
}

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
	l.conns[c] = struct{}{}
	return c, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	_ = l.Listener.Close()
	for c := range l.conns {
		_ = c.Close()
	}
}

// newBroker returns an MQTT broker serving ln. Its limits are raised past
// mochi's defaults, which silently drop QoS 1 messages past 8,192 in
// flight per client; IoT Core supports QoS 0 and 1 only.
func newBroker(ln net.Listener, operator, cloud Login, devices []DeviceLogin, published func(clientID, topic string, payload []byte), logger *slog.Logger) (*broker, error) {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 1 << 16
	caps.MaximumInflight = math.MaxUint16
	caps.MaximumQos = 1
	caps.MaximumPacketSize = 128 << 10 // IoT Core's message limit
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, InlineClient: true, Logger: logger})
	b := &broker{Server: srv, ln: &trackingListener{Listener: ln, conns: map[net.Conn]struct{}{}}, live: &sync.WaitGroup{}}
	auth := deviceAuth{}
	for _, d := range devices {
		auth[d.ID] = d
	}
	if err := srv.AddHook(&authHook{operator: operator, cloud: cloud, devices: auth, live: b.live, published: published}, nil); err != nil {
		return nil, err
	}
	if err := srv.AddListener(listeners.NewNet("tcp", b.ln)); err != nil {
		return nil, err
	}
	return b, nil
}
