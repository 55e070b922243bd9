// Package leaks turns leak reports, from devices or people, into alerts:
// each alert opens an incident, or joins one that started within the last
// two minutes, in the same transaction; critical ones page the operators.
// Acknowledging and resolving move the alert forward.
package leaks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/incidents"
)

// Store is what leak handling needs from the store.
type Store interface {
	Section(ctx context.Context, name string) (domain.Section, error)
	Alert(ctx context.Context, id string) (domain.Alert, error)
	UnresolvedIncidents(ctx context.Context) ([]domain.Incident, error)
	CorrelationVersion(ctx context.Context) (int, error)
	RecordLeak(ctx context.Context, l Leak) error
	ChangeAlert(ctx context.Context, c AlertChange) error
}

// Service handles leak alerts.
type Service struct {
	store  Store
	notify incidents.Notifier
	now    func() time.Time
	log    *slog.Logger
}

// New returns a service; now nil means time.Now.
func New(st Store, n incidents.Notifier, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, notify: n, now: now, log: log}
}

// MaxNotes bounds free text on an alert.
const MaxNotes = 2000

// MaxVolumeEstimate bounds a leak's estimated volume, in litres: 100
// million litres (100,000 m³) is past the largest pipeline spills on
// record. Without a bound, two estimates of 1e308 summed to +Inf, which
// no JSON answer can carry (GET /pipeline/health answered 500).
const MaxVolumeEstimate = 100_000_000

// Report is one leak, as a device or a person reports it.
type Report struct {
	ID             string // the device's leak id (deduplicates repeats); empty: a new one
	Section        string
	Severity       string // minor, major or critical
	Class          string // METHANE, OIL, WATER, UNKNOWN (devices)
	Confidence     *float64
	VolumeEstimate *float64
	Location       *domain.Location
	Notes          string
	Reporter       string // the device's client id, for device reports
	KeyID          string // the API key, for reports by hand
}

func (r Report) validate() error {
	switch {
	case r.ID != "" && !domain.ValidID(r.ID):
		return fmt.Errorf("id must be an id: letters, digits, - and _, 1 to 64 characters")
	case !domain.ValidID(r.Section):
		return fmt.Errorf("section must be a section name")
	case !domain.ValidLeakSeverity(r.Severity):
		return fmt.Errorf("severity must be minor, major or critical")
	case r.VolumeEstimate != nil && !(*r.VolumeEstimate >= 0 && *r.VolumeEstimate <= MaxVolumeEstimate):
		return fmt.Errorf("volume_estimate must be from 0 to %d litres", MaxVolumeEstimate)
	case r.Confidence != nil && (*r.Confidence < 0 || *r.Confidence > 1):
		return fmt.Errorf("confidence must be from 0 to 1")
	case utf8.RuneCountInString(r.Notes) > MaxNotes:
		return fmt.Errorf("notes must be at most %d characters", MaxNotes)
	}
	if r.Location != nil {
		return r.Location.Validate()
	}
	return nil
}

// Result is what a report became.
type Result struct {
	Alert     domain.Alert
	Incident  domain.Incident
	Opened    bool // the alert opened Incident; otherwise it joined it
	Duplicate bool // the alert id was reported before: nothing was written
	Escalated bool // the joined incident's severity was raised
}

var severityRank = map[string]int{domain.SeverityInfo: 0, domain.SeverityWarning: 1, domain.SeverityCritical: 2}

// attempts bounds retries when another leak was recorded meanwhile (leak
// reports are serialised, so the second of two at once joins the first's
// incident) or the incident to join was resolved.
const attempts = 8

