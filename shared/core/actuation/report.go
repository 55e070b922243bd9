package actuation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// Report is a valve's status message on one of its actuations, as
// ingestion read it (valves/{id}/status, docs/devices.md): the device's
// state, the actuation it is about (RequestID) and what it measured.
type Report struct {
	ValveID   string
	State     string // IDLE, ALIGNING, ACTUATING, VERIFYING, DONE or ERROR
	RequestID string
	AngleDeg  *float64
	TorqueNm  *float64
	// The interlocks the device raised; any of them fails the actuation.
	EStop, OverTorque, OverTemp bool
	Notes                       string
}

// BadReport is a report that can never apply as it is (an unknown state,
// an actuation the valve does not have). Ingestion dead-letters it with
// the reason.
type BadReport struct{ Reason string }

func (b *BadReport) Error() string { return b.Reason }

func badReport(format string, args ...any) error {
	return &BadReport{Reason: fmt.Sprintf(format, args...)}
}

// steps orders a device's states: a report only counts if it is past the
// last one applied. DONE and ERROR both end the actuation.
var steps = map[string]int{"ALIGNING": 1, "ACTUATING": 2, "VERIFYING": 3, "DONE": 4, "ERROR": 4}

// ReportStore is what applying reports needs from the store.
type ReportStore interface {
	Actuation(ctx context.Context, valveID, id string) (domain.Actuation, error)
	// ApplyStatus applies p if the actuation is still open and p.Step is
	// past the last step applied; ErrConflict when it is not.
	ApplyStatus(ctx context.Context, p Progress) error
}

// Reports moves actuations on as their valves report: in_progress, then
// succeeded or failed. With Service (queued, sent, rejected, a STOP's
// failed) and Timeouts (timed_out), it makes every change of an
// actuation's state.
type Reports struct {
	store  ReportStore
	notify Notifier
	now    func() time.Time
	log    *slog.Logger
}

// NewReports returns the reports' side of the lifecycle; n may be nil (no
// one to tell), now nil means time.Now.
func NewReports(st ReportStore, n Notifier, now func() time.Time, log *slog.Logger) *Reports {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reports{store: st, notify: n, now: now, log: log}
}

// Outcome is what a report did. Ended is set when it ended the actuation,
// with the actuation's Command and the Result state.
type Outcome struct {
	Ended           bool
	Command, Result string
}

// Apply applies one report. A duplicate, a late step or a report on an
// actuation that has ended already changes nothing and is no error: the
// device's messages repeat and cross. a *BadReport for a report that can
// never apply; other errors may pass on a retry.
func (r *Reports) Apply(ctx context.Context, rep Report) (Outcome, error) {
	if rep.State == "IDLE" {
		return Outcome{}, nil // a valve at rest reports nothing about an actuation
	}
	step, ok := steps[rep.State]
	if !ok {
		return Outcome{}, badReport("state %q is not a valve state", rep.State)
	}
	if !domain.ValidID(rep.RequestID) {
		return Outcome{}, badReport("request_id %q is not an actuation id", rep.RequestID)
	}
	a, err := r.store.Actuation(ctx, rep.ValveID, rep.RequestID)
	if errors.Is(err, domain.ErrNotFound) {
		return Outcome{}, badReport("no actuation %q on valve %q", rep.RequestID, rep.ValveID)
	}
	if err != nil {
		return Outcome{}, err
	}
	now := r.now().UTC()
	p := Progress{ValveID: rep.ValveID, ActuationID: a.ID, Step: step, At: now}
	// valve_id as the first backend sent it: its dashboard reads it from
	// valve.actuation.completed (the asset says the same).
	data := map[string]any{"actuation_id": a.ID, "valve_id": rep.ValveID, "device_state": rep.State, "angle_deg": rep.AngleDeg, "torque_nm": rep.TorqueNm}
	switch reason := failure(rep); {
	case reason != "":
		p.To, p.Final, p.Reason = domain.ActuationFailed, true, reason
		data["reason"], data["notes"] = reason, rep.Notes
		p.Event = domain.NewEvent(domain.EventActuationFailed, rep.ValveID, "", now, data)
	case rep.State == "DONE":
		d := now.Sub(a.RequestedAt).Milliseconds()
		p.To, p.Final, p.TorqueNm, p.DurationMs = domain.ActuationSucceeded, true, rep.TorqueNm, &d
		data["duration_ms"] = d
		p.Event = domain.NewEvent(domain.EventActuationCompleted, rep.ValveID, "", now, data)
	default:
		p.To = domain.ActuationInProgress
		p.Event = domain.NewEvent(domain.EventActuationProgress, rep.ValveID, "", now, data)
	}
	err = r.store.ApplyStatus(ctx, p)
	if errors.Is(err, domain.ErrConflict) {
		// A duplicate, a late step, or an actuation already ended: it
		// never moves back. Nothing to do.
		return Outcome{}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("apply %s report on %s: %w", rep.State, a.ID, err)
	}
	if !p.Final {
		return Outcome{}, nil
	}
	if p.To == domain.ActuationFailed && r.notify != nil {
		subject := "Actuation failed on " + rep.ValveID
		msg := "Actuation " + a.ID + " (" + a.Command + ") failed: " + p.Reason + " at " + now.Format(time.RFC3339)
		if err := r.notify.Notify(ctx, subject, msg); err != nil {
			r.log.Error("notify operators", "subject", subject, "error", err)
		}
	}
	return Outcome{Ended: true, Command: a.Command, Result: p.To}, nil
}

// failure is why a report ends an actuation as failed: an ERROR or a
// raised interlock; "" when it does not.
func failure(rep Report) string {
	switch {
	case rep.EStop:
		return "e_stop"
	case rep.OverTorque:
		return "over_torque"
	case rep.OverTemp:
		return "over_temp"
	case rep.State == "ERROR":
		return "device_error"
	}
	return ""
}
