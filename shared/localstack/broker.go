package localstack

import (
	"bytes"
	"crypto/subtle"
	"log/slog"
	"net"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/plainview/serverless/shared/domain"
	"github.com/plainview/serverless/shared/mqttbroker"
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
	devices  *deviceRegistry
	// published receives every publish the broker admitted from a client
	// (the local rules engine), and returns once it is stored: only then
	// is it acknowledged.
	published func(clientID, topic string, payload []byte) error
}

func (h *authHook) ID() string { return "plainview-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnPublish
}

// OnPublish hands what a client published, once its rights are checked,
// to the rules, and waits until it is stored, before the broker sends the
// PUBACK: an acknowledged message is never only in this process's memory.
// One that cannot be stored is not acknowledged (nor passed on), so the
// client keeps it and sends it again.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if h.published == nil || cl.Net.Inline {
		return pk, nil
	}
	if err := h.published(cl.ID, pk.TopicName, pk.Payload); err != nil {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
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
	if d, ok := h.devices.device(string(cl.Properties.Username)); ok && cl.ID == d.ID {
		return deviceRights(d.Device, topic, write)
	}
	return false
}

// isCommandTopic matches valves/{id}/command.
func isCommandTopic(topic string) bool {
	parts := strings.Split(topic, "/")
	return len(parts) == 3 && parts[0] == "valves" && domain.ValidID(parts[1]) && parts[2] == "command"
}

// newBroker returns the embedded broker serving ln with the stack's logins
// and rights, handing what it accepts to published (the rules engine).
func newBroker(ln net.Listener, operator, cloud Login, devices *deviceRegistry, published func(clientID, topic string, payload []byte) error, logger *slog.Logger) (*mqttbroker.Broker, error) {
	return mqttbroker.New(ln, logger, &authHook{operator: operator, cloud: cloud, devices: devices, published: published})
}
