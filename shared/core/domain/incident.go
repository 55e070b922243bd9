package domain

import "time"

// Incident statuses, forward only; resolved is final.
const (
	IncidentActive        = "active"
	IncidentAcknowledged  = "acknowledged"
	IncidentInvestigating = "investigating"
	IncidentResolved      = "resolved"
)

// IncidentStatuses lists the incident statuses in their order.
var IncidentStatuses = []string{IncidentActive, IncidentAcknowledged, IncidentInvestigating, IncidentResolved}

// incidentOrder ranks the statuses: an incident only moves forward.
var incidentOrder = map[string]int{IncidentActive: 0, IncidentAcknowledged: 1, IncidentInvestigating: 2, IncidentResolved: 3}

// ValidIncidentStatus reports whether s is an incident status.
func ValidIncidentStatus(s string) bool {
	_, ok := incidentOrder[s]
	return ok
}

// Forward reports whether an incident may move from one status to another:
// later in the order, never back, never out of resolved.
func Forward(from, to string) bool {
	return from != IncidentResolved && incidentOrder[to] > incidentOrder[from]
}

// Severities of incidents.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Severities lists the incident severities. A leak's are others
// (LeakSeverities).
var Severities = []string{SeverityInfo, SeverityWarning, SeverityCritical}

// ValidSeverity reports whether s is an incident severity.
func ValidSeverity(s string) bool {
	return s == SeverityInfo || s == SeverityWarning || s == SeverityCritical
}

// Incident is something operators work through to resolution.
type Incident struct {
	ID              string     `json:"id"`
	Title           string     `json:"title"`
	Severity        string     `json:"severity"`
	Status          string     `json:"status"`
	AffectedModules []string   `json:"affected_modules"`
	Description     string     `json:"description"`
	RootCause       string     `json:"root_cause"`
	Resolution      string     `json:"resolution"`
	StartedAt       time.Time  `json:"started_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	ResolvedAt      *time.Time `json:"resolved_at"`
	Version         int        `json:"version"`
}

// TimelineEntry is one thing that happened to an incident.
type TimelineEntry struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	KeyID   string    `json:"key_id,omitempty"`
	AlertID string    `json:"alert_id,omitempty"`
}

// IncidentCounts are the running totals the store keeps, so statistics need
// no scan of every incident ever opened.
type IncidentCounts struct {
	Total                  int
	Resolved               int
	ResolutionMinutesTotal float64
}

// IncidentHealth is GET /incidents/health.
type IncidentHealth struct {
	TotalIncidents       int     `json:"total_incidents"`
	ActiveIncidents      int     `json:"active_incidents"`
	CriticalIncidents    int     `json:"critical_incidents"`
	AvgResolutionMinutes float64 `json:"avg_resolution_minutes"`
	SystemHealth         string  `json:"system_health"`
}

// System health words of GET /incidents/health.
const (
	SystemHealthy  = "healthy"
	SystemDegraded = "degraded"
	SystemCritical = "critical"
)

// SystemHealthWords lists the words of IncidentHealth.SystemHealth.
var SystemHealthWords = []string{SystemHealthy, SystemDegraded, SystemCritical}

// HealthOfIncidents summarises the unresolved incidents and the running
// totals: critical while any critical incident is unresolved, degraded
// while any other is, healthy otherwise.
func HealthOfIncidents(unresolved []Incident, c IncidentCounts) IncidentHealth {
	h := IncidentHealth{TotalIncidents: c.Total, ActiveIncidents: len(unresolved), SystemHealth: SystemHealthy}
	for _, in := range unresolved {
		if in.Severity == SeverityCritical {
			h.CriticalIncidents++
		}
	}
	if c.Resolved > 0 {
		h.AvgResolutionMinutes = c.ResolutionMinutesTotal / float64(c.Resolved)
	}
	switch {
	case h.CriticalIncidents > 0:
		h.SystemHealth = SystemCritical
	case h.ActiveIncidents > 0:
		h.SystemHealth = SystemDegraded
	}
	return h
}
