package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
)

// observerID is the observer's MQTT client id.
const observerID = "bench-observer"

// telemetryFilters are the topics the telemetry rules take.
var telemetryFilters = map[string]byte{topics.TelemetryFilter: 0, topics.PressureFilter: 0}

// reading is where ingestion stores a telemetry message: the keys that
// shared/adapters/store gives it, from the id that shared/core/ingest derives from the
// message (a hash of topic, client id and base64 payload).
type reading struct {
	id, pk, sk string
	published  time.Time // the payload's ts: when the simulator made it
	observed   time.Time // when the observer received it
}

// observer subscribes, as the operator may, to every telemetry topic: it
// learns each message the broker accepted, works out the reading it
// becomes, and picks one message every probeEvery as a latency probe.
// The broker sends it each message before it hands the message to the
// rules, so it misses none the rules see (short of a full outbound queue,
// which the report would show as fewer observed than acknowledged).
type observer struct {
	client     paho.Client
	devices    map[string]string // topic → the only client id allowed to publish on it
	probeEvery time.Duration

	mu        sync.Mutex
	messages  int64
	unknown   int64               // messages it could not place
	readings  map[string]struct{} // ids of the distinct readings
	probes    []reading           // picked, not yet taken by the prober
	lastProbe time.Time
}

// observe connects to url with login and subscribes. devices are the
// devices of the inventory: the broker lets only a device publish on its
// own topics, so a topic names the publishing client. A probeEvery of 0
// picks no probes.
func observe(url, username, password string, devices []domain.Device, probeEvery time.Duration) (*observer, error) {
	o := &observer{devices: map[string]string{}, probeEvery: probeEvery, readings: map[string]struct{}{}}
	for _, d := range devices {
		o.devices[topics.TelemetryOf(d.ID)] = d.ID
		if d.Kind == domain.DeviceGauge {
			o.devices[topics.PressureOf(d.Asset)] = d.ID
		}
	}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(observerID).
		SetUsername(username).SetPassword(password).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second)
	o.client = paho.NewClient(opts)
	if tok := o.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("observer: connect: %v", tok.Error())
	}
	tok := o.client.SubscribeMultiple(telemetryFilters, func(_ paho.Client, m paho.Message) { o.received(m.Topic(), m.Payload()) })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		o.client.Disconnect(0)
		return nil, fmt.Errorf("observer: subscribe: %v", tok.Error())
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code == 0x80 {
				o.client.Disconnect(0)
				return nil, fmt.Errorf("observer: the broker refused %s", f)
			}
		}
	}
	return o, nil
}

func (o *observer) close() { o.client.Disconnect(250) }

// received runs in paho's goroutine, one message at a time.
func (o *observer) received(topic string, payload []byte) {
	now := time.Now()
	r, ok := o.place(topic, payload)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.messages++
	if !ok {
		o.unknown++
		return
	}
	r.observed = now
	o.readings[r.id] = struct{}{}
	if o.probeEvery > 0 && now.Sub(o.lastProbe) >= o.probeEvery {
		o.lastProbe = now
		o.probes = append(o.probes, r)
	}
}

// place works out the reading a message becomes, as shared/core/ingest and
// shared/adapters/store do (messageID, readingSK).
func (o *observer) place(topic string, payload []byte) (reading, bool) {
	client, ok := o.devices[topic]
	if !ok {
		return reading{}, false
	}
	var m struct {
		TS *float64 `json:"ts"`
	}
	if err := json.Unmarshal(payload, &m); err != nil || m.TS == nil {
		return reading{}, false // the simulator always sends ts
	}
	h := sha256.Sum256([]byte(topic + "\x00" + client + "\x00" + base64.StdEncoding.EncodeToString(payload)))
	id := hex.EncodeToString(h[:10])
	at := time.UnixMilli(int64(*m.TS * 1000))
	return reading{id: id, pk: "READINGS#" + client, sk: fmt.Sprintf("%013d#%s", at.UnixMilli(), id), published: at}, true
}

