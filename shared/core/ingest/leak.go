package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/leaks"
)

// leakMessage is plainview/leaks (docs/API.md).
type leakMessage struct {
	ID             string           `json:"id"`
	TS             *float64         `json:"ts"`
	AssetID        string           `json:"asset_id"`
	Location       *domain.Location `json:"location"`
	Class          string           `json:"class"`
	Confidence     *float64         `json:"confidence"`
	Severity       string           `json:"severity"`
	Evidence       any              `json:"evidence"`
	VolumeEstimate *float64         `json:"volume_estimate"`
}

var leakClasses = map[string]bool{"METHANE": true, "OIL": true, "WATER": true, "UNKNOWN": true}

func (s *Service) leak(ctx context.Context, dev domain.Device, payload []byte) error {
	var l leakMessage
	if err := decode(payload, &l); err != nil {
		return err
	}
	sev, ok := domain.LeakSeverityOfDevice(l.Severity)
	switch {
	case !domain.ValidID(l.ID):
		return bad("id %q is not a leak id", l.ID)
	case !ok:
		return bad("severity %q is not LOW, MED, HIGH or CRITICAL", l.Severity)
	case !leakClasses[l.Class]:
		return bad("class %q is not METHANE, OIL, WATER or UNKNOWN", l.Class)
	case dev.Kind != domain.DeviceGauge || l.AssetID != dev.Asset:
		// The broker and the IoT policy let only gauges publish leaks;
		// which section a report is on is in its payload, checked here.
		return bad("device %s may report leaks on its own section only, not on %q", dev.ID, l.AssetID)
	}
	notes := ""
	if l.Evidence != nil {
		if s, ok := l.Evidence.(string); ok {
			notes = s
		} else {
			notes = fmt.Sprintf("evidence: %v", l.Evidence)
		}
		if len(notes) > leaks.MaxNotes {
			notes = notes[:leaks.MaxNotes]
		}
	}
	_, err := s.leaks.Report(ctx, leaks.Report{
		ID: l.ID, Section: l.AssetID, Severity: sev, Class: l.Class, Confidence: l.Confidence,
		VolumeEstimate: l.VolumeEstimate, Location: l.Location, Notes: notes, Reporter: dev.ID,
	})
	var rule *domain.RuleError
	switch {
	case errors.Is(err, domain.ErrInvalid):
		return bad("%v", err)
	case errors.As(err, &rule):
		return bad("%s", rule.Message)
	}
	return err
}
