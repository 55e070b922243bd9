// Package simulator stands in for Plainview's field devices: valves that
// carry out commands and report telemetry, pressure gauges, and now and
// then a leak. Each device has its own MQTT connection, as the real ones
// have to AWS IoT Core, and speaks the topics and payloads of docs/API.md's MQTT
// section, so the local stack (or IoT Core itself) cannot tell it from the
// field.
package simulator

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
)

// Device is a simulated field device.
type Device struct {
	ID    string // its MQTT client id and username (its IoT thing name)
	Kind  string // "valve" or "gauge" (domain.DeviceValve, domain.DeviceGauge)
	Asset string // the valve or pipeline section it reports for; a gauge's pressure topic
	Token string // its password on the local broker; "" for none (IoT Core: certificate)
}

// Options configures New.
type Options struct {
	URL     string // tcp://host:port, or ssl://host:8883 for AWS IoT Core
	Devices []Device
	// TLS carries the client certificate for IoT Core; nil for the local
	// broker.
	TLS *tls.Config
	// TelemetryRule, when set, is the deployed name of the telemetry
	// topic rule (topics.RuleName): valves then send their telemetry
	// through Basic Ingest, $aws/rules/<it>/plainview/devices/<id>/telemetry.
	// Empty: on the plain topic. Gauges' pressure always goes on its own
	// topic (the policy grants Basic Ingest for telemetry alone).
	TelemetryRule string
	// TelemetryEvery is how often each device reports. Default 5s.
	TelemetryEvery time.Duration
	// LeakEvery is the mean time between leaks, over all devices; they
	// come at random (a Poisson process). 0: never.
	LeakEvery time.Duration
	// Rate, when over 0, replaces TelemetryEvery: telemetry and pressure
	// messages per second over all devices, spread evenly among them.
	Rate float64
	// Clock is what readings are stamped with, and what the daily curve
	// follows. Default time.Now. Pacing uses real time whatever it is.
	Clock func() time.Time
	// Rand draws the noise, leaks and torques. Default: seeded from the
	// time. New's caller must not use it afterwards.
	Rand   *rand.Rand
	Logger *slog.Logger // default: discard
	// StepDelay is the time between a valve's status reports. Default
	// 250ms, so a move is DONE in about a second.
	StepDelay time.Duration
	// DrainTimeout is how long Run waits, once ctx ends, for the broker
	// to acknowledge what is still pending. Default 2s. The local broker
	// acknowledges a message only once it is stored, so a test that must
	// end with nothing pending on a busy machine gives it longer.
	DrainTimeout time.Duration
}

// Stats is what the devices have sent so far. A message counts as
// published once the broker acknowledged it (its PUBACK), however many
// times it had to be sent.
type Stats struct {
	Telemetry int64 // plainview/devices/{id}/telemetry
	Pressure  int64 // pipeline/pressure/{segment}
	Status    int64 // valves/{id}/status
	Leaks     int64 // plainview/leaks

	// Pending are messages not acknowledged yet: in flight, or kept while
	// a device's link is down, to be sent once it is back.
	Pending int64
	// Failed are messages paho refused outright (out of message ids after
	// a long outage at a high rate, or no connection during shutdown):
	// they were never sent and never will be.
	Failed int64
	// Reconnects counts links re-established after a loss, all devices.
	Reconnects int64
	// Commands counts the valve commands accepted (not those delivered
	// twice, nor those it could not read).
	Commands int64
}

func (st Stats) String() string {
	return fmt.Sprintf("acknowledged: telemetry %d, pressure %d, status %d, leaks %d; pending %d, failed %d, reconnects %d, commands %d",
		st.Telemetry, st.Pressure, st.Status, st.Leaks, st.Pending, st.Failed, st.Reconnects, st.Commands)
}

