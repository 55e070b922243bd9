package ingest

import (
	"context"
	"errors"

	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
)

// statusMessage is valves/{id}/status (docs/API.md).
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

func (s *Service) status(ctx context.Context, dev domain.Device, valveID string, payload []byte, m topics.Message) error {
	if dev.Kind != domain.DeviceValve || dev.Asset != valveID {
		return bad("client %q may not report for valve %q", dev.ID, valveID)
	}
	var st statusMessage
	if err := decode(payload, &st); err != nil {
		return err
	}
	if st.State == "IDLE" {
		return nil // a valve at rest reports on no actuation
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
	out, err := s.reports.Apply(ctx, actuation.Report{
		ValveID: valveID, State: st.State, RequestID: st.RequestID, AngleDeg: st.AngleDeg, TorqueNm: st.TorqueNm,
		EStop: st.Interlocks.EStop, OverTorque: st.Interlocks.OverTorque, OverTemp: st.Interlocks.OverTemp, Notes: st.Notes,
	})
	if br := (*actuation.BadReport)(nil); errors.As(err, &br) {
		return bad("%s", br.Reason)
	}
	if err == nil && out.Ended {
		s.ended(out.Command, out.Result)
	}
	return err
}

// ended counts an actuation the device ended, as the valves function
// counts the ones it sends or cannot deliver: Actuations by Function,
// Command and Result, so the dashboard's "actuations by result" shows
// succeeded and failed too.
func (s *Service) ended(command, result string) {
	s.metrics.Record(s.log, s.now(), []metrics.Dimension{{Name: "Function", Value: "ingest"}, {Name: "Command", Value: command}, {Name: "Result", Value: result}},
		metrics.Metric{Name: "Actuations", Unit: metrics.Count, Value: 1})
}

func (s *Service) tell(ctx context.Context, subject, msg string) {
	if s.notify == nil {
		return
	}
	if err := s.notify.Notify(ctx, subject, msg); err != nil {
		s.log.Error("notify operators", "subject", subject, "error", err)
	}
}
