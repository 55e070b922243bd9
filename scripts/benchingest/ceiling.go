package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/plainview/serverless/shared/domain"
	"github.com/plainview/serverless/shared/simulator"
)

// ceilingResult is what the broker-only phase measured.
type ceilingResult struct {
	offered           float64
	window            time.Duration
	stats             simulator.Stats
	ackedInWindow     int64
	observed, unknown int64
	usage             usage
	logs              *logCounter
}

func (c ceilingResult) ackedRate() float64 {
	return float64(c.ackedInWindow) / c.window.Seconds()
}

// measureCeiling runs the simulator against a bare embedded broker: the
// same mochi version and limits as the local stack's, every client
// admitted, no rules behind it, and the same observer as the ingestion
// phase, so the two differ by ingestion alone.
func measureCeiling(ctx context.Context, o options, stderr io.Writer) (res ceilingResult, err error) {
	res.offered = o.ceilingRate
	res.logs = newLogCounter(o.verbose, stderr)
	b, err := startBareBroker(slog.New(res.logs))
	if err != nil {
		return res, err
	}
	defer b.stop()
	defer res.logs.freeze() // before the broker stops

	var inventory []domain.Device
	var devices []simulator.Device
	for _, d := range domain.SeedDevices() {
		inventory = append(inventory, d)
		devices = append(devices, simulator.Device{ID: d.ID, Kind: d.Kind, Asset: d.Asset})
	}
	obs, err := observe(b.url, "bench", "", inventory, 0)
	if err != nil {
		return res, err
	}
	defer obs.close()
	sim, err := simulator.New(simulator.Options{URL: b.url, Devices: devices, Rate: o.ceilingRate, Logger: slog.New(res.logs)})
	if err != nil {
		return res, err
	}

	m := startMeter()
	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Run(runCtx) }()
	<-runCtx.Done()
	res.window = time.Since(start)
	res.ackedInWindow = ackedCount(sim.Stats())
	if err := <-simDone; err != nil {
		return res, err
	}
	res.stats = sim.Stats()
	time.Sleep(200 * time.Millisecond) // the observer's last deliveries
	res.usage = m.stop()
	res.observed, res.unknown, _ = obs.counts()
	return res, ctx.Err()
}

func (c ceilingResult) write(w io.Writer) {
	fmt.Fprintf(w, "\nceiling: a bare mochi broker, no rules, the same simulator and observer, %g msgs/s offered\n", c.offered)
	s := c.stats
	fmt.Fprintf(w, "  acknowledged:       %d by the end of the %.1f s window: %.0f/s; %d after the simulator stopped; pending %d, failed %d\n",
		c.ackedInWindow, c.window.Seconds(), c.ackedRate(), ackedCount(s), s.Pending, s.Failed)
	fmt.Fprintf(w, "  observed:           %d messages (%d not placed)\n", c.observed, c.unknown)
	c.usage.write(w)
	c.logs.write(w)
}

// bareBroker is an embedded mochi broker that admits every client.
type bareBroker struct {
	srv  *mqtt.Server
	url  string
	ln   *trackingListener
	live *sync.WaitGroup
}

// startBareBroker serves MQTT on a free loopback port with the local
// stack's limits (shared/localstack/broker.go): mochi's defaults drop QoS
// 1 messages past 8,192 in flight per client.
func startBareBroker(logger *slog.Logger) (*bareBroker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 1 << 16
	caps.MaximumInflight = math.MaxUint16
	caps.MaximumQos = 1
	caps.MaximumPacketSize = 128 << 10
	b := &bareBroker{
		srv: mqtt.New(&mqtt.Options{Capabilities: caps, Logger: logger}),
		url: "tcp://" + ln.Addr().String(),
		ln:  &trackingListener{Listener: ln, conns: map[net.Conn]struct{}{}}, live: &sync.WaitGroup{},
	}
	if err := b.srv.AddHook(&allowAll{live: b.live}, nil); err != nil {
		ln.Close()
		return nil, err
	}
	if err := b.srv.AddListener(listeners.NewNet("tcp", b.ln)); err != nil {
		ln.Close()
		return nil, err
	}
	if err := b.srv.Serve(); err != nil {
		b.ln.closeAll()
		return nil, err
	}
	return b, nil
}

// stop drops every connection and waits until each has detached before
// closing: mochi v2.7.9's Close can deadlock when a client detaches
// during it (see shared/localstack/broker.go).
func (b *bareBroker) stop() {
	b.ln.closeAll()
	done := make(chan struct{})
	go func() { b.live.Wait(); close(done) }()
	select {
	case <-done:
		time.Sleep(50 * time.Millisecond) // mochi deletes the client just after OnDisconnect
	case <-time.After(5 * time.Second):
	}
	b.srv.Close()
}

// allowAll admits every client to every topic, and counts the clients
// attached.
type allowAll struct {
	mqtt.HookBase
	live *sync.WaitGroup
}

func (h *allowAll) ID() string { return "bench-allow-all" }

func (h *allowAll) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablished, mqtt.OnDisconnect:
		return true
	}
	return false
}

func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

func (h *allowAll) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if !cl.Net.Inline {
		h.live.Add(1)
	}
}

func (h *allowAll) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	if !cl.Net.Inline {
		h.live.Done()
	}
}

// trackingListener remembers the connections it accepted, so they can
// all be dropped at once.
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
