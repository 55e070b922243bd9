package domain_test

import (
	"testing"

	"github.com/plainview/serverless/shared/core/domain"
)

func TestTheActiveLeaksAreSummedBySection(t *testing.T) {
	vol := func(v float64) *float64 { return &v }
	active := []domain.Alert{
		{Section: "S1", Severity: domain.LeakCritical, VolumeEstimate: vol(120)},
		{Section: "S1", Severity: domain.LeakMinor},
		{Section: "S2", Severity: domain.LeakCritical, VolumeEstimate: vol(30.5)},
	}
	s := domain.SummarizeLeaks(active)
	if s.Active != 3 || s.Critical != 2 || s.VolumeLost != 150.5 || s.BySection["S1"] != 2 || s.BySection["S2"] != 1 || s.BySection["S3"] != 0 {
		t.Errorf("summary = %+v", s)
	}
	if s.Integrity != domain.Integrity(active) {
		t.Errorf("integrity %d, want domain.Integrity's %d", s.Integrity, domain.Integrity(active))
	}
	if none := domain.SummarizeLeaks(nil); none.Active != 0 || none.VolumeLost != 0 || none.Integrity != domain.Integrity(nil) {
		t.Errorf("no leaks: %+v", none)
	}
}
