package actuation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// DueStore is what the timeout schedule needs from the store.
type DueStore interface {
	OpenActuationsDue(ctx context.Context, now time.Time, limit int) ([]domain.Actuation, error)
	MoveActuation(ctx context.Context, t Transition) error
}

// Notifier tells operators about what needs them now.
type Notifier interface {
	Notify(ctx context.Context, subject, message string) error
}

// Timeouts ends open actuations whose device never reported DONE by the
// deadline: timed_out, an event, and a notification to the operators.
type Timeouts struct {
	store  DueStore
	notify Notifier
	now    func() time.Time
	log    *slog.Logger
}

// NewTimeouts returns the schedule's work; now nil means time.Now.
func NewTimeouts(st DueStore, n Notifier, now func() time.Time, log *slog.Logger) *Timeouts {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Timeouts{store: st, notify: n, now: now, log: log}
}

// batch bounds one run's work; the next run takes the rest.
const batch = 100

// Run times out what is due and returns how many it ended.
func (t *Timeouts) Run(ctx context.Context) (int, error) {
	now := t.now().UTC()
	due, err := t.store.OpenActuationsDue(ctx, now, batch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range due {
		ev := domain.NewEvent(domain.EventActuationTimedOut, a.ValveID, "", now,
			map[string]any{"actuation_id": a.ID, "deadline": a.Deadline, "command": a.Command})
		err := t.store.MoveActuation(ctx, Transition{
			ValveID: a.ValveID, ActuationID: a.ID, From: domain.OpenActuationStates,
			To: domain.ActuationTimedOut, Reason: domain.ReasonTimedOut, At: now, Final: true, Event: ev,
		})
		if errors.Is(err, domain.ErrConflict) {
			continue // it ended meanwhile (DONE, STOP, or a new actuation)
		}
		if err != nil {
			return n, fmt.Errorf("time out %s: %w", a.ID, err)
		}
		n++
		subject := "Actuation timed out on " + a.ValveID
		msg := fmt.Sprintf("Actuation %s (%s) on %s had no DONE by %s.", a.ID, a.Command, a.ValveID, a.Deadline.Format(time.RFC3339))
		if err := t.notify.Notify(ctx, subject, msg); err != nil {
			t.log.Error("notify operators", "subject", subject, "error", err)
		}
	}
	return n, nil
}
