// Package inventory registers, changes and retires valves and pipeline
// sections, the assets operators manage through the admin routes. Each is a
// device too (a valve is its own actuator, a section has a pressure gauge
// of its name), registered in the same transaction, and every change is an
// inventory.changed event with the key that made it.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/plainview/serverless/shared/core/domain"
)

// Store is what the service needs of the table.
type Store interface {
	CreateValve(ctx context.Context, v domain.Valve, ev domain.Event) error
	ValveRecord(ctx context.Context, id string) (ValveRecord, error)
	UpdateValve(ctx context.Context, v domain.Valve, from int, ev domain.Event) error
	RetireValve(ctx context.Context, id string, from int, at time.Time, ev domain.Event) error
	CreateSection(ctx context.Context, s domain.Section, ev domain.Event) error
	SectionRecord(ctx context.Context, name string) (SectionRecord, error)
	UpdateSection(ctx context.Context, s domain.Section, from int, ev domain.Event) error
	RetireSection(ctx context.Context, name string, from int, at time.Time, ev domain.Event) error
}

// Service applies the inventory's rules and records the changes.
type Service struct {
	store Store
	now   func() time.Time
}

// New returns the service over st; now nil means time.Now.
func New(st Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, now: now}
}

// Limits of the free-text fields.
const (
	maxName     = 100
	maxLocation = 200
)

// attempts bounds the retries of a change that met another change: each
// retry reads the record again and applies the change to what it finds.
const attempts = 3

// Field is an optional field of a change: not Set leaves it as it is; Set
// with a nil Value clears it.
type Field[T any] struct {
	Set   bool
	Value *T
}

// NewValve is a valve to register.
type NewValve struct {
	ID, Name, Location   string
	EstimatedMaintenance *time.Time
	// Thresholds overrides some or all of the defaults.
	Thresholds *PartialThresholds
	KeyID      string
}

// PartialThresholds are thresholds of which a client may give only some;
// the rest are the valve's current ones (the defaults for a new valve).
type PartialThresholds struct {
	TemperatureWarningC, TemperatureOfflineC *float64
	PressureWarningPa, PressureOfflinePa     *float64
}

func (p PartialThresholds) over(base domain.Thresholds) domain.Thresholds {
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&base.TemperatureWarningC, p.TemperatureWarningC)
	set(&base.TemperatureOfflineC, p.TemperatureOfflineC)
	set(&base.PressureWarningPa, p.PressureWarningPa)
	set(&base.PressureOfflinePa, p.PressureOfflinePa)
	return base
}

// ValveChange changes a valve: each field Set is written.
type ValveChange struct {
	ID                   string
	Name, Location       Field[string]
	EstimatedMaintenance Field[time.Time]
	Thresholds           Field[PartialThresholds]
	KeyID                string
}

// SectionChange changes a section's location.
type SectionChange struct {
	Name     string
	Location Field[string]
	KeyID    string
}

// Kinds of inventory entry, and what happened to one, in the events.
const (
	kindValve   = "valve"
	kindSection = "section"

	actionCreated = "created"
	actionChanged = "changed"
	actionRetired = "retired"
)

// changedData is the data of an inventory.changed event.
type changedData struct {
	Action string `json:"action"`
	Kind   string `json:"kind"`
	// Fields names what a change set.
	Fields []string `json:"fields,omitempty"`
}

// CreateValve registers a valve and its device.
func (s *Service) CreateValve(ctx context.Context, n NewValve) (domain.Valve, error) {
	if !domain.ValidID(n.ID) {
		return domain.Valve{}, invalid("id must be 1 to 64 letters, digits, - or _")
	}
	if err := checkText("name", n.Name, 1, maxName); err != nil {
		return domain.Valve{}, err
	}
	if err := checkText("location", n.Location, 0, maxLocation); err != nil {
		return domain.Valve{}, err
	}
	if err := checkMaintenance(n.EstimatedMaintenance); err != nil {
		return domain.Valve{}, err
	}
	v := domain.Valve{ID: n.ID, Name: n.Name, Location: n.Location, EstimatedMaintenance: utc(n.EstimatedMaintenance)}
	if n.Thresholds != nil {
		th := n.Thresholds.over(domain.DefaultThresholds())
		if err := th.Validate(); err != nil {
			return domain.Valve{}, err
		}
		v.Thresholds = &th
	}
	now := s.now().UTC()
	ev := domain.NewEvent(domain.EventInventoryChanged, v.ID, n.KeyID, now, changedData{Action: actionCreated, Kind: kindValve})
	if err := s.store.CreateValve(ctx, v, ev); err != nil {
		if errors.Is(err, domain.ErrConflict) {
			return domain.Valve{}, taken(v.ID)
		}
		return domain.Valve{}, err
	}
	return v, nil
}

