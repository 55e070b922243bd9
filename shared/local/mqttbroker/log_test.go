package mqttbroker_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/plainview/serverless/shared/local/mqttbroker"
	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

// logLines is the broker's log, a JSON object a line.
func logLines(t *testing.T, logs *syncbuf.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if len(line) > 600 {
			t.Errorf("a log line of %d bytes: %.300s...", len(line), line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// denyTopic admits every client, and lets none publish to one topic.
type denyTopic struct {
	mqtt.HookBase
	topic string
}

func (denyTopic) ID() string { return "deny-topic" }

func (denyTopic) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (denyTopic) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h denyTopic) OnACLCheck(_ *mqtt.Client, topic string, write bool) bool {
	return !write || topic != h.topic
}

// A device that goes away is a DEBUG line that says so, not a WARN with no
// message; a refused publish is logged with its topic and size, not the
// whole packet.
func TestTheBrokersLogIsQuietAndShort(t *testing.T) {
	var logs syncbuf.Buffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := mqttbroker.New(ln, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		&denyTopic{topic: "valves/v-101/forbidden"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })

	lost := make(chan struct{})
	co := paho.NewClientOptions().AddBroker("tcp://" + ln.Addr().String()).SetClientID("v-101").
		SetAutoReconnect(false).SetConnectionLostHandler(func(paho.Client, error) { close(lost) })
	c := paho.NewClient(co)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	c.Publish("valves/v-101/forbidden", 1, false, bytes.Repeat([]byte("x"), 1000))
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the refused QoS 1 publish did not end the connection")
	}
	c.Disconnect(0)

	var refused, ended bool
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && !(refused && ended); time.Sleep(20 * time.Millisecond) {
		refused, ended = false, false
		for _, l := range logLines(t, &logs) {
			switch {
			case l["msg"] == "":
				t.Fatalf("a line with no message: %v", l)
			case l["msg"] == "connection ended":
				ended = true
				if l["level"] != "DEBUG" {
					t.Errorf("connection ended at %v, want DEBUG", l["level"])
				}
			case l["msg"] == "error processing packet":
				refused = true
				if l["pk"] != "Publish valves/v-101/forbidden qos 1, 1000 bytes" {
					t.Errorf("the refused packet is logged as %q", l["pk"])
				}
			}
		}
	}
	if !refused || !ended {
		t.Errorf("refused publish logged: %v; connection end logged: %v", refused, ended)
	}
}
