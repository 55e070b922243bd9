// Package incidents opens incidents by hand and works them through to
// resolution: forward-only statuses, optimistic versions, a timeline entry
// for every change, and an event for each.
package incidents

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plainview/serverless/shared/core/domain"
)

// Store is what incidents need from the store.
type Store interface {
	Incident(ctx context.Context, id string) (domain.Incident, []domain.TimelineEntry, error)
	CreateIncident(ctx context.Context, in domain.Incident, entry domain.TimelineEntry, ev domain.Event) error
	UpdateIncident(ctx context.Context, before, after domain.Incident, entries []domain.TimelineEntry, ev domain.Event) error
}

// Notifier tells operators about what needs them now.
type Notifier interface {
	Notify(ctx context.Context, subject, message string) error
}

// Service opens and updates incidents.
type Service struct {
	store  Store
	notify Notifier
	now    func() time.Time
	log    *slog.Logger
}

// New returns a service; now nil means time.Now.
func New(st Store, n Notifier, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, notify: n, now: now, log: log}
}

// Limits on what a person types.
const (
	MaxTitle = 200
	MaxText  = 4000
)

// Opening is a hand-opened incident.
type Opening struct {
	Title           string
	Severity        string
	AffectedModules []string
	Description     string
	KeyID           string
}

func (n *Opening) validate() error {
	n.Title = strings.TrimSpace(n.Title)
	switch {
	case n.Title == "" || utf8.RuneCountInString(n.Title) > MaxTitle:
		return fmt.Errorf("title must be 1 to %d characters", MaxTitle)
	case !domain.ValidSeverity(n.Severity):
		return fmt.Errorf("severity must be info, warning or critical")
	case utf8.RuneCountInString(n.Description) > MaxText:
		return fmt.Errorf("description must be at most %d characters", MaxText)
	}
	keys := map[string]bool{}
	for _, m := range domain.Modules() {
		keys[m.Key] = true
	}
	for _, m := range n.AffectedModules {
		if !keys[m] {
			return fmt.Errorf("affected_modules: %q is not a module", m)
		}
	}
	return nil
}

// Create opens an incident. A critical one notifies the operators.
func (s *Service) Create(ctx context.Context, n Opening) (domain.Incident, []domain.TimelineEntry, error) {
	if err := n.validate(); err != nil {
		return domain.Incident{}, nil, fmt.Errorf("%w: %w", domain.ErrInvalid, err)
	}
	now := s.now().UTC()
	in := domain.Incident{
		ID: domain.NewID("inc", now), Title: n.Title, Severity: n.Severity, Status: domain.IncidentActive,
		AffectedModules: nonNil(n.AffectedModules), Description: n.Description,
		StartedAt: now, UpdatedAt: now, Version: 1,
	}
	entry := domain.TimelineEntry{At: now, Kind: "created", Message: "opened by hand: " + in.Title, KeyID: n.KeyID}
	ev := Event(domain.EventIncidentCreated, in, n.KeyID, now, map[string]any{"incident_id": in.ID, "severity": in.Severity, "title": in.Title})
	if err := s.store.CreateIncident(ctx, in, entry, ev); err != nil {
		return domain.Incident{}, nil, err
	}
	if in.Severity == domain.SeverityCritical {
		s.tell(ctx, "Critical incident: "+in.Title, fmt.Sprintf("Incident %s opened at %s: %s", in.ID, now.Format(time.RFC3339), in.Description))
	}
	// The incident and its timeline as written: the caller answers with
	// them rather than reading them back, which could fail after the
	// write landed and make a client retry into a duplicate.
	return in, []domain.TimelineEntry{entry}, nil
}

func (s *Service) tell(ctx context.Context, subject, msg string) {
	if err := s.notify.Notify(ctx, subject, msg); err != nil {
		// The incident is recorded; a lost page must not undo it. The
		// log line is what an alarm on notification failures watches.
		s.log.Error("notify operators", "subject", subject, "error", err)
	}
}

// Update is a change to an incident. Nil fields are left as they are.
type Update struct {
	ID         string
	Status     *string
	RootCause  *string
	Resolution *string
	Version    *int // the version the client saw; nil: no check
	KeyID      string
}

// attempts bounds retries of an update without a client version that lost
// a race: it is re-applied to the newer incident.
const attempts = 3

