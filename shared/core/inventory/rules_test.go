package inventory_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/inventory"
)

// The inventory's rules over an in-memory store (memStore) that keeps the
// real one's promises: an id is one asset's (a valve, a section or a
// device), and a change lands only on the version it was made from. The
// tests beside this one run the same service on DynamoDB Local.

var at = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

type memStore struct {
	valves   map[string]inventory.ValveRecord
	sections map[string]inventory.SectionRecord
	events   []domain.Event
	writes   int
	// meddle, when set, runs before each versioned write with its number,
	// as another admin's request would between the read and the write.
	meddle func(n int)
}

func newMem() *memStore {
	m := &memStore{valves: map[string]inventory.ValveRecord{}, sections: map[string]inventory.SectionRecord{}}
	m.valves["v-101"] = inventory.ValveRecord{Valve: domain.Valve{ID: "v-101", Name: "Wellhead A1"}, Version: 1}
	m.sections["A-North"] = inventory.SectionRecord{Section: domain.Section{Name: "A-North"}, Version: 1}
	return m
}

func (m *memStore) taken(id string) bool {
	_, v := m.valves[id]
	_, s := m.sections[id]
	return v || s
}

// versioned counts a write that must find the record at version from;
// current reads the version after any meddling.
func (m *memStore) versioned(current func() int, from int) error {
	m.writes++
	if m.meddle != nil {
		m.meddle(m.writes)
	}
	if current() != from {
		return domain.ErrConflict
	}
	return nil
}

func (m *memStore) CreateValve(_ context.Context, v domain.Valve, ev domain.Event) error {
	m.writes++
	if m.taken(v.ID) {
		return domain.ErrConflict
	}
	m.valves[v.ID] = inventory.ValveRecord{Valve: v, Version: 1}
	m.events = append(m.events, ev)
	return nil
}

func (m *memStore) ValveRecord(_ context.Context, id string) (inventory.ValveRecord, error) {
	r, ok := m.valves[id]
	if !ok {
		return inventory.ValveRecord{}, domain.ErrNotFound
	}
	return r, nil
}

func (m *memStore) UpdateValve(_ context.Context, v domain.Valve, from int, ev domain.Event) error {
	if err := m.versioned(func() int { return m.valves[v.ID].Version }, from); err != nil {
		return err
	}
	m.valves[v.ID] = inventory.ValveRecord{Valve: v, Version: from + 1}
	m.events = append(m.events, ev)
	return nil
}

func (m *memStore) RetireValve(_ context.Context, id string, from int, when time.Time, ev domain.Event) error {
	if err := m.versioned(func() int { return m.valves[id].Version }, from); err != nil {
		return err
	}
	r := m.valves[id]
	r.RetiredAt, r.Version = &when, from+1
	m.valves[id] = r
	m.events = append(m.events, ev)
	return nil
}

func (m *memStore) CreateSection(_ context.Context, s domain.Section, ev domain.Event) error {
	m.writes++
	if m.taken(s.Name) {
		return domain.ErrConflict
	}
	m.sections[s.Name] = inventory.SectionRecord{Section: s, Version: 1}
	m.events = append(m.events, ev)
	return nil
}

func (m *memStore) SectionRecord(_ context.Context, name string) (inventory.SectionRecord, error) {
	r, ok := m.sections[name]
	if !ok {
		return inventory.SectionRecord{}, domain.ErrNotFound
	}
	return r, nil
}

func (m *memStore) UpdateSection(_ context.Context, s domain.Section, from int, ev domain.Event) error {
	if err := m.versioned(func() int { return m.sections[s.Name].Version }, from); err != nil {
		return err
	}
	m.sections[s.Name] = inventory.SectionRecord{Section: s, Version: from + 1}
	m.events = append(m.events, ev)
	return nil
}

func (m *memStore) RetireSection(_ context.Context, name string, from int, when time.Time, ev domain.Event) error {
	if err := m.versioned(func() int { return m.sections[name].Version }, from); err != nil {
		return err
	}
	r := m.sections[name]
	r.RetiredAt, r.Version = &when, from+1
	m.sections[name] = r
	m.events = append(m.events, ev)
	return nil
}

