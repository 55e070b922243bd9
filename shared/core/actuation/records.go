package actuation

import (
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// Closing ends an open actuation that a new one replaces: one stopped by
// a STOP, or one past its deadline.
type Closing struct {
	ValveID, ActuationID string
	State, Reason        string
	At                   time.Time
	Event                domain.Event
}

// Transition moves an actuation forward.
type Transition struct {
	ValveID, ActuationID string
	From                 []string // the states it may be in now
	To                   string
	Reason               string
	At                   time.Time
	// Final ends the actuation: the valve no longer has it open.
	Final bool
	Event domain.Event
}

// Progress is a device's report on an actuation, as ingestion applies it.
type Progress struct {
	ValveID, ActuationID string
	// Step orders the device's states (ALIGNING 1 ... DONE 4): a report
	// only applies if its step is past the last one applied, so duplicates
	// and late messages change nothing.
	Step  int
	To    string // the actuation state it moves to
	Final bool   // succeeded or failed: the valve is free again
	At    time.Time
	// For DONE: the torque and how long the actuation took.
	TorqueNm   *float64
	DurationMs *int64
	Reason     string
	Event      domain.Event
}