// Connection behaviour. The backoff after a lost link is paho's: its
// reconnect (client.go, v1.5.1) sleeps 1s after a failed attempt and
// doubles that up to MaxReconnectInterval (backoff.go). The first connect,
// with ConnectRetry, retries at the fixed ConnectRetryInterval instead:
// paho has no backoff there.
const (
	connectRetryInterval = time.Second
	maxReconnectInterval = 30 * time.Second
	connectTimeout       = 10 * time.Second
	// writeTimeout bounds how long Publish blocks handing a message to a
	// stalled link (paho's default is 30s).
	writeTimeout = 10 * time.Second
	// defaultDrainTimeout is Options.DrainTimeout's default.
	defaultDrainTimeout = 2 * time.Second
	quiesceMs           = 250
	// minTick is the finest pacing interval: past that rate, messages go
	// out in small bursts per tick instead of one timer per message.
	minTick = 10 * time.Millisecond
	// minInterval caps one device's rate at a million messages a second.
	minInterval = time.Microsecond

	defaultTelemetryEvery = 5 * time.Second
	defaultStepDelay      = 250 * time.Millisecond
)

// Simulator runs a fleet of simulated devices.
type Simulator struct {
	opts Options
	log  *slog.Logger

	// mu guards devices and the running state Sync needs: Run's context,
	// the telemetry interval, and whether Run is past its end (then no
	// device may start).
	mu      sync.Mutex
	devices []*device
	runCtx  context.Context
	every   time.Duration
	ended   bool
	wg      sync.WaitGroup // the devices' goroutines

	rngMu sync.Mutex // rand.Rand is not safe for concurrent use
	rng   *rand.Rand

	counts  counters
	started atomic.Bool
	leakSeq atomic.Int64
}

type counters struct {
	telemetry, pressure, status, leaks atomic.Int64
	failed, reconnects, commands       atomic.Int64
}

func (c *counters) acked(k topics.Kind) {
	switch k {
	case topics.Telemetry:
		c.telemetry.Add(1)
	case topics.Pressure:
		c.pressure.Add(1)
	case topics.Status:
		c.status.Add(1)
	case topics.Leak:
		c.leaks.Add(1)
	}
}

// device is a simulated device and its connection.
type device struct {
	Device
	store  *ackStore
	client paho.Client
	valve  *valve // nil for a gauge
	// connected is set on the first connection: any later one is a
	// reconnect.
	connected atomic.Bool
	// failing is set from a failed connection attempt to the next
	// success, so a broker that stays away is logged once, not at every
	// retry.
	failing atomic.Bool
	// A valve's daily mean readings.
	temperatureC, pressurePa float64
	// stop ends the device's goroutines when Sync removes it.
	stop context.CancelFunc
}

