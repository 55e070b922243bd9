// Package actuation carries out valve commands: it records an actuation
// under the one-open-per-valve rule, sends the command to the valve, and
// says what became of the sending. The device's answers move it on later
// (the ingest function).
package actuation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
)

// Store is what actuation needs from the store.
type Store interface {
	Valve(ctx context.Context, id string) (domain.Valve, error)
	StartActuation(ctx context.Context, a domain.Actuation, requested domain.Event, closing *Closing) error
	MoveActuation(ctx context.Context, t Transition) error
}

// Publisher hands a message to the broker with QoS 1, and says whether it
// was taken.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// ErrUndeliverable: the command was recorded but could not be handed to
// the broker; the actuation is rejected and the client may try again.
var ErrUndeliverable = errors.New("the command could not be delivered to the valve")

// Request is one actuation a client asks for.
type Request struct {
	ValveID        string
	Command        string
	Params         domain.ActuationParams
	OverrideReason string // non-empty: act even if the valve is unavailable
	KeyID          string
}

// Service carries out actuations.
type Service struct {
	store   Store
	pub     Publisher
	now     func() time.Time
	log     *slog.Logger
	timeout time.Duration
}

// New returns a service; now nil means time.Now.
func New(st Store, pub Publisher, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, pub: pub, now: now, log: log, timeout: domain.ActuationTimeout}
}

// WithTimeout sets how long a device has to report DONE (docs/API.md's 30 s by
// default); tests shorten it.
func (s *Service) WithTimeout(d time.Duration) *Service {
	s.timeout = d
	return s
}

// attempts bounds the retries of a start that lost a race to a change of
// the valve that does not block it (an actuation that just ended).
const attempts = 3

// Validate checks a request's own fields, before anything is read.
func (r Request) Validate() error {
	if !slices.Contains(domain.Commands, r.Command) {
		return fmt.Errorf("%w: command must be one of %v", domain.ErrInvalid, domain.Commands)
	}
	if err := r.Params.Validate(); err != nil {
		return fmt.Errorf("%w: %w", domain.ErrInvalid, err)
	}
	return nil
}

// Actuate records the actuation and sends its command. It answers the
// actuation as it stands after sending (sent), or ErrUndeliverable when
// the broker did not take it (the actuation is then rejected).
func (s *Service) Actuate(ctx context.Context, r Request) (domain.Actuation, error) {
	if err := r.Validate(); err != nil {
		return domain.Actuation{}, err
	}
	a, err := domain.OnConflict(attempts, func(int) (domain.Actuation, error) {
		v, err := s.store.Valve(ctx, r.ValveID)
		if err != nil {
			return domain.Actuation{}, err
		}
		now := s.now().UTC()
		if v.RetiredAt != nil {
			// No override brings a retired valve back: it is out of the
			// inventory, and its device may not even connect.
			return domain.Actuation{}, &domain.RuleError{Code: "valve_retired",
				Message: fmt.Sprintf("valve %s is retired: it takes no command", v.ID)}
		}
		if r.Command != domain.CommandStop && r.OverrideReason == "" && !v.Available(now) {
			return domain.Actuation{}, &domain.RuleError{Code: "valve_unavailable",
				Message: fmt.Sprintf("valve %s is %s: only STOP, or a command with an override, is accepted", v.ID, v.Status(now))}
		}
		if r.Command != domain.CommandStop && v.Busy(now) {
			return domain.Actuation{}, &domain.ConflictError{Code: "actuation_in_progress",
				Message: fmt.Sprintf("valve %s is carrying out actuation %s", v.ID, v.OpenActuation)}
		}
		a := domain.Actuation{
			ID: domain.NewID("act", now), ValveID: v.ID, Command: r.Command, Params: r.Params,
			State: domain.ActuationQueued, RequestedAt: now, Deadline: now.Add(s.timeout),
			KeyID: r.KeyID,
		}
		requested := s.event(domain.EventActuationRequested, a, now, requestedData{
			ActuationID: a.ID, Command: a.Command, Deadline: a.Deadline,
			Override: override(r.OverrideReason), Params: a.Params,
		})
		return a, s.store.StartActuation(ctx, a, requested, s.closing(v, a, now))
	}, func() error {
		return &domain.ConflictError{Code: "actuation_in_progress", Message: fmt.Sprintf("valve %s changed while the actuation was being recorded; retry", r.ValveID)}
	})
	if err != nil {
		return domain.Actuation{}, err
	}
	return s.send(ctx, a)
}

