// Package ingest takes in what devices send, as the IoT topic rules
// deliver it: valve statuses move actuations forward, telemetry becomes
// readings and the latest state of valves and sections, leaks become
// alerts. Everything is idempotent, because the rules' deliveries repeat,
// and a message that cannot be taken in becomes a dead letter with its
// reason, never an error that blocks the messages behind it.
package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/leaks"
)

// Store is what ingestion needs from the store.
type Store interface {
	Device(ctx context.Context, id string) (domain.Device, error)
	actuation.ReportStore
	PutReadings(ctx context.Context, readings []domain.Reading, ttl time.Duration) error
	Readings(ctx context.Context, device string, from, to time.Time, page domain.Page) ([]domain.Reading, string, error)
	AddFlow(ctx context.Context, readings []domain.Reading) error
	RollUp(ctx context.Context, device string, hour time.Time) error
	HasRollup(ctx context.Context, device string, hour time.Time) (bool, error)
	Latest(ctx context.Context, d domain.Device, at time.Time, values map[string]float64) (domain.Valve, domain.ValveStatus, error)
	RecordValveStatus(ctx context.Context, valveID string, status domain.ValveStatus) (bool, error)
	PutDeadLetter(ctx context.Context, d domain.DeadLetter) error
}

// Leaks records leak reports (the same service as reports by hand).
type Leaks interface {
	Report(ctx context.Context, r leaks.Report) (leaks.Result, error)
}

// Notifier tells operators about what needs them now.
type Notifier interface {
	Notify(ctx context.Context, subject, message string) error
}

// Limits of docs/API.md and IoT Core.
const (
	MaxPayload = 128 << 10
	ReadingTTL = 30 * 24 * time.Hour
)

// Service ingests device messages.
type Service struct {
	store   Store
	leaks   Leaks
	notify  Notifier
	metrics *metrics.Emitter
	reports *actuation.Reports
	now     func() time.Time
	log     *slog.Logger
	// anomalies, when set, records anomaly.detected events (WithAnomalies).
	anomalies AnomalyStore
}

// New returns an ingestion service; now nil means time.Now.
func New(st Store, l Leaks, n Notifier, m *metrics.Emitter, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, leaks: l, notify: n, metrics: m, reports: actuation.NewReports(st, n, now, log), now: now, log: log}
}

// badMessage is a message that will never be ingested as it is: it goes to
// the dead letters with this reason.
type badMessage struct{ reason string }

func (b *badMessage) Error() string { return b.reason }

func bad(format string, args ...any) error { return &badMessage{fmt.Sprintf(format, args...)} }

// Handle ingests one message delivered directly (statuses, leaks). It
// returns an error only when a retry may succeed (a dependency failed); a
// bad message is dead-lettered and answered nil.
func (s *Service) Handle(ctx context.Context, m topics.Message) error {
	if topics.TargetOf(m.Topic) == topics.Stream {
		// Telemetry normally comes in batches; one alone (a redrive) is a
		// batch of one.
		if failed := s.HandleBatch(ctx, []topics.Message{m}); len(failed) > 0 {
			return fmt.Errorf("telemetry on %s was not stored; retry", m.Topic)
		}
		return nil
	}
	err := s.handle(ctx, m)
	return s.settle(ctx, m, err)
}

// settle turns a bad message into a dead letter; other errors stay errors.
func (s *Service) settle(ctx context.Context, m topics.Message, err error) error {
	var b *badMessage
	if !errors.As(err, &b) {
		return err
	}
	return s.DeadLetter(ctx, m, b.reason)
}

// Redrive ingests a dead letter again, after a fix. A message that is
// still bad is an error with the reason, and stays where it is.
func (s *Service) Redrive(ctx context.Context, d domain.DeadLetter) error {
	m := topics.Message{Payload: d.Payload, Topic: d.Topic, ClientID: d.ClientID, ReceivedMs: d.ReceivedMs}
	var err error
	if topics.TargetOf(m.Topic) == topics.Stream {
		_, rd, rerr := s.reading(ctx, m, s.store.Device)
		err = rerr
		if err == nil {
			_, err = s.Record(ctx, []domain.Reading{rd})
		}
	} else {
		err = s.handle(ctx, m)
	}
	var b *badMessage
	if errors.As(err, &b) {
		return fmt.Errorf("still bad: %s", b.reason)
	}
	return err
}

