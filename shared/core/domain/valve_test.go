package domain_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// The limits of docs/API.md, written out here rather than read from
// domain.DefaultThresholds(), so that a changed threshold fails a test.
const (
	tempWarningC     = 60.0
	tempOfflineC     = 75.0
	pressureWarning  = 2_800_000.0
	pressureOffline  = 3_000_000.0
	connectedTimeout = 5 * time.Minute
)

// justOver is the smallest float64 strictly greater than x: "over" a
// threshold is strictly greater, so this is the first reading that crosses.
func justOver(x float64) float64 { return math.Nextafter(x, math.Inf(1)) }

func ptr[T any](v T) *T { return &v }

func TestValveThresholdsAreThoseOfAPIMD(t *testing.T) {
	want := domain.Thresholds{
		TemperatureWarningC: tempWarningC,
		TemperatureOfflineC: tempOfflineC,
		PressureWarningPa:   pressureWarning,
		PressureOfflinePa:   pressureOffline,
	}
	if domain.DefaultThresholds() != want {
		t.Errorf("DefaultThresholds() = %+v, want %+v", domain.DefaultThresholds(), want)
	}
	if domain.ConnectedWithin != connectedTimeout {
		t.Errorf("ConnectedWithin = %v, want %v", domain.ConnectedWithin, connectedTimeout)
	}
}