// New checks opts and returns a simulator ready to Run.
func New(opts Options) (*Simulator, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("simulator: url: %w", err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss": // what paho dials (netconn.go)
	default:
		return nil, fmt.Errorf("simulator: url %q: scheme must be tcp, ssl, ws or wss", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("simulator: url %q: no host", u.Redacted())
	}
	if len(opts.Devices) == 0 {
		return nil, errors.New("simulator: no devices")
	}
	switch {
	case opts.TelemetryEvery < 0, opts.LeakEvery < 0, opts.StepDelay < 0, opts.DrainTimeout < 0:
		return nil, errors.New("simulator: TelemetryEvery, LeakEvery, StepDelay and DrainTimeout must not be negative")
	case math.IsNaN(opts.Rate) || math.IsInf(opts.Rate, 0) || opts.Rate < 0:
		return nil, errors.New("simulator: Rate must be a number from 0 up")
	}
	if opts.TelemetryEvery == 0 {
		opts.TelemetryEvery = defaultTelemetryEvery
	}
	if opts.StepDelay == 0 {
		opts.StepDelay = defaultStepDelay
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = defaultDrainTimeout
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Rand == nil {
		seed := uint64(time.Now().UnixNano())
		opts.Rand = rand.New(rand.NewPCG(seed, seed>>1|1))
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Simulator{opts: opts, log: opts.Logger, rng: opts.Rand}

	if err := checkDevices(opts.Devices); err != nil {
		return nil, err
	}
	for _, dev := range opts.Devices {
		s.devices = append(s.devices, s.newDevice(dev))
	}
	return s, nil
}

// checkDevices checks a fleet: valid ids, each once, known kinds, and a
// gauge's section a valid id.
func checkDevices(devices []Device) error {
	seen := map[string]bool{}
	for _, dev := range devices {
		switch {
		case !domain.ValidID(dev.ID):
			return fmt.Errorf("simulator: device id %q: letters, digits, - and _, 1 to 64 characters", dev.ID)
		case seen[dev.ID]:
			return fmt.Errorf("simulator: device %q listed twice", dev.ID)
		case dev.Kind != domain.DeviceValve && dev.Kind != domain.DeviceGauge:
			return fmt.Errorf("simulator: device %q: kind %q is not %s or %s", dev.ID, dev.Kind, domain.DeviceValve, domain.DeviceGauge)
		case dev.Kind == domain.DeviceGauge && !domain.ValidID(dev.Asset):
			// Its pressure topic is named after its section.
			return fmt.Errorf("simulator: gauge %q: asset %q is not a section id", dev.ID, dev.Asset)
		}
		seen[dev.ID] = true
	}
	return nil
}

func (s *Simulator) newDevice(dev Device) *device {
	d := &device{Device: dev, store: newAckStore(s.counts.acked)}
	if dev.Kind == domain.DeviceValve {
		d.valve = newValve()
		d.temperatureC, d.pressurePa = valveMeans(dev.ID)
	}
	return d
}

// fleet is the devices now.
func (s *Simulator) fleet() []*device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.devices)
}

// Sync makes the running fleet the devices given, as the inventory
// changes: a device not yet simulated connects and starts reporting, one
// no longer given disconnects and stops (what it had not yet had
// acknowledged is dropped with it, as a retired device's would be). A
// device already simulated carries on, even if its token changed. It
// returns the ids added and removed. Sync is for a running simulator:
// before Run, or once Run's context has ended, it is an error.
func (s *Simulator) Sync(devices []Device) (added, removed []string, err error) {
	if err := checkDevices(devices); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx == nil || s.ended {
		return nil, nil, errors.New("simulator: Sync needs a running simulator")
	}
	want := make(map[string]bool, len(devices))
	for _, dev := range devices {
		want[dev.ID] = true
	}
	kept := s.devices[:0:0]
	for _, d := range s.devices {
		if want[d.ID] {
			kept = append(kept, d)
			continue
		}
		removed = append(removed, d.ID)
		d.stop()
		s.wg.Go(func() { d.client.Disconnect(quiesceMs) })
		s.log.Info("device removed", "device", d.ID)
	}
	have := make(map[string]bool, len(kept))
	for _, d := range kept {
		have[d.ID] = true
	}
	for _, dev := range devices {
		if have[dev.ID] {
			continue
		}
		d := s.newDevice(dev)
		kept = append(kept, d)
		added = append(added, d.ID)
		s.start(d, time.Duration(s.uniform(0, float64(s.every))))
		s.log.Info("device added", "device", d.ID)
	}
	s.devices = kept
	return added, removed, nil
}

// start connects a device and starts its goroutines, its first reading
// phase into the interval; s.mu is held.
func (s *Simulator) start(d *device, phase time.Duration) {
	ctx, stop := context.WithCancel(s.runCtx)
	d.stop = stop
	d.client = paho.NewClient(s.clientOptions(d))
	// With ConnectRetry the token completes only once connected (or on
	// Disconnect): nothing to wait for.
	d.client.Connect()
	s.wg.Go(func() { s.runTelemetry(ctx, d, s.every, phase) })
	if d.valve != nil {
		s.wg.Go(func() { s.runValve(ctx, d) })
	}
}

// Stats returns the counts so far; it is safe to call at any time.
func (s *Simulator) Stats() Stats {
	st := Stats{
		Telemetry:  s.counts.telemetry.Load(),
		Pressure:   s.counts.pressure.Load(),
		Status:     s.counts.status.Load(),
		Leaks:      s.counts.leaks.Load(),
		Failed:     s.counts.failed.Load(),
		Reconnects: s.counts.reconnects.Load(),
		Commands:   s.counts.commands.Load(),
	}
	for _, d := range s.fleet() {
		st.Pending += int64(d.store.size())
	}
	return st
}

// Run connects every device and simulates them until ctx ends. A broker
// that is down is no error: devices keep trying to connect, and keep what
// they publish meanwhile to send once connected. When ctx ends, Run lets
// the broker acknowledge what is pending (for up to DrainTimeout), disconnects
// every device and returns nil. It may be called once.
func (s *Simulator) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("simulator: Run called twice")
	}
	s.leakSeq.Store(s.opts.Clock().UnixMilli())
	s.mu.Lock()
	s.runCtx = ctx
	s.every = s.opts.TelemetryEvery
	if s.opts.Rate > 0 {
		// Devices Sync adds later report at the same interval, so the
		// rate grows with the fleet.
		s.every = max(minInterval, time.Duration(float64(len(s.devices))*float64(time.Second)/s.opts.Rate))
	}
	for i, d := range s.devices {
		// Spread the devices over the interval: evenly at a set rate, at
		// random on a schedule, as devices switched on at different times.
		var phase time.Duration
		if s.opts.Rate > 0 {
			phase = s.every * time.Duration(i) / time.Duration(len(s.devices))
		} else {
			phase = time.Duration(s.uniform(0, float64(s.every)))
		}
		s.start(d, phase)
	}
	s.mu.Unlock()
	if s.opts.LeakEvery > 0 {
		s.wg.Go(func() { s.runLeaks(ctx) })
	}
	<-ctx.Done()
	s.mu.Lock()
	s.ended = true // no Sync starts a device from here on
	s.mu.Unlock()
	s.wg.Wait()

	s.drain()
	var wg sync.WaitGroup
	for _, d := range s.fleet() {
		wg.Go(func() { d.client.Disconnect(quiesceMs) })
	}
	wg.Wait()
	s.log.Info("simulator stopped", "stats", s.Stats().String())
	return nil
}