// ChangeValve applies c to the valve. A retired valve refuses with 422.
func (s *Service) ChangeValve(ctx context.Context, c ValveChange) (domain.Valve, error) {
	fields, err := c.check()
	if err != nil {
		return domain.Valve{}, err
	}
	return again(kindValve, c.ID, func() (domain.Valve, error) {
		rec, err := s.store.ValveRecord(ctx, c.ID)
		if err != nil {
			return domain.Valve{}, err
		}
		if rec.RetiredAt != nil {
			return domain.Valve{}, retired(kindValve, c.ID)
		}
		v := rec.Valve
		if c.Name.Set {
			v.Name = *c.Name.Value
		}
		if c.Location.Set {
			v.Location = deref(c.Location.Value)
		}
		if c.EstimatedMaintenance.Set {
			v.EstimatedMaintenance = utc(c.EstimatedMaintenance.Value)
		}
		if c.Thresholds.Set {
			v.Thresholds = nil
			if c.Thresholds.Value != nil {
				th := c.Thresholds.Value.over(rec.Limits())
				if err := th.Validate(); err != nil {
					return domain.Valve{}, err
				}
				v.Thresholds = &th
			}
		}
		now := s.now().UTC()
		ev := domain.NewEvent(domain.EventInventoryChanged, v.ID, c.KeyID, now, changedData{Action: actionChanged, Kind: kindValve, Fields: fields})
		if err := s.store.UpdateValve(ctx, v, rec.Version, ev); err != nil {
			return domain.Valve{}, err
		}
		return v, nil
	})
}

// RetireValve takes a valve out of service: it keeps its history, takes no
// command and its device may not connect.
func (s *Service) RetireValve(ctx context.Context, id, keyID string) (domain.Valve, error) {
	if !domain.ValidID(id) {
		return domain.Valve{}, domain.ErrNotFound
	}
	return again(kindValve, id, func() (domain.Valve, error) {
		rec, err := s.store.ValveRecord(ctx, id)
		if err != nil {
			return domain.Valve{}, err
		}
		if rec.RetiredAt != nil {
			return domain.Valve{}, retired(kindValve, id)
		}
		now := s.now().UTC()
		ev := domain.NewEvent(domain.EventInventoryChanged, id, keyID, now, changedData{Action: actionRetired, Kind: kindValve})
		if err := s.store.RetireValve(ctx, id, rec.Version, now, ev); err != nil {
			return domain.Valve{}, err
		}
		v := rec.Valve
		v.RetiredAt = &now
		return v, nil
	})
}

// CreateSection registers a pipeline section and its gauge.
func (s *Service) CreateSection(ctx context.Context, name, location, keyID string) (domain.Section, error) {
	if !domain.ValidID(name) {
		return domain.Section{}, invalid("name must be 1 to 64 letters, digits, - or _")
	}
	if err := checkText("location", location, 0, maxLocation); err != nil {
		return domain.Section{}, err
	}
	sec := domain.Section{Name: name, Location: location}
	ev := domain.NewEvent(domain.EventInventoryChanged, name, keyID, s.now().UTC(), changedData{Action: actionCreated, Kind: kindSection})
	if err := s.store.CreateSection(ctx, sec, ev); err != nil {
		if errors.Is(err, domain.ErrConflict) {
			return domain.Section{}, taken(name)
		}
		return domain.Section{}, err
	}
	return sec, nil
}