// Report records a leak. An unknown or retired section is refused (422). A report
// whose id was seen before is a duplicate: it changes nothing and answers
// the alert as it stands, so repeated deliveries are harmless.
func (s *Service) Report(ctx context.Context, r Report) (Result, error) {
	if err := r.validate(); err != nil {
		return Result{}, fmt.Errorf("%w: %w", domain.ErrInvalid, err)
	}
	sec, err := s.store.Section(ctx, r.Section)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return Result{}, &domain.RuleError{Code: "unknown_section", Message: fmt.Sprintf("no pipeline section %q", r.Section)}
	case err != nil:
		return Result{}, err
	case sec.RetiredAt != nil:
		return Result{}, &domain.RuleError{Code: "section_retired", Message: fmt.Sprintf("pipeline section %q is retired", r.Section)}
	}
	return domain.OnConflict(attempts, func(try int) (Result, error) {
		res, leak, err := s.plan(ctx, r)
		if err != nil {
			return Result{}, err
		}
		err = s.store.RecordLeak(ctx, leak)
		if err == nil {
			s.page(ctx, res)
			return res, nil
		}
		if !errors.Is(err, domain.ErrConflict) {
			return Result{}, err
		}
		// The same report, recorded by a delivery that got there first.
		if a, err := s.store.Alert(ctx, res.Alert.ID); err == nil {
			return Result{Alert: a, Duplicate: true}, nil
		}
		if try < attempts {
			// Spread out the reports that collided.
			time.Sleep(time.Duration(mrand.IntN(20*try)) * time.Millisecond)
		}
		return Result{}, err
	}, func() error {
		return &domain.ConflictError{Code: "conflict", Message: "incidents changed while the alert was being recorded; retry"}
	})
}

// plan decides what a report writes: the alert, and the incident it opens
// or joins by the two-minute rule (any section, server time).
func (s *Service) plan(ctx context.Context, r Report) (Result, Leak, error) {
	// The version first: an incident opened after it was read makes the
	// write conflict, and the report is planned again.
	version, err := s.store.CorrelationVersion(ctx)
	if err != nil {
		return Result{}, Leak{}, err
	}
	open, err := s.store.UnresolvedIncidents(ctx)
	if err != nil {
		return Result{}, Leak{}, err
	}
	now := s.now().UTC()
	a := domain.Alert{
		ID: r.ID, Section: r.Section, Severity: r.Severity, Status: domain.AlertActive,
		Class: r.Class, Confidence: r.Confidence, VolumeEstimate: r.VolumeEstimate, Location: r.Location,
		Notes: r.Notes, Reporter: r.Reporter, KeyID: r.KeyID, CreatedAt: now,
	}
	if a.ID == "" {
		a.ID = domain.NewID("leak", now)
	}
	res := Result{Alert: a}
	var join *domain.Incident
	for i := range open { // newest first: the first in the window is the one
		if !open[i].StartedAt.Before(now.Add(-domain.CorrelationWindow)) {
			join = &open[i]
			break
		}
	}
	leak := Leak{Correlation: version}
	alertData := map[string]any{"alert_id": a.ID, "section": a.Section, "severity": a.Severity}
	if join != nil {
		if sev := domain.IncidentSeverityOfLeak(a.Severity); severityRank[sev] > severityRank[join.Severity] {
			// The incident is as grave as its gravest leak.
			join.Severity, leak.Escalate = sev, sev
			res.Escalated = true
		}
		res.Incident = *join
		a.IncidentID = join.ID
		leak.Timeline = []domain.TimelineEntry{{At: now, Kind: "alert", AlertID: a.ID, KeyID: r.KeyID,
			Message: fmt.Sprintf("%s leak on %s joined (alert %s)", a.Severity, a.Section, a.ID)}}
		leak.Events = append(leak.Events, incidents.Event(domain.EventIncidentUpdated, *join, r.KeyID, now,
			map[string]any{"incident_id": join.ID, "alert_id": a.ID, "joined": true}))
	} else {
		in := domain.Incident{
			ID: domain.NewID("inc", now), Title: fmt.Sprintf("Leak on %s", a.Section),
			Severity: domain.IncidentSeverityOfLeak(a.Severity), Status: domain.IncidentActive,
			AffectedModules: []string{"pipeline-guard"}, Description: a.Notes,
			StartedAt: now, UpdatedAt: now, Version: 1,
		}
		res.Incident, res.Opened, leak.NewIncident = in, true, true
		a.IncidentID = in.ID
		leak.Timeline = []domain.TimelineEntry{{At: now, Kind: "created", AlertID: a.ID, KeyID: r.KeyID,
			Message: fmt.Sprintf("opened by a %s leak on %s (alert %s)", a.Severity, a.Section, a.ID)}}
		leak.Events = append(leak.Events, incidents.Event(domain.EventIncidentCreated, in, r.KeyID, now,
			map[string]any{"incident_id": in.ID, "severity": in.Severity, "title": in.Title, "alert_id": a.ID}))
	}
	alertData["incident_id"] = a.IncidentID
	leak.Events = append([]domain.Event{event(domain.EventAlertCreated, a, r.KeyID, now, alertData)}, leak.Events...)
	res.Alert, leak.Alert, leak.Incident = a, a, res.Incident
	return res, leak, nil
}

