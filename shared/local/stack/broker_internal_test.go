package stack

import (
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
)

var (
	testOperator = Login{Username: "operator", Password: "op-pass"}
	testCloud    = Login{Username: "plainview-cloud", Password: "cloud-pass"}
)

func testRegistry() *deviceRegistry {
	return &deviceRegistry{logins: map[string]DeviceLogin{
		"v-101":   {Device: domain.Device{ID: "v-101", Kind: domain.DeviceValve, Asset: "v-101"}, Token: "valve-token"},
		"A-North": {Device: domain.Device{ID: "A-North", Kind: domain.DeviceGauge, Asset: "A-North"}, Token: "gauge-token"},
		// Devices registered under the operator's or the cloud's name.
		"operator":        {Device: domain.Device{ID: "operator", Kind: domain.DeviceValve, Asset: "operator"}, Token: "odd-token"},
		"plainview-cloud": {Device: domain.Device{ID: "plainview-cloud", Kind: domain.DeviceValve, Asset: "plainview-cloud"}, Token: "odd-token"},
	}}
}

func TestNotEvenTheCloudMayRetainACommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var published []string
	b, err := newBroker(ln, testOperator, testCloud, testRegistry(), func(_, topic string, _ []byte) error {
		mu.Lock()
		defer mu.Unlock()
		published = append(published, topic)
		return nil
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	client := func(id, user, pass string) paho.Client {
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + ln.Addr().String()).SetClientID(id).
			SetUsername(user).SetPassword(pass).SetAutoReconnect(false))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: %v", id, tok.Error())
		}
		return c
	}
	valve := client("v-101", "v-101", "valve-token")
	defer valve.Disconnect(50)
	got := make(chan string, 4)
	valve.Subscribe("valves/v-101/command", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }).WaitTimeout(5 * time.Second)

	cloud := client("plainview-cloud", testCloud.Username, testCloud.Password)
	cloud.Publish("valves/v-101/command", 1, true, `{"command":"OPEN","request_id":"act-retained"}`).WaitTimeout(2 * time.Second)
	for i := 0; cloud.IsConnectionOpen() && i < 100; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if cloud.IsConnectionOpen() {
		t.Error("a retained command was taken")
	}
	cloud = client("plainview-cloud", testCloud.Username, testCloud.Password)
	defer cloud.Disconnect(50)
	if tok := cloud.Publish("valves/v-101/command", 1, false, `{"command":"OPEN","request_id":"act-plain"}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("a plain command: %v", tok.Error())
	}
	select {
	case m := <-got:
		if !strings.Contains(m, "act-plain") {
			t.Errorf("the valve got %s", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plain command was not delivered")
	}
	if len(got) != 0 {
		t.Errorf("the valve also got %s", <-got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(published) != 1 {
		t.Errorf("the rules were handed %v, want the plain command only", published)
	}
}

func TestADeviceNamedLikeTheOperatorOrTheCloudCannotLogIn(t *testing.T) {
	h := &authHook{operator: testOperator, cloud: testCloud, devices: testRegistry()}
	for _, name := range []string{"operator", "plainview-cloud"} {
		pk := packets.Packet{Connect: packets.ConnectParams{ClientIdentifier: name, Username: []byte(name), Password: []byte("odd-token")}}
		if h.OnConnectAuthenticate(&mqtt.Client{ID: name, Properties: mqtt.ClientProperties{Username: []byte(name)}}, pk) {
			t.Errorf("device %s logged in, and would have that login's rights", name)
		}
	}
	pk := packets.Packet{Connect: packets.ConnectParams{ClientIdentifier: "v-101", Username: []byte("v-101"), Password: []byte("valve-token")}}
	if !h.OnConnectAuthenticate(&mqtt.Client{ID: "v-101", Properties: mqtt.ClientProperties{Username: []byte("v-101")}}, pk) {
		t.Error("v-101 refused")
	}
}

// FuzzConnectWill: whatever will a CONNECT carries, a login is admitted
// with it only if the login may publish on the will's topic, and never
// with a retained will on a command topic.
func FuzzConnectWill(f *testing.F) {
	f.Add("v-101", "v-101", "valve-token", true, "valves/v-102/command", false)
	f.Add("v-101", "v-101", "valve-token", true, "valves/v-102/command", true)
	f.Add("v-101", "v-101", "valve-token", true, "plainview/devices/v-101/telemetry", false)
	f.Add("v-101", "v-101", "valve-token", true, "plainview/leaks", false)
	f.Add("A-North", "A-North", "gauge-token", true, "plainview/leaks", true)
	f.Add("t-op", "operator", "op-pass", true, "valves/v-101/command", false)
	f.Add("plainview-cloud", "plainview-cloud", "cloud-pass", true, "valves/v-101/command", true)
	f.Add("v-101", "v-101", "valve-token", false, "", false)
	h := &authHook{operator: testOperator, cloud: testCloud, devices: testRegistry()}
	f.Fuzz(func(t *testing.T, id, user, pass string, will bool, topic string, retain bool) {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
			Connect: packets.ConnectParams{ClientIdentifier: id, Username: []byte(user), Password: []byte(pass),
				WillFlag: will, WillTopic: topic, WillRetain: retain, WillPayload: []byte("x")}}
		cl := &mqtt.Client{ID: id, Properties: mqtt.ClientProperties{Username: []byte(user)}}
		if !h.OnConnectAuthenticate(cl, pk) || !will {
			return
		}
		switch {
		case retain && isCommandTopic(topic):
			t.Errorf("%s admitted with a retained will on %q", user, topic)
		case user == testOperator.Username:
			t.Errorf("the operator admitted with a will on %q", topic)
		case user == testCloud.Username && !isCommandTopic(topic):
			t.Errorf("the cloud admitted with a will on %q", topic)
		case user != testCloud.Username:
			d, ok := h.devices.device(user)
			if !ok || !topics.Allowed(d.Device, Environment, topics.Publish, topic) {
				t.Errorf("%s admitted with a will on %q", user, topic)
			}
		}
	})
}
