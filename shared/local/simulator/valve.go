package simulator

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
)

// command is valves/{id}/command (docs/API.md).
type command struct {
	Command   string                 `json:"command"`
	Params    domain.ActuationParams `json:"params"`
	RequestID string                 `json:"request_id"`
}

// status is valves/{id}/status (docs/API.md).
type status struct {
	State       string     `json:"state"`
	RequestID   string     `json:"request_id"`
	AngleDeg    float64    `json:"angle_deg"`
	TorqueNm    float64    `json:"torque_nm"`
	TorqueCurve []float64  `json:"torque_curve,omitempty"`
	Interlocks  interlocks `json:"interlocks"`
	Notes       string     `json:"notes,omitempty"`
}

type interlocks struct {
	EStop      bool `json:"e_stop"`
	OverTorque bool `json:"over_torque"`
	OverTemp   bool `json:"over_temp"`
}

// Valve states of docs/API.md.
const (
	stateAligning  = "ALIGNING"
	stateActuating = "ACTUATING"
	stateVerifying = "VERIFYING"
	stateDone      = "DONE"
	stateError     = "ERROR"
)

const (
	// nominalTorqueNm is what a move takes, give or take torqueNoiseNm
	// (one standard deviation), never more than torqueSpreadNm off.
	nominalTorqueNm = 50
	torqueNoiseNm   = 2.5
	torqueSpreadNm  = 5
	// indexStepDeg is how far INDEX turns without a target angle.
	indexStepDeg = 15
	// queuedCommands is how many commands a valve holds while it moves;
	// the cloud sends one at a time (one open actuation per valve), so
	// more is a misbehaving sender and is dropped.
	queuedCommands = 16
	// rememberedRequests is how many request ids a valve remembers, so
	// that a QoS 1 command delivered twice is carried out once.
	rememberedRequests = 64
)

// valve is a valve actuator's state.
type valve struct {
	queue chan command // moves, carried out one at a time

	// mu orders a move's reports against STOP: once STOP has cancelled
	// a move and answered, that move reports nothing more.
	mu     sync.Mutex
	angle  float64            // the last angle reported
	torque float64            // of the last move, reported in telemetry
	cancel context.CancelFunc // of the move under way; nil at rest
	seen   []string           // recent request ids, oldest first
}

func newValve() *valve {
	// A valve starts open, at rest after a nominal move.
	return &valve{queue: make(chan command, queuedCommands), angle: 90, torque: nominalTorqueNm}
}

func (v *valve) position() (angle, torque float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.angle, v.torque
}

// firstTime records a request id and reports whether it is new.
func (v *valve) firstTime(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if slices.Contains(v.seen, id) {
		return false
	}
	if len(v.seen) == rememberedRequests {
		v.seen = slices.Delete(v.seen, 0, 1)
	}
	v.seen = append(v.seen, id)
	return true
}

// onCommand is the valve's handler for valves/{id}/command. paho calls it
// in a goroutine of its own (OrderMatters false) and acknowledges the
// command when it returns, so it only hands moves to the valve's worker.
func (s *Simulator) onCommand(d *device) paho.MessageHandler {
	topic := topics.CommandOf(d.ID)
	return func(_ paho.Client, m paho.Message) {
		if m.Topic() != topic {
			// Only reachable through the default handler, which catches
			// what a persistent session delivers before the subscription
			// is back in place.
			return
		}
		var c command
		if err := json.Unmarshal(m.Payload(), &c); err != nil {
			s.log.Warn("command ignored: not JSON", "device", d.ID, "error", err)
			return
		}
		if c.RequestID == "" {
			s.log.Warn("command ignored: no request_id", "device", d.ID, "command", c.Command)
			return
		}
		if !d.valve.firstTime(c.RequestID) {
			s.log.Debug("command delivered again, ignored", "device", d.ID, "request_id", c.RequestID)
			return
		}
		s.counts.commands.Add(1)
		s.log.Info("command", "device", d.ID, "command", c.Command, "request_id", c.RequestID)
		if c.Command == domain.CommandStop {
			s.stop(d, c)
			return
		}
		select {
		case d.valve.queue <- c:
		default:
			s.log.Warn("command dropped: valve busy", "device", d.ID, "request_id", c.RequestID)
		}
	}
}