// page tells the operators about a critical leak or a critical incident.
func (s *Service) page(ctx context.Context, res Result) {
	if res.Alert.Severity != domain.LeakCritical && !((res.Opened || res.Escalated) && res.Incident.Severity == domain.SeverityCritical) {
		return
	}
	subject := fmt.Sprintf("Critical leak on %s", res.Alert.Section)
	msg := fmt.Sprintf("Alert %s (%s) on %s at %s; incident %s.", res.Alert.ID, res.Alert.Severity, res.Alert.Section,
		res.Alert.CreatedAt.Format(time.RFC3339), res.Incident.ID)
	if err := s.notify.Notify(ctx, subject, msg); err != nil {
		s.log.Error("notify operators", "subject", subject, "error", err)
	}
}

// Acknowledge records that someone is on an active leak.
func (s *Service) Acknowledge(ctx context.Context, id, keyID string) (domain.Alert, error) {
	return s.move(ctx, id, keyID, []string{domain.AlertActive}, domain.AlertAcknowledged, domain.EventAlertAcknowledged)
}

// Resolve records that a leak is repaired.
func (s *Service) Resolve(ctx context.Context, id, keyID string) (domain.Alert, error) {
	return s.move(ctx, id, keyID, []string{domain.AlertActive, domain.AlertAcknowledged}, domain.AlertRepaired, domain.EventAlertResolved)
}

func (s *Service) move(ctx context.Context, id, keyID string, from []string, to, evType string) (domain.Alert, error) {
	a, err := s.store.Alert(ctx, id)
	if err != nil {
		return domain.Alert{}, err
	}
	if !slices.Contains(from, a.Status) {
		return domain.Alert{}, &domain.RuleError{Code: "alert_" + a.Status, Message: fmt.Sprintf("alert %s is %s", a.ID, a.Status)}
	}
	now := s.now().UTC()
	data := map[string]any{"alert_id": a.ID, "section": a.Section, "status": to}
	switch to {
	case domain.AlertAcknowledged:
		a.AcknowledgedAt, a.AcknowledgedBy = &now, keyID
		data["acknowledged_at"], data["key_id"] = now, keyID
	case domain.AlertRepaired:
		a.ResolvedAt = &now
		data["resolved_at"] = now
	}
	a.Status = to
	err = s.store.ChangeAlert(ctx, AlertChange{AlertID: a.ID, From: from, To: to, At: now, AcknowledgedBy: keyID,
		Event: event(evType, a, keyID, now, data)})
	if errors.Is(err, domain.ErrConflict) {
		return domain.Alert{}, &domain.ConflictError{Code: "conflict", Message: fmt.Sprintf("alert %s changed meanwhile; read it and retry", a.ID)}
	}
	return a, err
}

func event(typ string, a domain.Alert, keyID string, at time.Time, data map[string]any) domain.Event {
	return domain.NewEvent(typ, a.Section, keyID, at, data)
}
