package stack_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/local/simulator"
	"github.com/plainview/serverless/shared/local/stack"
)

// countReadings counts every stored reading, over all devices, as many
// times as it is stored.
func countReadings(t *testing.T, st *stack.Stack) int {
	t.Helper()
	db := store.NewClient(store.LocalConfig(), st.DynamoURL)
	ids, err := store.New(db, st.TableName, nil).StoredReadingIDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

func TestABrokerRestartMidStreamLosesAndDuplicatesNothing(t *testing.T) {
	st := deviceStack(t)
	var devices []simulator.Device
	for _, d := range st.Devices {
		devices = append(devices, simulator.Device{ID: d.ID, Kind: d.Kind, Asset: d.Asset, Token: d.Token})
	}
	// The broker acknowledges what is stored: on a busy machine a backlog
	// may take a while to drain, and the test must end with none.
	sim, err := simulator.New(simulator.Options{URL: st.MQTTURL, Devices: devices, Rate: 80, Rand: rand.New(rand.NewPCG(1, 2)),
		DrainTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()

	eventually(t, "telemetry flowing", func() bool { return sim.Stats().Telemetry+sim.Stats().Pressure > 40 })
	if err := st.RestartBroker(); err != nil {
		t.Fatal(err)
	}
	before := sim.Stats().Reconnects
	eventually(t, "devices reconnected", func() bool { return sim.Stats().Reconnects >= before+int64(len(devices)) })
	eventually(t, "telemetry flowing again", func() bool { return sim.Stats().Telemetry+sim.Stats().Pressure > 120 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := sim.Stats()
	if s.Pending != 0 || s.Failed != 0 {
		t.Fatalf("simulator left messages behind: %s", s)
	}
	published := int(s.Telemetry + s.Pressure)
	// Every acknowledged message is stored once: no more, no fewer.
	var stored int
	for range 100 {
		if stored = countReadings(t, st); stored >= published {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything late would show as more
	if stored = countReadings(t, st); stored != published {
		t.Errorf("stored %d readings, the simulator had %d acknowledged (%s)", stored, published, s)
	}
}

func TestTheSimulatorAnswersAnActuation(t *testing.T) {
	st := deviceStack(t)
	key := newKey(t, st, "ops", allScopes)
	var devices []simulator.Device
	for _, d := range st.Devices {
		devices = append(devices, simulator.Device{ID: d.ID, Kind: d.Kind, Asset: d.Asset, Token: d.Token})
	}
	sim, err := simulator.New(simulator.Options{URL: st.MQTTURL, Devices: devices, Rand: rand.New(rand.NewPCG(3, 4))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "valves subscribed", func() bool { return sim.Stats().Telemetry > 0 })

	id := want(t, post(t, st, key, "/valves/v-101/actuate", `{"command":"OPEN","params":{"target_angle_deg":90}}`), 202)["actuation_id"].(string)
	eventually(t, "succeeded", func() bool {
		return getJSON(t, st, "/valves/v-101/actuations/"+id)["state"] == "succeeded"
	})
	v := getJSON(t, st, "/valves/v-101")
	if torque, ok := v["last_torque_nm"].(float64); !ok || torque < 40 || torque > 60 {
		t.Errorf("last_torque_nm = %v, want about 50", v["last_torque_nm"])
	}
	// A torque limit below what the move needs: the valve refuses.
	low := want(t, post(t, st, key, "/valves/v-101/actuate", `{"command":"CLOSE","params":{"torque_limit_nm":5}}`), 202)["actuation_id"].(string)
	eventually(t, "failed on over-torque", func() bool {
		a := getJSON(t, st, "/valves/v-101/actuations/"+low)
		return a["state"] == "failed" && a["reason"] == "over_torque"
	})
}