// DeadLetter keeps a message with the reason it could not be ingested.
func (s *Service) DeadLetter(ctx context.Context, m topics.Message, reason string) error {
	now := s.now().UTC()
	d := domain.DeadLetter{ID: domain.NewID("dl", now), Reason: reason, Topic: m.Topic, ClientID: m.ClientID,
		Payload: m.Payload, ReceivedMs: m.ReceivedMs, At: now}
	if err := s.store.PutDeadLetter(ctx, d); err != nil {
		return err
	}
	s.log.Warn("dead letter", "id", d.ID, "reason", reason, "topic", m.Topic, "client_id", m.ClientID)
	s.count("DeadLetters", 1)
	return nil
}

func (s *Service) count(name string, n float64) {
	s.metrics.Record(s.log, s.now(), []metrics.Dimension{{Name: "Function", Value: "ingest"}},
		metrics.Metric{Name: name, Unit: metrics.Count, Value: n})
}

func (s *Service) handle(ctx context.Context, m topics.Message) error {
	dev, payload, err := s.admit(ctx, m, s.store.Device)
	if err != nil {
		return err
	}
	t, _ := topics.Parse(m.Topic)
	switch t.Kind {
	case topics.Status:
		return s.status(ctx, dev, t.ID, payload, m)
	case topics.Leak:
		return s.leak(ctx, dev, payload)
	}
	return bad("topic %q is not one ingestion takes directly", m.Topic)
}

// deviceLookup answers a device of the inventory (Store.Device).
type deviceLookup func(ctx context.Context, id string) (domain.Device, error)

// oncePerBatch looks each device up once: a batch of the stream holds
// several messages of each of its devices, and one read per message was
// most of a batch's round trips. The answers live as long as the batch, a few
// milliseconds, so a device removed from the inventory meanwhile is seen
// by the next batch. Failures other than "not found" are not kept: the
// next message asks again.
func oncePerBatch(lookup deviceLookup) deviceLookup {
	type answer struct {
		dev domain.Device
		err error
	}
	seen := map[string]answer{}
	return func(ctx context.Context, id string) (domain.Device, error) {
		if a, ok := seen[id]; ok {
			return a.dev, a.err
		}
		dev, err := lookup(ctx, id)
		if err == nil || errors.Is(err, domain.ErrNotFound) {
			seen[id] = answer{dev, err}
		}
		return dev, err
	}
}

// admit checks what every message must be: a topic, a payload of at most
// 128 KB that is a JSON object, from a device of the inventory.
func (s *Service) admit(ctx context.Context, m topics.Message, device deviceLookup) (domain.Device, []byte, error) {
	payload, err := m.Bytes()
	if err != nil {
		return domain.Device{}, nil, bad("payload: %v", err)
	}
	if len(payload) > MaxPayload {
		return domain.Device{}, nil, bad("payload is %d bytes, over the 128 KB limit", len(payload))
	}
	if !domain.ValidID(m.ClientID) {
		return domain.Device{}, nil, bad("client id %q is not a device id", m.ClientID)
	}
	dev, err := device(ctx, m.ClientID)
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Device{}, nil, bad("client %q is not a device of the inventory", m.ClientID)
	}
	if err != nil {
		return domain.Device{}, nil, err
	}
	t := bytes.TrimSpace(payload)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return domain.Device{}, nil, bad("payload is not a JSON object")
	}
	return dev, payload, nil
}

// decode reads a payload into v: known fields must have the right types;
// fields the contract does not name are ignored (devices add diagnostics).
func decode(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return bad("field %q has the wrong type", typ.Field)
		}
		return bad("payload: %v", err)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func inRange(name string, v *float64, lo, hi float64) error {
	if v != nil && (!finite(*v) || *v < lo || *v > hi) {
		return bad("%s %v is out of range (%v to %v)", name, *v, lo, hi)
	}
	return nil
}

// messageID is a message's identity for deduplication: repeated
// deliveries of one publish carry the same bytes.
func messageID(m topics.Message) string {
	h := sha256.Sum256([]byte(m.Topic + "\x00" + m.ClientID + "\x00" + m.Payload))
	return hex.EncodeToString(h[:10])
}
