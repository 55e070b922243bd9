package leaks

import (
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// Leak is everything one leak report writes, in one transaction: the
// alert, the incident it opens or joins, the timeline entries, the
// section's last incident and the events.
type Leak struct {
	Alert       domain.Alert
	Incident    domain.Incident
	NewIncident bool // open Incident; otherwise join it
	Timeline    []domain.TimelineEntry
	Events      []domain.Event
	// Escalate, when joining, raises the incident's severity to this one
	// (a critical leak joining a warning incident makes it critical).
	Escalate string
	// Correlation is the CorrelationVersion the decision to open or join
	// was made at: the write succeeds only if no other leak was recorded
	// since, so two leaks at once cannot both open an incident.
	Correlation int
}

// AlertChange moves an alert from one of the From statuses to To.
type AlertChange struct {
	AlertID        string
	From           []string
	To             string
	At             time.Time
	AcknowledgedBy string // the key id, for an acknowledgement
	Event          domain.Event
}
