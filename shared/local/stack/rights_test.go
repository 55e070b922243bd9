package stack_test

// What a device, the operator or a page may do, tried as an attacker
// would (issue 15): each refusal is checked through a real client, and
// each also checks that nothing was stored or published.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/lambda/config"
	"github.com/plainview/serverless/shared/local/stack"
)

// token is a device's broker password.
func token(t *testing.T, st *stack.Stack, id string) string {
	t.Helper()
	for _, d := range st.Devices {
		if d.ID == id {
			return d.Token
		}
	}
	t.Fatalf("no device %s", id)
	return ""
}

func pageOf(n int) domain.Page { return domain.Page{Limit: n} }

// rawConnect sends a CONNECT written byte for byte, for what paho does not
// do (drop a connection without DISCONNECT, so that its will goes out;
// publish at QoS 2 to a broker that grants 1), and returns the connection
// and the CONNACK's return code (0 accepted; 0xff: no CONNACK).
func rawConnect(t *testing.T, st *stack.Stack, c packets.ConnectParams) (net.Conn, byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(st.MQTTURL, "tcp://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c.ProtocolName, c.Keepalive, c.Clean = []byte("MQTT"), 30, true
	c.UsernameFlag, c.PasswordFlag = len(c.Username) > 0, len(c.Password) > 0
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4, Connect: c}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != 0x20 {
		return conn, 0xff
	}
	return conn, ack[3]
}

// rawPublish writes a PUBLISH and returns what the broker answers within a
// second, and whether it closed the connection.
func rawPublish(t *testing.T, conn net.Conn, topic string, qos byte, retain bool, payload string) (answer []byte, closed bool) {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName: topic, Payload: []byte(payload), ProtocolVersion: 4}
	if qos > 0 {
		pk.PacketID = 7
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return nil, true
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	b, err := io.ReadAll(conn)
	var timeout net.Error
	return b, !(errors.As(err, &timeout) && timeout.Timeout())
}

// inbox subscribes c to topic and collects what arrives.
type inbox struct {
	mu   sync.Mutex
	msgs []string
}

func subscribe(t *testing.T, c paho.Client, topic string) *inbox {
	t.Helper()
	in := &inbox{}
	if tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.msgs = append(in.msgs, m.Topic()+" "+string(m.Payload()))
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	return in
}

func (in *inbox) got() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.msgs...)
}

func TestAWillOnAnotherValvesCommandsIsRefusedAtConnect(t *testing.T) {
	st := deviceStack(t)
	victim := subscribe(t, device(t, st, "v-102"), "valves/v-102/command")
	before := tableDump(t, st)
	forged := `{"command":"CLOSE","request_id":"act-forged"}`
	for _, retain := range []bool{false, true} {
		conn, code := rawConnect(t, st, packets.ConnectParams{ClientIdentifier: "v-101", Username: []byte("v-101"),
			Password: []byte(token(t, st, "v-101")), WillFlag: true, WillTopic: "valves/v-102/command",
			WillPayload: []byte(forged), WillQos: 1, WillRetain: retain})
		if code == 0 {
			t.Errorf("a will on another valve's command topic (retain %v) was accepted", retain)
		}
		conn.Close() // dropped, not disconnected: an accepted will would go out now
	}
	// The same device with a will on a topic of its own connects.
	conn, code := rawConnect(t, st, packets.ConnectParams{ClientIdentifier: "v-101", Username: []byte("v-101"),
		Password: []byte(token(t, st, "v-101")), WillFlag: true, WillTopic: "plainview/devices/v-101/telemetry",
		WillPayload: []byte(`{"note":"gone"}`), WillQos: 1})
	if code != 0 {
		t.Fatalf("a will on the device's own topic refused: %#x", code)
	}
	conn.Close()

	time.Sleep(300 * time.Millisecond)
	if got := victim.got(); len(got) != 0 {
		t.Errorf("v-102 received %q", got)
	}
	// No retained command waits for v-102's next subscription either.
	if got := subscribe(t, device(t, st, "v-102"), "valves/v-102/command").got(); len(got) != 0 {
		t.Errorf("retained for v-102: %q", got)
	}
	if after := tableDump(t, st); after != before {
		t.Errorf("a refused connection changed the store")
	}
}

