package domain_test

import (
	"testing"

	"github.com/plainview/serverless/shared/core/domain"
)

func TestHealthOfIncidents(t *testing.T) {
	incident := func(severity string) domain.Incident {
		return domain.Incident{Severity: severity, Status: domain.IncidentActive}
	}
	tests := []struct {
		name       string
		unresolved []domain.Incident
		counts     domain.IncidentCounts
		want       domain.IncidentHealth
	}{
		{
			name: "nothing ever is healthy, with no average",
			want: domain.IncidentHealth{SystemHealth: domain.SystemHealthy},
		},
		{
			name:   "everything resolved is healthy, with the average resolution time",
			counts: domain.IncidentCounts{Total: 3, Resolved: 3, ResolutionMinutesTotal: 90},
			want:   domain.IncidentHealth{TotalIncidents: 3, AvgResolutionMinutes: 30, SystemHealth: domain.SystemHealthy},
		},
		{
			name:       "an unresolved warning is degraded",
			unresolved: []domain.Incident{incident(domain.SeverityWarning)},
			counts:     domain.IncidentCounts{Total: 1},
			want:       domain.IncidentHealth{TotalIncidents: 1, ActiveIncidents: 1, SystemHealth: domain.SystemDegraded},
		},
		{
			name:       "an unresolved info incident is degraded",
			unresolved: []domain.Incident{incident(domain.SeverityInfo)},
			counts:     domain.IncidentCounts{Total: 1},
			want:       domain.IncidentHealth{TotalIncidents: 1, ActiveIncidents: 1, SystemHealth: domain.SystemDegraded},
		},
		{
			name: "one unresolved critical among others is critical",
			unresolved: []domain.Incident{
				incident(domain.SeverityInfo), incident(domain.SeverityCritical),
				incident(domain.SeverityWarning), incident(domain.SeverityCritical),
			},
			counts: domain.IncidentCounts{Total: 10, Resolved: 6, ResolutionMinutesTotal: 45},
			want: domain.IncidentHealth{
				TotalIncidents: 10, ActiveIncidents: 4, CriticalIncidents: 2,
				AvgResolutionMinutes: 7.5, SystemHealth: domain.SystemCritical,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.HealthOfIncidents(tt.unresolved, tt.counts); got != tt.want {
				t.Errorf("HealthOfIncidents =\n%+v, want\n%+v", got, tt.want)
			}
		})
	}
}