func TestValveStatus(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	tests := []struct {
		name string
		v    domain.Valve
		want domain.ValveStatus
	}{
		{"no readings yet is ok", domain.Valve{}, domain.StatusOK},
		{"normal readings are ok", domain.Valve{TemperatureC: ptr(42.5), PressurePa: ptr(2_100_000.0)}, domain.StatusOK},

		{"temperature exactly at the warning limit is ok", domain.Valve{TemperatureC: ptr(tempWarningC)}, domain.StatusOK},
		{"temperature just over the warning limit is a warning", domain.Valve{TemperatureC: ptr(justOver(tempWarningC))}, domain.StatusWarning},
		{"temperature exactly at the offline limit is a warning", domain.Valve{TemperatureC: ptr(tempOfflineC)}, domain.StatusWarning},
		{"temperature just over the offline limit is offline", domain.Valve{TemperatureC: ptr(justOver(tempOfflineC))}, domain.StatusOffline},

		{"pressure exactly at the warning limit is ok", domain.Valve{PressurePa: ptr(pressureWarning)}, domain.StatusOK},
		{"pressure just over the warning limit is a warning", domain.Valve{PressurePa: ptr(justOver(pressureWarning))}, domain.StatusWarning},
		{"pressure exactly at the offline limit is a warning", domain.Valve{PressurePa: ptr(pressureOffline)}, domain.StatusWarning},
		{"pressure just over the offline limit is offline", domain.Valve{PressurePa: ptr(justOver(pressureOffline))}, domain.StatusOffline},

		{"maintenance date in the past is maintenance", domain.Valve{EstimatedMaintenance: &past}, domain.StatusMaintenance},
		{"maintenance date now is not yet in the past", domain.Valve{EstimatedMaintenance: &now}, domain.StatusOK},
		{"maintenance date in the future is ok", domain.Valve{EstimatedMaintenance: &future}, domain.StatusOK},

		// Precedence: offline > maintenance > warning > ok.
		{"offline temperature beats maintenance", domain.Valve{TemperatureC: ptr(80.0), EstimatedMaintenance: &past}, domain.StatusOffline},
		{"offline pressure beats maintenance", domain.Valve{PressurePa: ptr(3_100_000.0), EstimatedMaintenance: &past}, domain.StatusOffline},
		{"offline pressure beats a temperature warning", domain.Valve{TemperatureC: ptr(65.0), PressurePa: ptr(3_100_000.0)}, domain.StatusOffline},
		{"offline temperature beats a pressure warning", domain.Valve{TemperatureC: ptr(80.0), PressurePa: ptr(2_900_000.0)}, domain.StatusOffline},
		{"maintenance beats a temperature warning", domain.Valve{TemperatureC: ptr(65.0), EstimatedMaintenance: &past}, domain.StatusMaintenance},
		{"maintenance beats a pressure warning", domain.Valve{PressurePa: ptr(2_900_000.0), EstimatedMaintenance: &past}, domain.StatusMaintenance},
		{"every rule at once is offline", domain.Valve{TemperatureC: ptr(80.0), PressurePa: ptr(3_100_000.0), EstimatedMaintenance: &past}, domain.StatusOffline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.Status(now); got != tt.want {
				t.Errorf("Status = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValveHealthScore(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	past := now.Add(-time.Minute)
	tests := []struct {
		name string
		v    domain.Valve
		want int
	}{
		{"nothing wrong is 100", domain.Valve{TemperatureC: ptr(42.5), PressurePa: ptr(2_100_000.0)}, 100},
		{"no readings yet is 100", domain.Valve{}, 100},
		{"readings exactly at the warning limits cost nothing", domain.Valve{TemperatureC: ptr(tempWarningC), PressurePa: ptr(pressureWarning)}, 100},
		{"a hot valve costs 20", domain.Valve{TemperatureC: ptr(justOver(tempWarningC))}, 80},
		{"an offline-hot valve costs the same 20", domain.Valve{TemperatureC: ptr(90.0)}, 80},
		{"high pressure costs 20", domain.Valve{PressurePa: ptr(justOver(pressureWarning))}, 80},
		{"maintenance due costs 30", domain.Valve{EstimatedMaintenance: &past}, 70},
		{"maintenance due exactly now costs nothing yet", domain.Valve{EstimatedMaintenance: &now}, 100},
		{"hot and high pressure cost 40", domain.Valve{TemperatureC: ptr(61.0), PressurePa: ptr(2_900_000.0)}, 60},
		{"hot and maintenance due cost 50", domain.Valve{TemperatureC: ptr(61.0), EstimatedMaintenance: &past}, 50},
		// The largest deduction is 70, so the floor at 0 cannot be reached
		// with the rules of docs/API.md.
		{"everything at once costs 70", domain.Valve{TemperatureC: ptr(90.0), PressurePa: ptr(3_500_000.0), EstimatedMaintenance: &past}, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.HealthScore(now); got != tt.want {
				t.Errorf("HealthScore = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestValveConnected(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *time.Time { t := now.Add(-ago); return &t }
	tests := []struct {
		name     string
		lastSeen *time.Time
		want     bool
	}{
		{"never seen is not connected", nil, false},
		{"seen just now is connected", at(0), true},
		{"seen a minute ago is connected", at(time.Minute), true},
		// docs/API.md: connected is false once the device "has sent nothing for
		// 5 minutes": at exactly five minutes it is no longer connected.
		{"seen just under 5 minutes ago is connected", at(connectedTimeout - time.Nanosecond), true},
		{"seen exactly 5 minutes ago is not connected", at(connectedTimeout), false},
		{"seen an hour ago is not connected", at(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := domain.Valve{LastSeen: tt.lastSeen}
			if got := v.Connected(now); got != tt.want {
				t.Errorf("Connected = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAValveWithItsOwnThresholdsIsJudgedByThem(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	own := &domain.Thresholds{TemperatureWarningC: 40, TemperatureOfflineC: 50, PressureWarningPa: 1_000_000, PressureOfflinePa: 2_000_000}
	tests := []struct {
		name  string
		v     domain.Valve
		want  domain.ValveStatus
		score int
	}{
		{"45 °C is ok by the defaults", domain.Valve{TemperatureC: ptr(45.0)}, domain.StatusOK, 100},
		{"45 °C is a warning by its own", domain.Valve{TemperatureC: ptr(45.0), Thresholds: own}, domain.StatusWarning, 80},
		{"2.1 MPa is offline by its own", domain.Valve{PressurePa: ptr(2_100_000.0), Thresholds: own}, domain.StatusOffline, 80},
		{"retired wins over everything", domain.Valve{TemperatureC: ptr(99.0), RetiredAt: ptr(now), Thresholds: own}, domain.StatusRetired, 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.Status(now); got != tt.want {
				t.Errorf("Status = %s, want %s", got, tt.want)
			}
			if got := tt.v.HealthScore(now); got != tt.score {
				t.Errorf("HealthScore = %d, want %d", got, tt.score)
			}
		})
	}
	if (domain.Valve{RetiredAt: ptr(now)}).Available(now) {
		t.Error("a retired valve is available")
	}
}

func TestThresholdsValidate(t *testing.T) {
	ok := domain.DefaultThresholds()
	if err := ok.Validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	bad := map[string]func(*domain.Thresholds){
		"warning above offline":        func(th *domain.Thresholds) { th.TemperatureWarningC = 80 },
		"warning equal to offline":     func(th *domain.Thresholds) { th.PressureWarningPa = th.PressureOfflinePa },
		"NaN":                          func(th *domain.Thresholds) { th.TemperatureOfflineC = math.NaN() },
		"infinite":                     func(th *domain.Thresholds) { th.PressureOfflinePa = math.Inf(1) },
		"zero pressure":                func(th *domain.Thresholds) { th.PressureWarningPa = 0 },
		"below absolute zero":          func(th *domain.Thresholds) { th.TemperatureWarningC = -300 },
		"missing (zero) offline limit": func(th *domain.Thresholds) { th.TemperatureOfflineC = 0; th.TemperatureWarningC = 0 },
	}
	for name, change := range bad {
		th := domain.DefaultThresholds()
		change(&th)
		if err := th.Validate(); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
