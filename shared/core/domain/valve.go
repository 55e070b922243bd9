// Package domain holds Plainview's records and the rules of docs/API.md that
// decide them: valve status and health, pipeline integrity and risk,
// incident statistics. It knows nothing of HTTP or DynamoDB.
package domain

import (
	"fmt"
	"time"
)

// ValveStatus is what a valve's readings say about it.
type ValveStatus string

// Valve statuses, in the order of precedence when several apply.
const (
	StatusOffline     ValveStatus = "offline"
	StatusMaintenance ValveStatus = "maintenance"
	StatusWarning     ValveStatus = "warning"
	StatusOK          ValveStatus = "ok"
	// StatusRetired is a valve taken out of the inventory: its history
	// stays, it takes no command.
	StatusRetired ValveStatus = "retired"
)

// ValveStatuses lists the valve statuses.
var ValveStatuses = []string{string(StatusOffline), string(StatusMaintenance), string(StatusWarning), string(StatusOK), string(StatusRetired)}

// Thresholds of docs/API.md. A reading strictly over a threshold crosses it.
type Thresholds struct {
	TemperatureWarningC float64 `json:"temperature_warning_c"`
	TemperatureOfflineC float64 `json:"temperature_offline_c"`
	PressureWarningPa   float64 `json:"pressure_warning_pa"`
	PressureOfflinePa   float64 `json:"pressure_offline_pa"`
}

// DefaultThresholds are the limits of docs/API.md, which a valve is judged by
// unless the inventory gives it its own.
func DefaultThresholds() Thresholds {
	return Thresholds{
		TemperatureWarningC: 60,
		TemperatureOfflineC: 75,
		PressureWarningPa:   2_800_000,
		PressureOfflinePa:   3_000_000,
	}
}

// Validate checks thresholds a client gave: finite, a temperature between
// -273.15 °C and 1,000 °C, a pressure above 0 and at most 100 MPa, and each
// warning below its offline limit (a warning past offline would never
// show).
func (t Thresholds) Validate() error {
	for _, c := range []struct {
		name     string
		v        float64
		min, max float64
	}{
		{"temperature_warning_c", t.TemperatureWarningC, -273.15, 1000},
		{"temperature_offline_c", t.TemperatureOfflineC, -273.15, 1000},
		{"pressure_warning_pa", t.PressureWarningPa, 0, 100_000_000},
		{"pressure_offline_pa", t.PressureOfflinePa, 0, 100_000_000},
	} {
		// NaN fails both comparisons, so it is refused too.
		if !(c.v > c.min && c.v <= c.max) {
			return fmt.Errorf("%w: thresholds.%s must be over %g and at most %g", ErrInvalid, c.name, c.min, c.max)
		}
	}
	if t.TemperatureWarningC >= t.TemperatureOfflineC {
		return fmt.Errorf("%w: thresholds.temperature_warning_c must be below temperature_offline_c", ErrInvalid)
	}
	if t.PressureWarningPa >= t.PressureOfflinePa {
		return fmt.Errorf("%w: thresholds.pressure_warning_pa must be below pressure_offline_pa", ErrInvalid)
	}
	return nil
}

// ConnectedWithin is how recently a device must have sent something to
// count as connected: one silent for five minutes is not.
const ConnectedWithin = 5 * time.Minute

// Valve is a valve with its latest readings. Pointers are readings the
// valve may not have reported yet.
type Valve struct {
	ID                   string
	Name                 string
	TemperatureC         *float64
	PressurePa           *float64
	LastTorqueNm         *float64
	LastActuationTime    *time.Time
	EstimatedMaintenance *time.Time
	LastSeen             *time.Time
	// OpenActuation is the actuation the valve is carrying out, if any,
	// and OpenDeadline when it times out: one open actuation at a time.
	OpenActuation string
	OpenDeadline  *time.Time
	// From the inventory: where it is, its own thresholds (nil: the
	// defaults) and when it was retired (nil: in service).
	Location   string
	Thresholds *Thresholds
	RetiredAt  *time.Time
}

// Limits are the thresholds the valve is judged by: its own, or the
// defaults.
func (v Valve) Limits() Thresholds {
	if v.Thresholds != nil {
		return *v.Thresholds
	}
	return DefaultThresholds()
}

// Available reports whether the valve takes commands other than STOP
// without an override: not offline, not in maintenance.
func (v Valve) Available(now time.Time) bool {
	st := v.Status(now)
	return st != StatusOffline && st != StatusMaintenance && st != StatusRetired
}

// Busy reports whether an open actuation still blocks a new one: it does
// until its deadline, after which it counts as timed out.
func (v Valve) Busy(now time.Time) bool {
	return v.OpenActuation != "" && v.OpenDeadline != nil && now.Before(*v.OpenDeadline)
}