// stop halts the move under way, where it is, and answers DONE at once.
func (s *Simulator) stop(d *device, c command) {
	v := d.valve
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cancel != nil {
		v.cancel()
		v.cancel = nil
	}
	s.publish(d, topics.StatusOf(d.ID), status{State: stateDone, RequestID: c.RequestID, AngleDeg: v.angle})
}

// runValve carries out the valve's moves one after the other until ctx
// ends.
func (s *Simulator) runValve(ctx context.Context, d *device) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-d.valve.queue:
			s.move(ctx, d, c)
		}
	}
}

// move carries out one command: ALIGNING, ACTUATING, VERIFYING and DONE,
// StepDelay apart; or ALIGNING and ERROR when the torque limit is below
// what the move takes; or, for a command it does not know, ERROR at once,
// so the actuation fails instead of timing out. The speed parameter does
// not change the pace.
func (s *Simulator) move(ctx context.Context, d *device, c command) {
	v := d.valve
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	v.mu.Lock()
	v.cancel = cancel
	from := v.angle
	v.mu.Unlock()

	to, ok := target(c, from)
	if !ok {
		s.report(ctx, d, status{State: stateError, RequestID: c.RequestID, AngleDeg: from, Notes: "unknown command " + c.Command})
		return
	}
	need := s.moveTorque()
	st := status{State: stateAligning, RequestID: c.RequestID, AngleDeg: from}
	if !s.report(ctx, d, st) {
		return
	}
	if limit := c.Params.TorqueLimitNm; limit != nil && *limit < need {
		st.State, st.TorqueNm, st.Interlocks.OverTorque, st.Notes = stateError, *limit, true, "over torque"
		s.step(ctx, d, st)
		return
	}
	st.State, st.AngleDeg, st.TorqueNm = stateActuating, round((from+to)/2, 1), round(need*0.8, 1)
	if !s.step(ctx, d, st) {
		return
	}
	st.State, st.AngleDeg, st.TorqueNm = stateVerifying, to, need
	if !s.step(ctx, d, st) {
		return
	}
	st.State, st.TorqueCurve = stateDone, s.torqueCurve(need)
	s.step(ctx, d, st)
}

// step waits StepDelay, then reports st; false when the move was stopped
// or the simulator is shutting down.
func (s *Simulator) step(ctx context.Context, d *device, st status) bool {
	t := time.NewTimer(s.opts.StepDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	return s.report(ctx, d, st)
}

// report publishes st and moves the valve to its angle, unless STOP
// cancelled the move first.
func (s *Simulator) report(ctx context.Context, d *device, st status) bool {
	v := d.valve
	v.mu.Lock()
	defer v.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	v.angle = st.AngleDeg
	if st.State == stateDone {
		v.torque = st.TorqueNm
	}
	if st.State == stateDone || st.State == stateError {
		v.cancel = nil
	}
	s.publish(d, topics.StatusOf(d.ID), st)
	return true
}

// target is where a command takes a valve at angle from: OPEN to 90°,
// CLOSE to 0°, INDEX to its target angle or 15° on (within one turn),
// TORQUE_TEST nowhere.
func target(c command, from float64) (float64, bool) {
	switch c.Command {
	case domain.CommandOpen:
		return 90, true
	case domain.CommandClose:
		return 0, true
	case domain.CommandTorqueTest:
		return from, true
	case domain.CommandIndex:
		if a := c.Params.TargetAngleDeg; a != nil {
			return *a, true
		}
		return math.Mod(from+indexStepDeg, domain.MaxTargetAngleDeg), true
	}
	return 0, false
}

// moveTorque is the torque a move takes: nominal, with normal noise kept
// within the spread.
func (s *Simulator) moveTorque() float64 {
	n := max(-torqueSpreadNm, min(torqueSpreadNm, s.normal(torqueNoiseNm)))
	return round(nominalTorqueNm+n, 1)
}

// torqueCurve is a short torque trace of a move: breakaway rising to the
// torque the move took.
func (s *Simulator) torqueCurve(peak float64) []float64 {
	const points = 8
	curve := make([]float64, points)
	for i := range curve {
		frac := math.Sqrt(float64(i+1) / points)
		curve[i] = round(max(0, peak*frac+s.normal(0.5)), 1)
	}
	curve[points-1] = peak
	return curve
}
