package domain_test

import (
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

func TestIncidentStatusesOnlyMoveForward(t *testing.T) {
	order := []string{domain.IncidentActive, domain.IncidentAcknowledged, domain.IncidentInvestigating, domain.IncidentResolved}
	for i, from := range order {
		for j, to := range order {
			want := j > i && from != domain.IncidentResolved
			if got := domain.Forward(from, to); got != want {
				t.Errorf("Forward(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if domain.ValidIncidentStatus("closed") || !domain.ValidIncidentStatus("investigating") {
		t.Error("ValidIncidentStatus is wrong")
	}
}

func TestAValveTakesCommandsOnlyWhenAvailableAndNotBusy(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	hot, past, soon := 80.0, now.Add(-time.Hour), now.Add(10*time.Second)
	if !(domain.Valve{}).Available(now) {
		t.Error("a valve with no readings is available")
	}
	if (domain.Valve{TemperatureC: &hot}).Available(now) {
		t.Error("an offline valve is available")
	}
	if (domain.Valve{EstimatedMaintenance: &past}).Available(now) {
		t.Error("a valve due for maintenance is available")
	}
	busy := domain.Valve{OpenActuation: "act-1", OpenDeadline: &soon}
	if !busy.Busy(now) {
		t.Error("an actuation before its deadline does not block")
	}
	if busy.Busy(soon) {
		t.Error("an actuation at its deadline still blocks")
	}
}

func TestActuationParamsRanges(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	good := []domain.ActuationParams{
		{}, {TargetAngleDeg: f(0)}, {TargetAngleDeg: f(360)}, {TorqueLimitNm: f(50)}, {Speed: f(1)}, {Speed: f(0.25)},
	}
	bad := []domain.ActuationParams{
		{TargetAngleDeg: f(-1)}, {TargetAngleDeg: f(361)}, {TorqueLimitNm: f(0)}, {TorqueLimitNm: f(5001)},
		{Speed: f(0)}, {Speed: f(1.5)},
	}
	for _, p := range good {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v refused: %v", p, err)
		}
	}
	for _, p := range bad {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestDeviceLeakSeveritiesMapToAlertAndIncidentSeverities(t *testing.T) {
	for dev, want := range map[string]string{"LOW": domain.LeakMinor, "MED": domain.LeakMajor, "HIGH": domain.LeakCritical, "CRITICAL": domain.LeakCritical} {
		got, ok := domain.LeakSeverityOfDevice(dev)
		if !ok || got != want {
			t.Errorf("%s -> %s (%v), want %s", dev, got, ok, want)
		}
	}
	if _, ok := domain.LeakSeverityOfDevice("low"); ok {
		t.Error("lower-case device severity accepted")
	}
	if domain.IncidentSeverityOfLeak(domain.LeakCritical) != domain.SeverityCritical ||
		domain.IncidentSeverityOfLeak(domain.LeakMajor) != domain.SeverityWarning ||
		domain.IncidentSeverityOfLeak(domain.LeakMinor) != domain.SeverityWarning {
		t.Error("leak to incident severity is wrong")
	}
}

func TestLocationsAreOnEarth(t *testing.T) {
	for _, l := range []domain.Location{{Lat: 91}, {Lat: -91}, {Lon: 181}, {Lon: -181}} {
		if l.Validate() == nil {
			t.Errorf("%+v accepted", l)
		}
	}
	if (domain.Location{Lat: 52.5, Lon: 13.4}).Validate() != nil {
		t.Error("Berlin refused")
	}
}
