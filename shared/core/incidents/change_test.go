package incidents

import (
	"errors"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

func ptr(s string) *string { return &s }

func TestChangesMoveForwardAndLeaveATimelineEntryEach(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	active := domain.Incident{ID: "inc-1", Status: domain.IncidentActive, Version: 3, StartedAt: now.Add(-time.Hour)}

	after, entries, err := change(active, Update{Status: ptr(domain.IncidentInvestigating), RootCause: ptr("valve seal")}, now)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != domain.IncidentInvestigating || after.RootCause != "valve seal" || after.Version != 4 || !after.UpdatedAt.Equal(now) {
		t.Errorf("after = %+v", after)
	}
	if len(entries) != 2 {
		t.Errorf("entries = %+v, want one per change", entries)
	}

	after, entries, err = change(active, Update{Resolution: ptr("seal replaced")}, now)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != domain.IncidentResolved || after.ResolvedAt == nil || !after.ResolvedAt.Equal(now) || len(entries) != 2 {
		t.Errorf("a resolution must resolve: %+v %+v", after, entries)
	}

	same, entries, err := change(active, Update{Status: ptr(domain.IncidentActive)}, now)
	if err != nil || len(entries) != 0 || same.Version != 3 {
		t.Errorf("a change to nothing: %+v %v %v", same, entries, err)
	}

	ack := active
	ack.Status = domain.IncidentAcknowledged
	var rule *domain.RuleError
	if _, _, err := change(ack, Update{Status: ptr(domain.IncidentActive)}, now); !errors.As(err, &rule) || rule.Code != "status_backwards" {
		t.Errorf("backwards: err = %v", err)
	}
	resolved := active
	resolved.Status = domain.IncidentResolved
	if _, _, err := change(resolved, Update{RootCause: ptr("late")}, now); !errors.As(err, &rule) || rule.Code != "incident_resolved" {
		t.Errorf("resolved is final: err = %v", err)
	}
}