func svc(m *memStore) *inventory.Service { return inventory.New(m, func() time.Time { return at }) }

// wantErr checks an error against a want: "" none, "invalid" ErrInvalid,
// "not_found" ErrNotFound, else a rule's or a conflict's code.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	var rule *domain.RuleError
	var conflict *domain.ConflictError
	switch {
	case want == "":
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
	case want == "invalid":
		if !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	case want == "not_found":
		if !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	case errors.As(err, &rule):
		if rule.Code != want {
			t.Fatalf("rule %s, want %s", rule.Code, want)
		}
	case errors.As(err, &conflict):
		if conflict.Code != want {
			t.Fatalf("conflict %s, want %s", conflict.Code, want)
		}
	default:
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestRegisteringAValve(t *testing.T) {
	maint := time.Date(2027, 3, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name string
		nv   inventory.NewValve
		want string
	}{
		{"a valve", inventory.NewValve{ID: "v-200", Name: "Bypass D4", Location: "km 12.5", EstimatedMaintenance: &maint}, ""},
		{"with some thresholds", inventory.NewValve{ID: "v-200", Name: "Bypass D4",
			Thresholds: &inventory.PartialThresholds{TemperatureWarningC: ptr(40.0)}}, ""},
		{"an id that is no id", inventory.NewValve{ID: "v 200", Name: "x"}, "invalid"},
		{"no name", inventory.NewValve{ID: "v-200"}, "invalid"},
		{"a name of spaces", inventory.NewValve{ID: "v-200", Name: "   "}, "invalid"},
		{"a name too long", inventory.NewValve{ID: "v-200", Name: strings.Repeat("n", 101)}, "invalid"},
		{"a control character", inventory.NewValve{ID: "v-200", Name: "a\tb"}, "invalid"},
		{"a location too long", inventory.NewValve{ID: "v-200", Name: "x", Location: strings.Repeat("l", 201)}, "invalid"},
		{"maintenance in year 1", inventory.NewValve{ID: "v-200", Name: "x", EstimatedMaintenance: &time.Time{}}, "invalid"},
		{"a warning over its offline limit", inventory.NewValve{ID: "v-200", Name: "x",
			Thresholds: &inventory.PartialThresholds{TemperatureWarningC: ptr(80.0)}}, "invalid"},
		{"a valve's id", inventory.NewValve{ID: "v-101", Name: "again"}, "asset_exists"},
		{"a section's name", inventory.NewValve{ID: "A-North", Name: "x"}, "asset_exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMem()
			v, err := svc(m).CreateValve(t.Context(), tc.nv)
			wantErr(t, err, tc.want)
			if tc.want != "" {
				if len(m.events) != 0 {
					t.Errorf("events %v, want none", m.events)
				}
				return
			}
			stored := m.valves[tc.nv.ID].Valve
			if stored.Name != tc.nv.Name || v.ID != tc.nv.ID {
				t.Errorf("stored %+v, answered %+v", stored, v)
			}
			if tc.nv.EstimatedMaintenance != nil && stored.EstimatedMaintenance.Location() != time.UTC {
				t.Errorf("maintenance %v, want it in UTC", stored.EstimatedMaintenance)
			}
			if tc.nv.Thresholds != nil {
				want := domain.DefaultThresholds()
				want.TemperatureWarningC = 40
				if stored.Thresholds == nil || *stored.Thresholds != want {
					t.Errorf("thresholds %+v, want the defaults but the one given: %+v", stored.Thresholds, want)
				}
			}
			checkEvent(t, m, tc.nv.ID, "created", nil)
		})
	}
}