// drain waits, up to Options.DrainTimeout, until nothing is pending.
func (s *Simulator) drain() {
	deadline := time.NewTimer(s.opts.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(minTick)
	defer tick.Stop()
	for s.Stats().Pending > 0 {
		select {
		case <-deadline.C:
			s.log.Warn("stopping with messages not acknowledged", "pending", s.Stats().Pending)
			return
		case <-tick.C:
		}
	}
}

func (s *Simulator) clientOptions(d *device) *paho.ClientOptions {
	co := paho.NewClientOptions().
		AddBroker(s.opts.URL).
		SetClientID(d.ID).
		SetUsername(d.ID).
		// A device keeps its session, and with it the QoS 1 messages not
		// yet acknowledged: paho sends them again after a reconnect
		// (client.resume), and keeps what is published while the link is
		// down in the store to send then (Publish stores a QoS 1 message
		// while connecting or reconnecting instead of failing it).
		SetCleanSession(false).
		SetStore(d.store).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(maxReconnectInterval).
		SetConnectRetry(true).
		SetConnectRetryInterval(connectRetryInterval).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(writeTimeout).
		// Command handlers run in goroutines of their own.
		SetOrderMatters(false).
		SetOnConnectHandler(func(c paho.Client) { s.onConnect(d, c) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.log.Warn("device lost its connection", "device", d.ID, "error", err)
		}).
		SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
			// paho retries quietly; a refused login would otherwise go
			// unnoticed.
			if f, ok := n.(paho.ConnectionNotificationFailed); ok {
				if d.failing.Swap(true) {
					s.log.Debug("device cannot connect", "device", d.ID, "error", f.Reason)
				} else {
					s.log.Warn("device cannot connect; it keeps trying", "device", d.ID, "error", f.Reason)
				}
			}
		})
	if d.Token != "" {
		co.SetPassword(d.Token)
	}
	if s.opts.TLS != nil {
		co.SetTLSConfig(s.opts.TLS)
	}
	if d.valve != nil {
		// A persistent session may deliver a queued command before
		// onConnect has subscribed again, when paho has no route for it.
		co.SetDefaultPublishHandler(s.onCommand(d))
	}
	return co
}

// onConnect runs on every connection, in a goroutine of paho's. A valve
// subscribes again each time: the broker may have lost the session (a
// restarted local broker keeps none; IoT Core keeps one about an hour).
func (s *Simulator) onConnect(d *device, c paho.Client) {
	d.failing.Store(false)
	if d.connected.Swap(true) {
		s.counts.reconnects.Add(1)
		s.log.Info("device reconnected", "device", d.ID)
	} else {
		s.log.Info("device connected", "device", d.ID)
	}
	if d.valve == nil {
		return
	}
	topic := topics.CommandOf(d.ID)
	tok := c.Subscribe(topic, 1, s.onCommand(d))
	if !tok.WaitTimeout(connectTimeout) {
		s.log.Error("no answer to subscribe", "device", d.ID, "topic", topic)
		return
	}
	if err := tok.Error(); err != nil {
		s.log.Error("subscribe failed", "device", d.ID, "topic", topic, "error", err)
		return
	}
	if st, ok := tok.(*paho.SubscribeToken); ok && st.Result()[topic] == 0x80 {
		s.log.Error("broker refused the subscription", "device", d.ID, "topic", topic)
	}
}

