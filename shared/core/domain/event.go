package domain

import (
	"encoding/json"
	"time"
)

// Event types of docs/API.md.
const (
	EventActuationRequested = "valve.actuation.requested"
	EventActuationSent      = "valve.actuation.sent"
	EventActuationProgress  = "valve.actuation.progress"
	EventActuationCompleted = "valve.actuation.completed"
	EventActuationFailed    = "valve.actuation.failed"
	EventActuationTimedOut  = "valve.actuation.timed_out"
	EventActuationRejected  = "valve.actuation.rejected"
	EventAlertCreated       = "alert.created"
	EventAlertAcknowledged  = "alert.acknowledged"
	EventAlertResolved      = "alert.resolved"
	EventIncidentCreated    = "incident.created"
	EventIncidentUpdated    = "incident.updated"
	// EventInventoryChanged: a valve or section was created, changed or
	// retired, by a key with the admin scope.
	EventInventoryChanged = "inventory.changed"
	// EventAnomalyDetected: a telemetry reading far from its device's
	// recent mean (the rules of GET /flow/anomalies), found on ingestion.
	EventAnomalyDetected = "anomaly.detected"
)

// EventTypes lists every event type, for validating filters.
var EventTypes = []string{
	EventActuationRequested, EventActuationSent, EventActuationProgress,
	EventActuationCompleted, EventActuationFailed, EventActuationTimedOut,
	EventActuationRejected, EventAlertCreated, EventAlertAcknowledged,
	EventAlertResolved, EventIncidentCreated, EventIncidentUpdated,
	EventInventoryChanged, EventAnomalyDetected,
}

// Event is one entry of the event log.
type Event struct {
	ID    string          `json:"id"`
	Type  string          `json:"type"`
	At    time.Time       `json:"at"`
	Asset string          `json:"asset"`
	KeyID string          `json:"key_id,omitempty"`
	Data  json.RawMessage `json:"data"`
}

// NewEvent is an event of typ on asset at a time, caused by keyID (or by
// no key: ""), with data as its JSON. Data is a struct or a map of plain
// values, which always marshal; a struct is cheaper on a hot path (no map
// to sort, no values boxed).
func NewEvent(typ, asset, keyID string, at time.Time, data any) Event {
	b, _ := json.Marshal(data)
	return Event{ID: NewID("evt", at), Type: typ, At: at, Asset: asset, KeyID: keyID, Data: b}
}
