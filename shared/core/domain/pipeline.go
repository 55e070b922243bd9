package domain

import (
	"fmt"
	"time"
)

// Leak severities, as an alert carries them. Devices report LOW, MED, HIGH
// and CRITICAL; LOW is minor, MED major, HIGH and CRITICAL critical.
const (
	LeakMinor    = "minor"
	LeakMajor    = "major"
	LeakCritical = "critical"
)

// LeakSeverities lists the leak severities. An incident's are others
// (Severities).
var LeakSeverities = []string{LeakMinor, LeakMajor, LeakCritical}

// ValidLeakSeverity reports whether s is a leak severity.
func ValidLeakSeverity(s string) bool {
	return s == LeakMinor || s == LeakMajor || s == LeakCritical
}

// LeakSeverityOfDevice maps a device's severity word to an alert's.
func LeakSeverityOfDevice(s string) (string, bool) {
	switch s {
	case "LOW":
		return LeakMinor, true
	case "MED":
		return LeakMajor, true
	case "HIGH", "CRITICAL":
		return LeakCritical, true
	}
	return "", false
}

// IncidentSeverityOfLeak is the severity of an incident a leak opens:
// critical for a critical leak, warning for the others.
func IncidentSeverityOfLeak(s string) string {
	if s == LeakCritical {
		return SeverityCritical
	}
	return SeverityWarning
}

// CorrelationWindow: an alert that arrives within this time of the start
// of an unresolved incident joins it instead of opening another.
const CorrelationWindow = 2 * time.Minute

// Alert statuses: active until acknowledged, then repaired when resolved.
const (
	AlertActive       = "active"
	AlertAcknowledged = "acknowledged"
	AlertRepaired     = "repaired"
)

// AlertStatuses lists the alert statuses in their order.
var AlertStatuses = []string{AlertActive, AlertAcknowledged, AlertRepaired}

// Location is where a leak was seen.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Validate checks the coordinates are on Earth.
func (l Location) Validate() error {
	if l.Lat < -90 || l.Lat > 90 || l.Lon < -180 || l.Lon > 180 {
		return fmt.Errorf("location must have lat from -90 to 90 and lon from -180 to 180")
	}
	return nil
}

// Alert is a leak on a pipeline section, from a device or a person.
type Alert struct {
	ID             string     `json:"id"`
	Section        string     `json:"section"`
	Severity       string     `json:"severity"`
	Status         string     `json:"status"`
	Class          string     `json:"class,omitempty"`
	Confidence     *float64   `json:"confidence,omitempty"`
	VolumeEstimate *float64   `json:"volume_estimate"`
	Location       *Location  `json:"location"`
	Notes          string     `json:"notes,omitempty"`
	Reporter       string     `json:"reporter,omitempty"`
	KeyID          string     `json:"key_id,omitempty"`
	IncidentID     string     `json:"incident_id,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at"`
}

// Active reports whether the leak is still there: not yet repaired.
func (a Alert) Active() bool { return a.Status != AlertRepaired }

// Integrity scores the pipeline from its active leaks: 100, minus 10 per
// active leak, minus 30 more per critical one, never below 0.
func Integrity(active []Alert) int {
	score := 100
	for _, a := range active {
		score -= 10
		if a.Severity == LeakCritical {
			score -= 30
		}
	}
	return max(score, 0)
}

// Risk levels of a section.
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

// RiskLevels lists the risk levels.
var RiskLevels = []string{RiskLow, RiskMedium, RiskHigh}

// RiskLevel of a section with n active leaks: medium over 2, high over 5.
func RiskLevel(n int) string {
	switch {
	case n > 5:
		return RiskHigh
	case n > 2:
		return RiskMedium
	}
	return RiskLow
}

// Section is a pipeline section and its pressure gauge's latest reading.
type Section struct {
	Name         string
	PressureKPa  *float64
	LastSeen     *time.Time
	LastIncident string
	// From the inventory: where it runs, and when it was retired (nil: in
	// service).
	Location  string
	RetiredAt *time.Time
}

// LeakSummary is what the active leaks say of the pipeline as a whole:
// the read model of GET /pipeline/health and GET /pipeline/alerts.
type LeakSummary struct {
	Active, Critical int
	BySection        map[string]int // active leaks per section
	VolumeLost       float64        // the sum of the leaks' volume estimates
	Integrity        int            // Integrity(active)
}

// SummarizeLeaks sums the active leaks.
func SummarizeLeaks(active []Alert) LeakSummary {
	s := LeakSummary{Active: len(active), BySection: map[string]int{}, Integrity: Integrity(active)}
	for _, al := range active {
		s.BySection[al.Section]++
		if al.Severity == LeakCritical {
			s.Critical++
		}
		if al.VolumeEstimate != nil {
			s.VolumeLost += *al.VolumeEstimate
		}
	}
	return s
}