func operator(t *testing.T, st *stack.Stack) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(st.MQTTURL).SetClientID("t-operator").
		SetUsername(st.Operator.Username).SetPassword(st.Operator.Password).SetAutoReconnect(false).SetConnectRetry(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func TestTheOperatorWatchesButCannotCommand(t *testing.T) {
	st := deviceStack(t)
	key := newKey(t, st, "ops", allScopes)
	valve := subscribe(t, device(t, st, "v-101"), "valves/v-101/command")
	op := operator(t, st)
	watched := subscribe(t, op, "valves/+/command")
	before := tableDump(t, st)

	tok := op.Publish("valves/v-101/command", 1, false, `{"command":"OPEN","request_id":"act-operator"}`)
	tok.WaitTimeout(2 * time.Second)
	eventually(t, "the operator disconnected", func() bool { return !op.IsConnectionOpen() })
	time.Sleep(200 * time.Millisecond)
	if got := valve.got(); len(got) != 0 {
		t.Errorf("the valve received the operator's command: %q", got)
	}
	if after := tableDump(t, st); after != before {
		t.Errorf("the operator's publish changed the store")
	}

	// Commands go through the API, and the operator sees them go out.
	watched = subscribe(t, operator(t, st), "valves/+/command")
	id := want(t, post(t, st, key, "/valves/v-101/actuate", `{"command":"OPEN"}`), 202)["actuation_id"].(string)
	eventually(t, "the operator saw the command", func() bool {
		got := watched.got()
		return len(got) == 1 && strings.Contains(got[0], id)
	})
}

func TestOnlyASectionsOwnGaugeReportsItsLeaks(t *testing.T) {
	st := deviceStack(t)
	leak := func(id, section string) map[string]any {
		return map[string]any{"id": id, "ts": time.Now().Unix(), "asset_id": section, "class": "OIL", "severity": "HIGH", "volume_estimate": 10}
	}
	before := tableDump(t, st)
	// A valve is on no section: the broker refuses its leak reports.
	valve := device(t, st, "v-101")
	tok := valve.Publish("plainview/leaks", 1, false, `{"id":"valve-leak","asset_id":"A-North","class":"OIL","severity":"HIGH"}`)
	tok.WaitTimeout(2 * time.Second)
	eventually(t, "the valve disconnected", func() bool { return !valve.IsConnectionOpen() })
	time.Sleep(200 * time.Millisecond)
	if after := tableDump(t, st); after != before {
		t.Errorf("a valve's leak report changed the store")
	}

	// A gauge reporting on another section: a dead letter, no alert.
	gauge := device(t, st, "A-North")
	publish(t, gauge, "plainview/leaks", leak("foreign-leak", "B-Central"))
	eventually(t, "the foreign report dead-lettered", func() bool {
		dl, _, err := st.Store.DeadLetters(context.Background(), pageOf(10))
		return err == nil && len(dl) == 1 && strings.Contains(dl[0].Reason, "own section")
	})
	if a := getJSON(t, st, "/pipeline/alerts"); a["active_leak_count"] != 0.0 {
		t.Errorf("alerts after a foreign report: %v", a)
	}
	if inc := getJSON(t, st, "/incidents"); inc["active_count"] != 0.0 {
		t.Errorf("incidents after a foreign report: %v", inc)
	}
	// On its own section it is an alert.
	publish(t, gauge, "plainview/leaks", leak("own-leak", "A-North"))
	eventually(t, "the gauge's own report", func() bool { return getJSON(t, st, "/pipeline/alerts")["active_leak_count"] == 1.0 })
}

func TestCORSInDevelopmentAllowsOnlyPagesOnThisMachine(t *testing.T) {
	// The development defaults, as make run reads them (no CORS_ORIGINS).
	env, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	policy, err := cors.Parse(env.CORSOrigins)
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.Start(context.Background(), stack.Config{
		DynamoAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), TableName: "plainview", Version: "test", CORS: policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	preflight := func(origin string) answer {
		return send(t, st, req{method: http.MethodOptions, path: "/incidents", header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type, x-api-key"}})
	}
	for _, o := range []string{"https://evil.example", "http://evil.example:3000", "http://localhost.evil.example:5173", "null"} {
		a := preflight(o)
		if h := a.header.Get("Access-Control-Allow-Origin"); h != "" {
			t.Errorf("preflight from %s allowed (%q)", o, h)
		}
		if h := send(t, st, req{method: http.MethodGet, path: "/valves", header: map[string]string{"Origin": o}}).header.Get("Access-Control-Allow-Origin"); h != "" {
			t.Errorf("GET from %s readable (%q)", o, h)
		}
	}
	for _, o := range []string{"http://localhost:5173", "http://127.0.0.1:8080"} {
		if a := preflight(o); a.header.Get("Access-Control-Allow-Origin") != o {
			t.Errorf("preflight from %s: %d %v", o, a.status, a.header)
		}
	}
}

func TestAHugeVolumeEstimateIsRefusedAndHealthStillAnswers(t *testing.T) {
	st := deviceStack(t)
	key := newKey(t, st, "ops", allScopes)
	before := tableDump(t, st)
	for _, v := range []string{"1e308", "1.7976931348623157e308", "100000001"} {
		a := post(t, st, key, "/pipeline/alerts", `{"section":"A-North","severity":"minor","volume_estimate":`+v+`}`)
		if a.status != 400 || !strings.Contains(string(a.body), "volume_estimate") {
			t.Errorf("volume %s: %d %s", v, a.status, a.body)
		}
	}
	if after := tableDump(t, st); after != before {
		t.Errorf("a refused estimate changed the store")
	}
	gauge := device(t, st, "B-Central")
	for _, id := range []string{"huge-1", "huge-2"} {
		publish(t, gauge, "plainview/leaks", `{"id":"`+id+`","asset_id":"B-Central","class":"OIL","severity":"HIGH","volume_estimate":1e308}`)
	}
	eventually(t, "both dead-lettered", func() bool {
		dl, _, err := st.Store.DeadLetters(context.Background(), pageOf(10))
		return err == nil && len(dl) == 2
	})
	if a := getJSON(t, st, "/pipeline/alerts"); a["active_leak_count"] != 0.0 {
		t.Errorf("alerts: %v", a)
	}
	getJSON(t, st, "/pipeline/health")
	// The largest estimate allowed, twice, still sums to an answer.
	want(t, post(t, st, key, "/pipeline/alerts", `{"section":"A-North","severity":"minor","volume_estimate":100000000}`), 201)
	want(t, post(t, st, key, "/pipeline/alerts", `{"section":"C-South","severity":"minor","volume_estimate":100000000}`), 201)
	getJSON(t, st, "/pipeline/health")
}

func TestQoS2IsRefusedBeforeAnythingIsStored(t *testing.T) {
	st := deviceStack(t)
	before := tableDump(t, st)
	conn, code := rawConnect(t, st, packets.ConnectParams{ClientIdentifier: "v-101", Username: []byte("v-101"),
		Password: []byte(token(t, st, "v-101"))})
	if code != 0 {
		t.Fatalf("connect: %#x", code)
	}
	ack, closed := rawPublish(t, conn, "plainview/devices/v-101/telemetry", 2, false, `{"temperature_c":41,"pressure_pa":2200000}`)
	if !closed || len(ack) != 0 {
		t.Errorf("QoS 2: answer % x, closed %v; want no answer and the connection closed", ack, closed)
	}
	time.Sleep(300 * time.Millisecond)
	if after := tableDump(t, st); after != before {
		t.Errorf("a QoS 2 publish changed the store")
	}
}

func TestAPublishToSysDisconnects(t *testing.T) {
	st := deviceStack(t)
	before := tableDump(t, st)
	for _, topic := range []string{"$SYS/x", "$aws/things/v-101/shadow/update"} {
		c := device(t, st, "v-101")
		tok := c.Publish(topic, 1, false, `{}`)
		tok.WaitTimeout(2 * time.Second)
		eventually(t, topic+": disconnected", func() bool { return !c.IsConnectionOpen() })
	}
	if after := tableDump(t, st); after != before {
		t.Errorf("a refused publish changed the store")
	}
}
