package localstack

import (
	"bytes"
	"crypto/subtle"
	"log/slog"
	"math"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Login is a username and password for the broker.
type Login struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// authHook admits the operator, who may watch and publish on every topic,
// as the AWS console's MQTT test client may. Devices, with their own
// rights, arrive with the device inventory.
type authHook struct {
	mqtt.HookBase
	operator Login
}

func (h *authHook) ID() string { return "plainview-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := subtle.ConstantTimeCompare(pk.Connect.Username, []byte(h.operator.Username))
	pass := subtle.ConstantTimeCompare(pk.Connect.Password, []byte(h.operator.Password))
	return user&pass == 1
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return bytes.Equal(cl.Properties.Username, []byte(h.operator.Username))
}

// newBroker returns an MQTT broker serving ln. Its limits are raised past
// mochi's defaults, which silently drop QoS 1 messages past 8,192 in
// flight per client; IoT Core supports QoS 0 and 1 only.
func newBroker(ln net.Listener, operator Login, logger *slog.Logger) (*mqtt.Server, error) {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 1 << 16
	caps.MaximumInflight = math.MaxUint16
	caps.MaximumQos = 1
	caps.MaximumPacketSize = 128 << 10 // IoT Core's message limit
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, InlineClient: true, Logger: logger})
	if err := srv.AddHook(&authHook{operator: operator}, nil); err != nil {
		return nil, err
	}
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		return nil, err
	}
	return srv, nil
}
