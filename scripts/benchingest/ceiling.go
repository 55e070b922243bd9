package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/local/mqttbroker"
	"github.com/plainview/serverless/shared/local/simulator"
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

// bareBroker is the embedded broker (shared/local/mqttbroker, the local stack's
// limits and its safe Stop) admitting every client, with no rules.
type bareBroker struct {
	srv *mqttbroker.Broker
	url string
}

// startBareBroker serves MQTT on a free loopback port.
func startBareBroker(logger *slog.Logger) (*bareBroker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv, err := mqttbroker.New(ln, logger, &mqttbroker.AllowAll{})
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &bareBroker{srv: srv, url: "tcp://" + ln.Addr().String()}, nil
}

func (b *bareBroker) stop() { _ = b.srv.Stop() }
