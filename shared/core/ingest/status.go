package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/iotrules"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/lambda/metrics"
)

// statusMessage is valves/{id}/status (API.md).
type statusMessage struct {
	State      string    `json:"state"`
	RequestID  string    `json:"request_id"`
	AngleDeg   *float64  `json:"angle_deg"`
	TorqueNm   *float64  `json:"torque_nm"`
	Curve      []float64 `json:"torque_curve"`
	Interlocks struct {
		EStop      bool `json:"e_stop"`
		OverTorque bool `json:"over_torque"`
		OverTemp   bool `json:"over_temp"`
	} `json:"interlocks"`
	Notes string `json:"notes"`
}

// steps orders a device's states: a report only counts if it is past the
// last one applied. DONE and ERROR both end the actuation.
var steps = map[string]int{"ALIGNING": 1, "ACTUATING": 2, "VERIFYING": 3, "DONE": 4, "ERROR": 4}

func (s *Service) status(ctx context.Context, dev domain.Device, valveID string, payload []byte, m iotrules.Message) error {
	if dev.Kind != domain.DeviceValve || dev.Asset != valveID {
		return bad("client %q may not report for valve %q", dev.ID, valveID)
	}
	var st statusMessage
	if err := decode(payload, &st); err != nil {
		return err
	}
	if st.State == "IDLE" {
		return nil // a valve at rest reports nothing about an actuation
	}
	step, ok := steps[st.State]
	if !ok {
		return bad("state %q is not a valve state", st.State)
	}
	if !domain.ValidID(st.RequestID) {
		return bad("request_id %q is not an actuation id", st.RequestID)
	}
	if err := inRange("torque_nm", st.TorqueNm, 0, 100_000); err != nil {
		return err
	}
	if err := inRange("angle_deg", st.AngleDeg, -720, 720); err != nil {
		return err
	}
	if len(st.Curve) > 10_000 {
		return bad("torque_curve has %d points, over 10000", len(st.Curve))
	}
	a, err := s.store.Actuation(ctx, valveID, st.RequestID)
	if errors.Is(err, domain.ErrNotFound) {
		return bad("no actuation %q on valve %q", st.RequestID, valveID)
	}
	if err != nil {
		return err
	}
	now := s.now().UTC()
	u := store.Status{ValveID: valveID, ActuationID: a.ID, Step: step, At: now}
	// valve_id as the first backend sent it: its dashboard reads it from
	// valve.actuation.completed (the asset says the same).
	data := map[string]any{"actuation_id": a.ID, "valve_id": valveID, "device_state": st.State, "angle_deg": st.AngleDeg, "torque_nm": st.TorqueNm}
	switch reason := failure(st); {
	case reason != "":
		u.To, u.Final, u.Reason = domain.ActuationFailed, true, reason
		data["reason"], data["notes"] = reason, st.Notes
		u.Event = event(domain.EventActuationFailed, valveID, now, data)
	case st.State == "DONE":
		d := now.Sub(a.RequestedAt).Milliseconds()
		u.To, u.Final, u.TorqueNm, u.DurationMs = domain.ActuationSucceeded, true, st.TorqueNm, &d
		data["duration_ms"] = d
		u.Event = event(domain.EventActuationCompleted, valveID, now, data)
	default:
		u.To = domain.ActuationInProgress
		u.Event = event(domain.EventActuationProgress, valveID, now, data)
	}
	err = s.store.ApplyStatus(ctx, u)
	if errors.Is(err, domain.ErrConflict) {
		// A duplicate, a late step, or an actuation already ended: it
		// never moves back. Nothing to do.
		return nil
	}
	if err == nil && u.Final {
		s.ended(a.Command, u.To)
	}
	if err == nil && u.Final && u.To == domain.ActuationFailed {
		s.tell(ctx, "Actuation failed on "+valveID, "Actuation "+a.ID+" ("+a.Command+") failed: "+u.Reason+" at "+now.Format(time.RFC3339))
	}
	return err
}

// ended counts an actuation the device ended, as the valves function
// counts the ones it sends or cannot deliver: Actuations by Function,
// Command and Result, so the dashboard's "actuations by result" shows
// succeeded and failed too.
func (s *Service) ended(command, result string) {
	if s.metrics == nil {
		return
	}
	err := s.metrics.Emit(s.now(), []metrics.Dimension{{Name: "Function", Value: "ingest"}, {Name: "Command", Value: command}, {Name: "Result", Value: result}},
		[]metrics.Metric{{Name: "Actuations", Unit: metrics.Count, Value: 1}}, nil)
	if err != nil {
		s.log.Error("emit metrics", "error", err)
	}
}

// failure is why a report ends an actuation as failed: an ERROR or a
// raised interlock; "" when it does not.
func failure(st statusMessage) string {
	switch {
	case st.Interlocks.EStop:
		return "e_stop"
	case st.Interlocks.OverTorque:
		return "over_torque"
	case st.Interlocks.OverTemp:
		return "over_temp"
	case st.State == "ERROR":
		return "device_error"
	}
	return ""
}

func (s *Service) tell(ctx context.Context, subject, msg string) {
	if s.notify == nil {
		return
	}
	if err := s.notify.Notify(ctx, subject, msg); err != nil {
		s.log.Error("notify operators", "subject", subject, "error", err)
	}
}