// counts returns the messages observed, those it could not place, and
// the distinct readings among them.
func (o *observer) counts() (messages, unknown int64, distinct int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.messages, o.unknown, len(o.readings)
}

// expected returns the ids of the distinct readings observed.
func (o *observer) expected() map[string]struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]struct{}, len(o.readings))
	for id := range o.readings {
		out[id] = struct{}{}
	}
	return out
}

func (o *observer) takeProbes() []reading {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.probes
	o.probes = nil
	return p
}

// maxProbeKeys is how many probes one poll asks for at most.
const maxProbeKeys = 25

// prober looks for the observer's probes in the store every interval,
// by a Query of each device's readings over the probes' times, and records for each the time
// from its ts to the answer that first held it.
type prober struct {
	db    *dynamodb.Client
	table string
	obs   *observer
	every time.Duration

	pending   []reading       // not found yet, in the order observed
	known     map[string]bool // every probe's sk
	latencies []time.Duration // publish to stored
	delivery  []time.Duration // publish to observed
	rounds    []time.Duration // one poll's round trip
	errs      int
	lastErr   error
}

func newProber(db *dynamodb.Client, table string, obs *observer, every time.Duration) *prober {
	return &prober{db: db, table: table, obs: obs, every: every, known: map[string]bool{}}
}

// run polls until stop is closed, then polls once more.
func (p *prober) run(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			p.poll(ctx)
			return
		case <-t.C:
			p.poll(ctx)
		}
	}
}

func (p *prober) poll(ctx context.Context) {
	for _, r := range p.obs.takeProbes() {
		if !p.known[r.sk] { // not a message sent again
			p.known[r.sk] = true
			p.pending = append(p.pending, r)
			p.delivery = append(p.delivery, r.observed.Sub(r.published))
		}
	}
	if len(p.pending) == 0 {
		return
	}
	// The oldest first, and no more than maxProbeKeys a poll: the stream
	// (one shard locally) is first in, first out, so while the oldest is not stored the
	// newer mostly are not either, and a backlog costs the store no more.
	// Readings are kept in blocks whose keys depend on the batch they came
	// in, so each device's probes are looked for by one Query of its
	// readings over their times.
	ask := p.pending[:min(len(p.pending), maxProbeKeys)]
	span := map[string][2]time.Time{}
	for _, r := range ask {
		dev := strings.TrimPrefix(r.pk, "READINGS#")
		sp, ok := span[dev]
		if !ok || r.published.Before(sp[0]) {
			sp[0] = r.published
		}
		if !ok || r.published.After(sp[1]) {
			sp[1] = r.published
		}
		span[dev] = sp
	}
	st := store.New(p.db, p.table, nil)
	start := time.Now()
	found := map[string]bool{}
	for dev, sp := range span {
		cursor := ""
		for {
			rs, next, err := st.Readings(ctx, dev, sp[0].Truncate(time.Millisecond), sp[1], domain.Page{Limit: 200, Cursor: cursor})
			if err != nil {
				p.errs++
				p.lastErr = err
				return
			}
			for _, r := range rs {
				found[r.ID] = true
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	now := time.Now()
	p.rounds = append(p.rounds, now.Sub(start))
	p.pending = slices.DeleteFunc(p.pending, func(r reading) bool {
		if found[r.id] {
			p.latencies = append(p.latencies, now.Sub(r.published))
			return true
		}
		return false
	})
}

// quantiles are the nearest-rank quantiles of a sample.
type quantiles struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func quantilesOf(d []time.Duration) quantiles {
	if len(d) == 0 {
		return quantiles{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return quantiles{n: len(s), p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: s[len(s)-1]}
}

func (q quantiles) String() string {
	if q.n == 0 {
		return "no samples"
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s (n=%d)", ms(q.p50), ms(q.p90), ms(q.p99), ms(q.max), q.n)
}
