package store

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

type sectionItem struct {
	keys
	Name         string     `json:"name"`
	PressureKPa  *float64   `json:"pressure_kpa,omitempty"`
	LastSeen     *time.Time `json:"last_seen,omitempty"`
	LastIncident string     `json:"last_incident,omitempty"`
	// The inventory's part (shared/adapters/store/inventory.go).
	Location         string     `json:"location,omitempty"`
	RetiredAt        *time.Time `json:"retired_at,omitempty"`
	InventoryVersion int        `json:"inventory_version,omitempty"`
}

func (it sectionItem) section() domain.Section {
	return domain.Section{Name: it.Name, PressureKPa: it.PressureKPa, LastSeen: it.LastSeen, LastIncident: it.LastIncident,
		Location: it.Location, RetiredAt: it.RetiredAt}
}

func sectionPK(name string) string { return "SECTION#" + name }

// Sections returns every pipeline section in service, ordered by name; a
// retired one is still there by its name (Section). It reads the whole
// inventory: for jobs over the fleet, never for a request (SectionsPage).
func (s *Store) Sections(ctx context.Context) ([]domain.Section, error) {
	items, err := queryAll[sectionItem](ctx, s, sectionsQuery(), 0)
	if err != nil {
		return nil, err
	}
	return sectionsOf(items), nil
}

// SectionsPage returns a page of the sections in service in name order,
// and the cursor of the next page ("" after the last). The retired are
// filtered out after the read, so a page may hold fewer than page.Limit.
func (s *Store) SectionsPage(ctx context.Context, page domain.Page) ([]domain.Section, string, error) {
	items, next, err := queryPage[sectionItem](ctx, s, sectionsQuery(), page)
	if err != nil {
		return nil, "", err
	}
	return sectionsOf(items), next, nil
}

func sectionsQuery() query {
	return query{index: indexGSI1, sc: gsiScope(indexGSI1, "SECTIONS"), forward: true,
		filter: "attribute_not_exists(#retired)", names: map[string]string{"#retired": "retired_at"}}
}

func sectionsOf(items []sectionItem) []domain.Section {
	out := make([]domain.Section, len(items))
	for i, it := range items {
		out[i] = it.section()
	}
	return out
}

// Section returns one section, or domain.ErrNotFound.
func (s *Store) Section(ctx context.Context, name string) (domain.Section, error) {
	var it sectionItem
	if err := s.get(ctx, sectionPK(name), metaSK, &it); err != nil {
		return domain.Section{}, err
	}
	return it.section(), nil
}

type alertItem struct {
	keys
	domain.Alert
}

func alertsOf(items []alertItem) []domain.Alert {
	out := make([]domain.Alert, len(items))
	for i, it := range items {
		out[i] = it.Alert
	}
	return out
}

const (
	alertsPartition         = "ALERTS"
	activeAlertsPartition   = "ACTIVE_ALERTS"
	repairedAlertsPartition = "REPAIRED_ALERTS"
)

// ActiveAlerts returns the leaks not yet repaired, newest first; with a
// section, only that section's.
func (s *Store) ActiveAlerts(ctx context.Context, section string) ([]domain.Alert, error) {
	q := query{index: indexGSI2, sc: gsiScope(indexGSI2, activeAlertsPartition)}
	if section != "" {
		q.filter = "#section = :section"
		q.names = map[string]string{"#section": "section"}
		q.values = map[string]types.AttributeValue{":section": str(section)}
	}
	items, err := queryAll[alertItem](ctx, s, q, 0)
	if err != nil {
		return nil, err
	}
	return alertsOf(items), nil
}

// RecentAlerts returns the newest alerts, repaired or not, at most limit.
func (s *Store) RecentAlerts(ctx context.Context, limit int) ([]domain.Alert, error) {
	items, err := queryAll[alertItem](ctx, s, query{index: indexGSI1, sc: gsiScope(indexGSI1, alertsPartition)}, limit)
	if err != nil {
		return nil, err
	}
	return alertsOf(items), nil
}

// Alert returns one alert, or domain.ErrNotFound.
func (s *Store) Alert(ctx context.Context, id string) (domain.Alert, error) {
	var it alertItem
	if err := s.get(ctx, "ALERT#"+id, metaSK, &it); err != nil {
		return domain.Alert{}, err
	}
	return it.Alert, nil
}