// publish hands a message to paho with QoS 1, without waiting: the store
// keeps it until the broker acknowledges it (see ackStore).
func (s *Simulator) publish(d *device, topic string, v any) {
	payload, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode", "topic", topic, "error", err) // not with these types
		return
	}
	tok := d.client.Publish(topic, 1, false, payload)
	select {
	case <-tok.Done():
		// Done at once: refused, unless paho kept it anyway (a write
		// timeout on a stalled link leaves it in the store).
		pt, _ := tok.(*paho.PublishToken)
		if err := tok.Error(); err != nil && (pt == nil || !d.store.holds(pt.MessageID())) {
			s.counts.failed.Add(1)
			s.log.Warn("publish refused", "device", d.ID, "topic", topic, "error", err)
		}
	default:
	}
}

// runTelemetry sends d's readings every interval (with phase's offset)
// until ctx ends. It counts messages due since the start rather than
// ticks, so a fast rate holds on a coarse timer, and a stall (a laptop
// asleep) is not made up in one burst.
func (s *Simulator) runTelemetry(ctx context.Context, d *device, every, phase time.Duration) {
	t := time.NewTimer(phase)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	tick := max(every, minTick)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	start := time.Now()
	var sent int64
	for {
		n, skip := due(time.Since(start), every, tick, sent)
		for range n {
			s.sendReading(d)
		}
		sent += n + skip
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// due is how many messages to send once elapsed has passed, one every
// interval from the first at 0, when sent have gone out; and how many to
// skip. Up to a tick's worth of lateness is made up (a timer fires late
// under load), more is skipped: a stall is not made up in one burst.
func due(elapsed, every, tick time.Duration, sent int64) (send, skip int64) {
	send = max(0, int64(elapsed/every)+1-sent)
	if burst := 2*int64(tick/every) + 1; send > burst {
		return burst, send - burst
	}
	return send, 0
}

func (s *Simulator) sendReading(d *device) {
	now := s.opts.Clock()
	if d.valve != nil {
		s.publish(d, s.telemetryTopic(d.ID), s.valveTelemetry(d, now))
		return
	}
	s.publish(d, topics.PressureOf(d.Asset), s.gaugePressure(now))
}

// telemetryTopic is where a device sends its telemetry: through Basic
// Ingest to the telemetry rule when one is named, as devices on IoT Core
// should (no messaging charge), else the plain topic.
func (s *Simulator) telemetryTopic(id string) string {
	if s.opts.TelemetryRule == "" {
		return topics.TelemetryOf(id)
	}
	return topics.BasicIngest(s.opts.TelemetryRule, topics.TelemetryOf(id))
}

// runLeaks has a random gauge report a leak on its section, LeakEvery
// apart on average, until ctx ends.
func (s *Simulator) runLeaks(ctx context.Context) {
	for {
		t := time.NewTimer(time.Duration(s.exponential() * float64(s.opts.LeakEvery)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// Gauges report leaks (leaks are on sections); the fleet may
		// have none for now and gain one through Sync.
		var gauges []*device
		for _, d := range s.fleet() {
			if d.Kind == domain.DeviceGauge {
				gauges = append(gauges, d)
			}
		}
		if len(gauges) == 0 {
			continue
		}
		d := gauges[s.intN(len(gauges))]
		l := s.leakFrom(d, s.opts.Clock(), s.leakSeq.Add(1))
		s.log.Info("leak", "device", d.ID, "id", l.ID, "section", l.AssetID, "severity", l.Severity)
		s.publish(d, topics.Leaks, l)
	}
}

// The random draws, serialized.

func (s *Simulator) normal(sd float64) float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.NormFloat64() * sd
}

func (s *Simulator) uniform(lo, hi float64) float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return lo + s.rng.Float64()*(hi-lo)
}

func (s *Simulator) intN(n int) int {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.IntN(n)
}

func (s *Simulator) exponential() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.ExpFloat64()
}
