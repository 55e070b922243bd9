package domain_test

import (
	"testing"

	"github.com/plainview/serverless/shared/core/domain"
)

// leaks returns active alerts: minor ones and critical ones.
func leaks(minor, critical int) []domain.Alert {
	var as []domain.Alert
	for range minor {
		as = append(as, domain.Alert{Severity: domain.LeakMinor, Status: domain.AlertActive})
	}
	for range critical {
		as = append(as, domain.Alert{Severity: domain.LeakCritical, Status: domain.AlertActive})
	}
	return as
}

func TestIntegrity(t *testing.T) {
	tests := []struct {
		name   string
		active []domain.Alert
		want   int
	}{
		{"no leaks is 100", nil, 100},
		{"a minor leak costs 10", leaks(1, 0), 90},
		{"a major leak costs 10", []domain.Alert{{Severity: domain.LeakMajor}}, 90},
		{"a critical leak costs 40", leaks(0, 1), 60},
		{"costs add up", leaks(3, 1), 30},
		{"ten leaks reach 0", leaks(10, 0), 0},
		{"eleven leaks stay at 0", leaks(11, 0), 0},
		{"three critical leaks stay at 0", leaks(0, 3), 0},
		{"two critical leaks and two minor reach exactly 0", leaks(2, 2), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.Integrity(tt.active); got != tt.want {
				t.Errorf("Integrity = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRiskLevel(t *testing.T) {
	// docs/API.md: medium over 2 active leaks, high over 5.
	want := []string{
		0: domain.RiskLow, 1: domain.RiskLow, 2: domain.RiskLow,
		3: domain.RiskMedium, 4: domain.RiskMedium, 5: domain.RiskMedium,
		6: domain.RiskHigh, 7: domain.RiskHigh,
	}
	for n, w := range want {
		if got := domain.RiskLevel(n); got != w {
			t.Errorf("RiskLevel(%d) = %q, want %q", n, got, w)
		}
	}
	if got := domain.RiskLevel(1000); got != domain.RiskHigh {
		t.Errorf("RiskLevel(1000) = %q, want %q", got, domain.RiskHigh)
	}
}

func TestAlertActiveUntilRepaired(t *testing.T) {
	for status, want := range map[string]bool{
		domain.AlertActive:       true,
		domain.AlertAcknowledged: true, // acknowledged is not fixed
		domain.AlertRepaired:     false,
	} {
		if got := (domain.Alert{Status: status}).Active(); got != want {
			t.Errorf("Alert{Status: %q}.Active() = %v, want %v", status, got, want)
		}
	}
}