// Status applies the rules of docs/API.md: offline, then maintenance, then
// warning, then ok. The old service let maintenance hide offline; docs/API.md
// decides offline wins.
func (v Valve) Status(now time.Time) ValveStatus {
	t, p := v.TemperatureC, v.PressurePa
	th := v.Limits()
	switch {
	case v.RetiredAt != nil:
		return StatusRetired
	case t != nil && *t > th.TemperatureOfflineC, p != nil && *p > th.PressureOfflinePa:
		return StatusOffline
	case v.maintenanceDue(now):
		return StatusMaintenance
	case t != nil && *t > th.TemperatureWarningC, p != nil && *p > th.PressureWarningPa:
		return StatusWarning
	}
	return StatusOK
}

// HealthScore is 100, minus 20 for a hot valve, minus 20 for high
// pressure, minus 30 when maintenance is due, never below 0.
func (v Valve) HealthScore(now time.Time) int {
	th := v.Limits()
	score := 100
	if v.TemperatureC != nil && *v.TemperatureC > th.TemperatureWarningC {
		score -= 20
	}
	if v.PressurePa != nil && *v.PressurePa > th.PressureWarningPa {
		score -= 20
	}
	if v.maintenanceDue(now) {
		score -= 30
	}
	return max(score, 0)
}

// Connected reports whether the valve's device sent anything in the last
// five minutes.
func (v Valve) Connected(now time.Time) bool {
	return v.LastSeen != nil && now.Sub(*v.LastSeen) < ConnectedWithin
}

func (v Valve) maintenanceDue(now time.Time) bool {
	return v.EstimatedMaintenance != nil && v.EstimatedMaintenance.Before(now)
}

// Actuation states. queued → sent → in_progress → succeeded, or one of the
// terminal failures.
const (
	ActuationQueued     = "queued"
	ActuationSent       = "sent"
	ActuationInProgress = "in_progress"
	ActuationSucceeded  = "succeeded"
	ActuationFailed     = "failed"
	ActuationTimedOut   = "timed_out"
	ActuationRejected   = "rejected"
)

// ActuationStates lists the actuation states.
var ActuationStates = []string{ActuationQueued, ActuationSent, ActuationInProgress, ActuationSucceeded,
	ActuationFailed, ActuationTimedOut, ActuationRejected}

// Commands a valve understands. An empty actuation request means
// TORQUE_TEST, as it did in the old service.
const (
	CommandOpen       = "OPEN"
	CommandClose      = "CLOSE"
	CommandTorqueTest = "TORQUE_TEST"
	CommandIndex      = "INDEX"
	CommandStop       = "STOP"
)

// Commands lists the valid commands.
var Commands = []string{CommandOpen, CommandClose, CommandTorqueTest, CommandIndex, CommandStop}

// ActuationTimeout is how long a device has to report DONE.
const ActuationTimeout = 30 * time.Second

// OpenActuationStates are the states of an actuation still under way.
var OpenActuationStates = []string{ActuationQueued, ActuationSent, ActuationInProgress}

// Reasons an actuation ends other than by success.
const (
	ReasonStopped       = "stopped"
	ReasonTimedOut      = "timed_out"
	ReasonUndeliverable = "undeliverable"
)

// Actuation is one command sent to a valve and what became of it.
type Actuation struct {
	ID          string          `json:"actuation_id"`
	ValveID     string          `json:"valve_id"`
	Command     string          `json:"command"`
	Params      ActuationParams `json:"params"`
	State       string          `json:"state"`
	RequestedAt time.Time       `json:"requested_at"`
	Deadline    time.Time       `json:"-"`
	CompletedAt *time.Time      `json:"completed_at"`
	TorqueNm    *float64        `json:"torque_nm"`
	DurationMs  *int64          `json:"duration_ms"`
	Reason      string          `json:"reason"`
	KeyID       string          `json:"key_id"`
}

// ActuationParams are the command parameters devices understand.
type ActuationParams struct {
	TargetAngleDeg *float64 `json:"target_angle_deg,omitempty"`
	TorqueLimitNm  *float64 `json:"torque_limit_nm,omitempty"`
	Speed          *float64 `json:"speed,omitempty"`
}

// Parameter ranges: a quarter- or multi-turn valve's angle in degrees, the
// torque limit of the actuators in the field, and speed as a fraction of
// the actuator's full speed.
const (
	MaxTargetAngleDeg = 360
	MaxTorqueLimitNm  = 5000
)

// Validate checks the parameters' ranges; it names the first bad one.
func (p ActuationParams) Validate() error {
	switch {
	case p.TargetAngleDeg != nil && (*p.TargetAngleDeg < 0 || *p.TargetAngleDeg > MaxTargetAngleDeg):
		return fmt.Errorf("params.target_angle_deg must be from 0 to %d", MaxTargetAngleDeg)
	case p.TorqueLimitNm != nil && (*p.TorqueLimitNm <= 0 || *p.TorqueLimitNm > MaxTorqueLimitNm):
		return fmt.Errorf("params.torque_limit_nm must be over 0 and at most %d", MaxTorqueLimitNm)
	case p.Speed != nil && (*p.Speed <= 0 || *p.Speed > 1):
		return fmt.Errorf("params.speed must be over 0 and at most 1 (a fraction of full speed)")
	}
	return nil
}