// requestedData is the data of valve.actuation.requested; a struct rather
// than a map because every actuation writes one (docs/benchmarks.md).
type requestedData struct {
	ActuationID string                 `json:"actuation_id"`
	Command     string                 `json:"command"`
	Deadline    time.Time              `json:"deadline"`
	Override    *overrideData          `json:"override"`
	Params      domain.ActuationParams `json:"params"`
}

// overrideData is the override as events record it.
type overrideData struct {
	Reason string `json:"reason"`
}

// actuationData is the data of an event that names only its actuation.
type actuationData struct {
	ActuationID string `json:"actuation_id"`
}

// override is the override of an event's data; nil when there is none.
func override(reason string) *overrideData {
	if reason == "" {
		return nil
	}
	return &overrideData{Reason: reason}
}

// closing is what a new actuation ends: the open one a STOP interrupts, or
// one past its deadline that nothing has timed out yet.
func (s *Service) closing(v domain.Valve, a domain.Actuation, now time.Time) *Closing {
	if v.OpenActuation == "" {
		return nil
	}
	c := &Closing{ValveID: v.ID, ActuationID: v.OpenActuation, At: now}
	if a.Command == domain.CommandStop && v.Busy(now) {
		c.State, c.Reason = domain.ActuationFailed, domain.ReasonStopped
		c.Event = s.eventFor(domain.EventActuationFailed, v.ID, a.KeyID, now, map[string]any{
			"actuation_id": v.OpenActuation, "reason": domain.ReasonStopped, "stopped_by": a.ID})
		return c
	}
	c.State, c.Reason = domain.ActuationTimedOut, domain.ReasonTimedOut
	c.Event = s.eventFor(domain.EventActuationTimedOut, v.ID, "", now, map[string]any{
		"actuation_id": v.OpenActuation, "deadline": v.OpenDeadline})
	return c
}

// command is the payload of valves/{id}/command (docs/API.md).
type command struct {
	Command   string                 `json:"command"`
	Params    domain.ActuationParams `json:"params"`
	RequestID string                 `json:"request_id"`
}

// send publishes the command and records the outcome: sent, or rejected.
func (s *Service) send(ctx context.Context, a domain.Actuation) (domain.Actuation, error) {
	payload, err := json.Marshal(command{Command: a.Command, Params: a.Params, RequestID: a.ID})
	if err != nil {
		return a, fmt.Errorf("encode command: %w", err)
	}
	pubErr := s.pub.Publish(ctx, topics.CommandOf(a.ValveID), payload)
	now := s.now().UTC()
	if pubErr != nil {
		s.log.Warn("command not delivered", "valve_id", a.ValveID, "actuation_id", a.ID, "error", pubErr)
		// The request's context may be what failed; the record must not
		// stay queued, so it gets a context of its own.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := s.store.MoveActuation(ctx, Transition{
			ValveID: a.ValveID, ActuationID: a.ID, From: []string{domain.ActuationQueued},
			To: domain.ActuationRejected, Reason: domain.ReasonUndeliverable, At: now, Final: true,
			Event: s.event(domain.EventActuationRejected, a, now, map[string]any{"actuation_id": a.ID, "reason": domain.ReasonUndeliverable}),
		})
		if err != nil {
			return a, fmt.Errorf("reject undelivered actuation %s: %w", a.ID, err)
		}
		a.State, a.Reason, a.CompletedAt = domain.ActuationRejected, domain.ReasonUndeliverable, &now
		return a, ErrUndeliverable
	}
	err = s.store.MoveActuation(ctx, Transition{
		ValveID: a.ValveID, ActuationID: a.ID, From: []string{domain.ActuationQueued},
		To: domain.ActuationSent, At: now,
		Event: s.event(domain.EventActuationSent, a, now, actuationData{ActuationID: a.ID}),
	})
	switch {
	case errors.Is(err, domain.ErrConflict):
		// The device answered before we recorded the sending: the
		// actuation is already further on, which is what matters.
		return a, nil
	case err != nil:
		return a, fmt.Errorf("record sent actuation %s: %w", a.ID, err)
	}
	a.State = domain.ActuationSent
	return a, nil
}

func (s *Service) event(typ string, a domain.Actuation, at time.Time, data any) domain.Event {
	return s.eventFor(typ, a.ValveID, a.KeyID, at, data)
}

func (s *Service) eventFor(typ, valveID, keyID string, at time.Time, data any) domain.Event {
	return domain.NewEvent(typ, valveID, keyID, at, data)
}
