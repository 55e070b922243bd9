package stack

import (
	"bytes"
	"crypto/subtle"
	"log/slog"
	"net"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/local/mqttbroker"
)

// Login is a username and password for the broker.
type Login struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// authHook admits the operator, who may watch every topic but publish on
// none (commands go through the API, with its keys, scopes, idempotency
// and event log), the cloud side (the functions), which may publish
// commands to valves as the valves function's IAM role may through the IoT
// data plane, and the devices of the inventory, with the rights of the IoT
// policy (shared/contract/topics), in the local Environment.
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
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnPacketRead}, []byte{b})
}

// OnPacketRead refuses a retained message on a command topic, closing
// the connection: a retained command would reach the valve again at each
// of its later subscriptions.
func (h *authHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Retain && isCommandTopic(pk.TopicName) {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
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
	if strings.HasPrefix(pk.TopicName, topics.BasicIngestPrefix) {
		// Basic Ingest goes to the rule alone, as on IoT Core: the
		// publish is acknowledged, retained nowhere and delivered to no
		// subscriber.
		return pk, packets.CodeSuccessIgnore
	}
	return pk, nil
}

func (l Login) matches(pk packets.Packet) bool {
	user := subtle.ConstantTimeCompare(pk.Connect.Username, []byte(l.Username))
	pass := subtle.ConstantTimeCompare(pk.Connect.Password, []byte(l.Password))
	return user&pass == 1
}

// OnConnectAuthenticate admits a known login whose will, if it has one,
// it would itself be allowed to publish: mochi sends a will without
// asking the ACL, and IoT Core checks iot:Publish on the will's topic at
// CONNECT. A retained will on a command topic is refused too.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	ok := h.operator.matches(pk) || h.cloud.matches(pk)
	// The ACL knows the operator and the cloud by their user names, so a
	// device registered under one of them (an admin's slip) must not log
	// in with it and take its rights.
	reserved := bytes.Equal(pk.Connect.Username, []byte(h.operator.Username)) || bytes.Equal(pk.Connect.Username, []byte(h.cloud.Username))
	if !ok && !reserved {
		_, ok = h.devices.login([]byte(cl.ID), pk.Connect.Username, pk.Connect.Password)
	}
	if !ok || !pk.Connect.WillFlag {
		return ok
	}
	return h.OnACLCheck(cl, pk.Connect.WillTopic, true) && !(pk.Connect.WillRetain && isCommandTopic(pk.Connect.WillTopic))
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	switch {
	case bytes.Equal(cl.Properties.Username, []byte(h.operator.Username)):
		return !write
	case bytes.Equal(cl.Properties.Username, []byte(h.cloud.Username)):
		return write && isCommandTopic(topic)
	}
	if d, ok := h.devices.device(string(cl.Properties.Username)); ok && cl.ID == d.ID {
		action := topics.Subscribe
		if write {
			action = topics.Publish
		}
		return topics.Allowed(d.Device, Environment, action, topic)
	}
	return false
}

// isCommandTopic matches valves/{id}/command.
func isCommandTopic(topic string) bool {
	t, ok := topics.Parse(topic)
	return ok && t.Kind == topics.Command && t.Rule == ""
}

// newBroker returns the embedded broker serving ln with the stack's logins
// and rights, handing what it accepts to published (the rules engine).
func newBroker(ln net.Listener, operator, cloud Login, devices *deviceRegistry, published func(clientID, topic string, payload []byte) error, logger *slog.Logger) (*mqttbroker.Broker, error) {
	return mqttbroker.New(ln, logger, &authHook{operator: operator, cloud: cloud, devices: devices, published: published})
}