// Apply changes an incident: statuses only move forward and resolved is
// final; a resolution resolves it. A version other than the incident's is
// a conflict. A change that changes nothing writes nothing.
func (s *Service) Apply(ctx context.Context, u Update) (domain.Incident, []domain.TimelineEntry, error) {
	if u.Status == nil && u.RootCause == nil && u.Resolution == nil {
		return domain.Incident{}, nil, fmt.Errorf("%w: nothing to update: give status, root_cause or resolution", domain.ErrInvalid)
	}
	if u.Status != nil && !domain.ValidIncidentStatus(*u.Status) {
		return domain.Incident{}, nil, fmt.Errorf("%w: status must be active, acknowledged, investigating or resolved", domain.ErrInvalid)
	}
	for _, f := range []*string{u.RootCause, u.Resolution} {
		if f != nil && utf8.RuneCountInString(*f) > MaxText {
			return domain.Incident{}, nil, fmt.Errorf("%w: root_cause and resolution must be at most %d characters", domain.ErrInvalid, MaxText)
		}
	}
	if u.Version != nil && *u.Version < 1 {
		return domain.Incident{}, nil, fmt.Errorf("%w: version must be a positive integer", domain.ErrInvalid)
	}
	// An update that names its version is refused on any change since;
	// one without is made again on what it finds.
	tries := attempts
	if u.Version != nil {
		tries = 1
	}
	type result struct {
		in       domain.Incident
		timeline []domain.TimelineEntry
	}
	res, err := domain.OnConflict(tries, func(int) (result, error) {
		before, timeline, err := s.store.Incident(ctx, u.ID)
		if err != nil {
			return result{}, err
		}
		if u.Version != nil && *u.Version != before.Version {
			return result{}, &domain.ConflictError{Code: "version_conflict",
				Message: fmt.Sprintf("incident %s is at version %d, not %d", before.ID, before.Version, *u.Version)}
		}
		now := s.now().UTC()
		after, entries, err := change(before, u, now)
		if err != nil {
			return result{}, err
		}
		if len(entries) == 0 {
			return result{before, timeline}, nil
		}
		changes := make([]string, len(entries))
		for i, e := range entries {
			changes[i] = e.Message
		}
		ev := Event(domain.EventIncidentUpdated, after, u.KeyID, now, map[string]any{
			"incident_id": after.ID, "status": after.Status, "version": after.Version, "changes": changes})
		if err := s.store.UpdateIncident(ctx, before, after, entries, ev); err != nil {
			return result{}, err
		}
		slices.Reverse(entries)
		return result{after, append(entries, timeline...)}, nil
	}, func() error {
		return &domain.ConflictError{Code: "version_conflict", Message: fmt.Sprintf("incident %s changed meanwhile; read it and retry", u.ID)}
	})
	if err != nil {
		return domain.Incident{}, nil, err
	}
	return res.in, res.timeline, nil
}

// change computes the incident after u and a timeline entry per change.
func change(in domain.Incident, u Update, now time.Time) (domain.Incident, []domain.TimelineEntry, error) {
	if in.Status == domain.IncidentResolved {
		return in, nil, &domain.RuleError{Code: "incident_resolved", Message: fmt.Sprintf("incident %s is resolved; resolved is final", in.ID)}
	}
	out := in
	var entries []domain.TimelineEntry
	add := func(kind, msg string) {
		entries = append(entries, domain.TimelineEntry{At: now, Kind: kind, Message: msg, KeyID: u.KeyID})
	}
	if u.RootCause != nil && *u.RootCause != in.RootCause {
		out.RootCause = *u.RootCause
		add("root_cause", "root cause: "+out.RootCause)
	}
	status := in.Status
	if u.Status != nil {
		status = *u.Status
	}
	if u.Resolution != nil && *u.Resolution != in.Resolution {
		out.Resolution = *u.Resolution
		status = domain.IncidentResolved
		add("resolution", "resolution: "+out.Resolution)
	}
	if status != in.Status {
		if !domain.Forward(in.Status, status) {
			return in, nil, &domain.RuleError{Code: "status_backwards", Message: fmt.Sprintf("incident %s cannot go from %s to %s: statuses only move forward", in.ID, in.Status, status)}
		}
		out.Status = status
		add("status", fmt.Sprintf("status: %s → %s", in.Status, status))
		if status == domain.IncidentResolved {
			out.ResolvedAt = &now
		}
	}
	if len(entries) > 0 {
		out.Version++
		out.UpdatedAt = now
	}
	return out, entries, nil
}

// Event is an incident event.
func Event(typ string, in domain.Incident, keyID string, at time.Time, data map[string]any) domain.Event {
	return domain.NewEvent(typ, in.ID, keyID, at, data)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