// checkEvent checks the last event: inventory.changed on asset by the
// key, with the action and the fields named.
func checkEvent(t *testing.T, m *memStore, asset, action string, fields []string) {
	t.Helper()
	if len(m.events) == 0 {
		t.Fatal("no event")
	}
	ev := m.events[len(m.events)-1]
	var data struct {
		Action string   `json:"action"`
		Fields []string `json:"fields"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if ev.Type != domain.EventInventoryChanged || ev.Asset != asset || data.Action != action || strings.Join(data.Fields, ",") != strings.Join(fields, ",") {
		t.Errorf("event %s on %s, %+v; want inventory.changed on %s, %s %v", ev.Type, ev.Asset, data, asset, action, fields)
	}
}

func TestChangingAValve(t *testing.T) {
	own := domain.Thresholds{TemperatureWarningC: 40, TemperatureOfflineC: 50, PressureWarningPa: 1e6, PressureOfflinePa: 2e6}
	for _, tc := range []struct {
		name   string
		change inventory.ValveChange
		retire bool // the valve is retired first
		want   string
		check  func(t *testing.T, v domain.Valve)
		fields []string
	}{
		{"nothing to change", inventory.ValveChange{ID: "v-101"}, false, "invalid", nil, nil},
		{"a name cleared", inventory.ValveChange{ID: "v-101", Name: inventory.Field[string]{Set: true}}, false, "invalid", nil, nil},
		{"an unknown valve", inventory.ValveChange{ID: "v-404", Name: inventory.Field[string]{Set: true, Value: ptr("x")}}, false, "not_found", nil, nil},
		{"a retired valve", inventory.ValveChange{ID: "v-101", Name: inventory.Field[string]{Set: true, Value: ptr("x")}}, true, "valve_retired", nil, nil},
		{"a location cleared", inventory.ValveChange{ID: "v-101", Location: inventory.Field[string]{Set: true}}, false, "",
			func(t *testing.T, v domain.Valve) {
				if v.Location != "" || v.Name != "Wellhead A1" {
					t.Errorf("valve %+v: want the location cleared, the name kept", v)
				}
			}, []string{"location"}},
		{"some thresholds: the others stay the valve's own", inventory.ValveChange{ID: "v-101",
			Thresholds: inventory.Field[inventory.PartialThresholds]{Set: true, Value: &inventory.PartialThresholds{PressureOfflinePa: ptr(2.5e6)}}}, false, "",
			func(t *testing.T, v domain.Valve) {
				want := own
				want.PressureOfflinePa = 2.5e6
				if v.Thresholds == nil || *v.Thresholds != want {
					t.Errorf("thresholds %+v, want %+v", v.Thresholds, want)
				}
			}, []string{"thresholds"}},
		{"thresholds null: back to the defaults", inventory.ValveChange{ID: "v-101",
			Thresholds: inventory.Field[inventory.PartialThresholds]{Set: true}}, false, "",
			func(t *testing.T, v domain.Valve) {
				if v.Thresholds != nil {
					t.Errorf("thresholds %+v, want none (the defaults)", v.Thresholds)
				}
			}, []string{"thresholds"}},
		{"thresholds that cross", inventory.ValveChange{ID: "v-101",
			Thresholds: inventory.Field[inventory.PartialThresholds]{Set: true, Value: &inventory.PartialThresholds{TemperatureWarningC: ptr(55.0)}}}, false, "invalid", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMem()
			r := m.valves["v-101"]
			r.Location, r.Thresholds = "pad 1", &own
			m.valves["v-101"] = r
			if tc.retire {
				if _, err := svc(m).RetireValve(t.Context(), "v-101", "admin"); err != nil {
					t.Fatal(err)
				}
			}
			before := len(m.events)
			v, err := svc(m).ChangeValve(t.Context(), tc.change)
			wantErr(t, err, tc.want)
			if tc.want != "" {
				if len(m.events) != before {
					t.Errorf("a refused change wrote an event")
				}
				return
			}
			tc.check(t, m.valves["v-101"].Valve)
			tc.check(t, v)
			checkEvent(t, m, "v-101", "changed", tc.fields)
		})
	}
}

// The retry-on-conflict branches of every change: one that meets another
// is read and made again on top of it; one that never stops meeting
// others is a 409 after a bounded number of attempts.
func TestAChangeThatMeetsAnotherIsMadeAgain(t *testing.T) {
	type op struct {
		name string
		do   func(s *inventory.Service, ctx context.Context) error
		// bump is another admin's change of the same record.
		bump func(m *memStore)
	}
	bumpValve := func(m *memStore) {
		r := m.valves["v-101"]
		r.Location, r.Version = "moved by another", r.Version+1
		m.valves["v-101"] = r
	}
	bumpSection := func(m *memStore) {
		r := m.sections["A-North"]
		r.LastIncident, r.Version = "inc-other", r.Version+1
		m.sections["A-North"] = r
	}
	ops := []op{
		{"change a valve", func(s *inventory.Service, ctx context.Context) error {
			_, err := s.ChangeValve(ctx, inventory.ValveChange{ID: "v-101", Name: inventory.Field[string]{Set: true, Value: ptr("renamed")}})
			return err
		}, bumpValve},
		{"retire a valve", func(s *inventory.Service, ctx context.Context) error {
			_, err := s.RetireValve(ctx, "v-101", "admin")
			return err
		}, bumpValve},
		{"change a section", func(s *inventory.Service, ctx context.Context) error {
			_, err := s.ChangeSection(ctx, inventory.SectionChange{Name: "A-North", Location: inventory.Field[string]{Set: true, Value: ptr("km 3")}})
			return err
		}, bumpSection},
		{"retire a section", func(s *inventory.Service, ctx context.Context) error {
			_, err := s.RetireSection(ctx, "A-North", "admin")
			return err
		}, bumpSection},
	}
	for _, o := range ops {
		t.Run(o.name+", once met", func(t *testing.T) {
			m := newMem()
			m.meddle = func(n int) {
				if n == 1 {
					o.bump(m)
				}
			}
			if err := o.do(svc(m), t.Context()); err != nil {
				t.Fatal(err)
			}
			if m.writes != 2 || len(m.events) != 1 {
				t.Errorf("%d writes, %d events: want the second write to land, once", m.writes, len(m.events))
			}
			if v, s := m.valves["v-101"], m.sections["A-North"]; v.Location != "moved by another" && s.LastIncident != "inc-other" {
				t.Errorf("the other change was lost: %+v %+v", v, s)
			}
		})
		t.Run(o.name+", never clear", func(t *testing.T) {
			m := newMem()
			m.meddle = func(int) { o.bump(m) }
			wantErr(t, o.do(svc(m), t.Context()), "conflict")
			if m.writes < 2 || m.writes > 5 || len(m.events) != 0 {
				t.Errorf("%d writes, %d events: want a few attempts, nothing written", m.writes, len(m.events))
			}
		})
	}
}

func TestRetiring(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(s *inventory.Service, ctx context.Context) error
		want string
	}{
		{"a valve", func(s *inventory.Service, ctx context.Context) error {
			v, err := s.RetireValve(ctx, "v-101", "admin")
			if err == nil && (v.RetiredAt == nil || !v.RetiredAt.Equal(at)) {
				t.Errorf("retired_at %v, want now", v.RetiredAt)
			}
			return err
		}, ""},
		{"a valve twice", func(s *inventory.Service, ctx context.Context) error {
			if _, err := s.RetireValve(ctx, "v-101", "admin"); err != nil {
				return err
			}
			_, err := s.RetireValve(ctx, "v-101", "admin")
			return err
		}, "valve_retired"},
		{"an id that is no id", func(s *inventory.Service, ctx context.Context) error {
			_, err := s.RetireValve(ctx, "v/101", "admin")
			return err
		}, "not_found"},
		{"a section", func(s *inventory.Service, ctx context.Context) error {
			_, err := s.RetireSection(ctx, "A-North", "admin")
			return err
		}, ""},
		{"a retired section's location", func(s *inventory.Service, ctx context.Context) error {
			if _, err := s.RetireSection(ctx, "A-North", "admin"); err != nil {
				return err
			}
			_, err := s.ChangeSection(ctx, inventory.SectionChange{Name: "A-North", Location: inventory.Field[string]{Set: true, Value: ptr("km 3")}})
			return err
		}, "section_retired"},
		{"a section change with nothing", func(s *inventory.Service, ctx context.Context) error {
			_, err := s.ChangeSection(ctx, inventory.SectionChange{Name: "A-North"})
			return err
		}, "invalid"},
		{"a section named as a valve", func(s *inventory.Service, ctx context.Context) error {
			_, err := s.CreateSection(ctx, "v-101", "", "admin")
			return err
		}, "asset_exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.do(svc(newMem()), t.Context()), tc.want)
		})
	}
}