// ChangeSection applies c to the section. A retired section refuses with
// 422.
func (s *Service) ChangeSection(ctx context.Context, c SectionChange) (domain.Section, error) {
	if !c.Location.Set {
		return domain.Section{}, invalid("nothing to change: give location")
	}
	if err := checkText("location", deref(c.Location.Value), 0, maxLocation); err != nil {
		return domain.Section{}, err
	}
	return again(kindSection, c.Name, func() (domain.Section, error) {
		rec, err := s.store.SectionRecord(ctx, c.Name)
		if err != nil {
			return domain.Section{}, err
		}
		if rec.RetiredAt != nil {
			return domain.Section{}, retired(kindSection, c.Name)
		}
		sec := rec.Section
		sec.Location = deref(c.Location.Value)
		ev := domain.NewEvent(domain.EventInventoryChanged, sec.Name, c.KeyID, s.now().UTC(),
			changedData{Action: actionChanged, Kind: kindSection, Fields: []string{"location"}})
		if err := s.store.UpdateSection(ctx, sec, rec.Version, ev); err != nil {
			return domain.Section{}, err
		}
		return sec, nil
	})
}

// RetireSection takes a section and its gauge out of service.
func (s *Service) RetireSection(ctx context.Context, name, keyID string) (domain.Section, error) {
	return again(kindSection, name, func() (domain.Section, error) {
		rec, err := s.store.SectionRecord(ctx, name)
		if err != nil {
			return domain.Section{}, err
		}
		if rec.RetiredAt != nil {
			return domain.Section{}, retired(kindSection, name)
		}
		now := s.now().UTC()
		ev := domain.NewEvent(domain.EventInventoryChanged, name, keyID, now, changedData{Action: actionRetired, Kind: kindSection})
		if err := s.store.RetireSection(ctx, name, rec.Version, now, ev); err != nil {
			return domain.Section{}, err
		}
		sec := rec.Section
		sec.RetiredAt = &now
		return sec, nil
	})
}

// check validates a valve change and names the fields it sets.
func (c ValveChange) check() ([]string, error) {
	var fields []string
	if c.Name.Set {
		if c.Name.Value == nil {
			return nil, invalid("name cannot be cleared")
		}
		if err := checkText("name", *c.Name.Value, 1, maxName); err != nil {
			return nil, err
		}
		fields = append(fields, "name")
	}
	if c.Location.Set {
		if err := checkText("location", deref(c.Location.Value), 0, maxLocation); err != nil {
			return nil, err
		}
		fields = append(fields, "location")
	}
	if c.EstimatedMaintenance.Set {
		if err := checkMaintenance(c.EstimatedMaintenance.Value); err != nil {
			return nil, err
		}
		fields = append(fields, "estimated_maintenance")
	}
	if c.Thresholds.Set {
		fields = append(fields, "thresholds")
	}
	if len(fields) == 0 {
		return nil, invalid("nothing to change: give name, location, estimated_maintenance or thresholds")
	}
	return fields, nil
}

// again runs attempt, which reads a record and writes a change made from
// it, until the write lands: a change that met another is read and made
// again, up to attempts times, and then answered 409.
func again[T any](kind, id string, attempt func() (T, error)) (T, error) {
	return domain.OnConflict(attempts, func(int) (T, error) { return attempt() }, func() error {
		return &domain.ConflictError{Code: "conflict", Message: fmt.Sprintf("%s %s changed while this change was being recorded; retry", kind, id)}
	})
}

// taken answers a registration whose id another asset has.
func taken(id string) error {
	return &domain.ConflictError{Code: "asset_exists", Message: fmt.Sprintf("%s is taken: a valve, section or device has that id", id)}
}

func retired(kind, id string) error {
	return &domain.RuleError{Code: kind + "_retired", Message: fmt.Sprintf("%s %s is retired: it keeps its history and takes no change", kind, id)}
}

// checkMaintenance bounds a maintenance date: a valve in service now was
// serviced, or will be, within this century. Year 1 or 9999 is a client's
// bug, and would sort and display as nonsense.
func checkMaintenance(t *time.Time) error {
	earliest, latest := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	if t != nil && (t.Before(earliest) || !t.Before(latest)) {
		return invalid("estimated_maintenance must be from 2000-01-01 to 2099-12-31")
	}
	return nil
}

func invalid(msg string) error { return fmt.Errorf("%w: %s", domain.ErrInvalid, msg) }

// checkText checks a free-text field: min to max characters of UTF-8,
// without control characters, not only spaces when required.
func checkText(field, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	if !utf8.ValidString(s) || n < min || n > max || (min > 0 && strings.TrimSpace(s) == "") {
		return invalid(fmt.Sprintf("%s must be %d to %d characters", field, min, max))
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return invalid(field + " must not hold control characters")
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
