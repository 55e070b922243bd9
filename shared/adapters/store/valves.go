package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

type valveItem struct {
	keys
	ID                   string     `json:"id"`
	Name                 string     `json:"name"`
	TemperatureC         *float64   `json:"temperature_c,omitempty"`
	PressurePa           *float64   `json:"pressure_pa,omitempty"`
	LastTorqueNm         *float64   `json:"last_torque_nm,omitempty"`
	LastActuationTime    *time.Time `json:"last_actuation_time,omitempty"`
	EstimatedMaintenance *time.Time `json:"estimated_maintenance,omitempty"`
	LastSeen             *time.Time `json:"last_seen,omitempty"`
	OpenActuation        string     `json:"open_actuation,omitempty"`
	OpenDeadline         *time.Time `json:"open_deadline,omitempty"`
	// The inventory's part (shared/adapters/store/inventory.go).
	Location   string             `json:"location,omitempty"`
	Thresholds *domain.Thresholds `json:"thresholds,omitempty"`
	RetiredAt  *time.Time         `json:"retired_at,omitempty"`
	// InventoryVersion counts the inventory's changes, for the condition
	// that no other change came in between.
	InventoryVersion int `json:"inventory_version,omitempty"`
}

func (it valveItem) valve() domain.Valve {
	return domain.Valve{
		ID: it.ID, Name: it.Name, TemperatureC: it.TemperatureC, PressurePa: it.PressurePa,
		LastTorqueNm: it.LastTorqueNm, LastActuationTime: it.LastActuationTime,
		EstimatedMaintenance: it.EstimatedMaintenance, LastSeen: it.LastSeen,
		OpenActuation: it.OpenActuation, OpenDeadline: it.OpenDeadline,
		Location: it.Location, Thresholds: it.Thresholds, RetiredAt: it.RetiredAt,
	}
}

func valvePK(id string) string { return "VALVE#" + id }

// Valves returns every valve in service, ordered by id; a retired valve
// is still there by its id (Valve), with its history. It reads the whole
// inventory: for jobs over the fleet, never for a request (ValvesPage).
func (s *Store) Valves(ctx context.Context) ([]domain.Valve, error) {
	items, err := queryAll[valveItem](ctx, s, valvesQuery(false), 0)
	if err != nil {
		return nil, err
	}
	return valvesOf(items), nil
}

// ValvesPage returns a page of the valves in id order, the retired ones
// too when retired is set, and the cursor of the next page ("" after the
// last). The retired are filtered out after the read, so a page may hold
// fewer than page.Limit valves with a next cursor still to follow.
func (s *Store) ValvesPage(ctx context.Context, retired bool, page domain.Page) ([]domain.Valve, string, error) {
	items, next, err := queryPage[valveItem](ctx, s, valvesQuery(retired), page)
	if err != nil {
		return nil, "", err
	}
	return valvesOf(items), next, nil
}

// valvesQuery reads the valves' index partition in id order; without
// retired, a filter drops the retired valves.
func valvesQuery(retired bool) query {
	q := query{index: indexGSI1, sc: gsiScope(indexGSI1, "VALVES"), forward: true}
	if !retired {
		q.filter, q.names = "attribute_not_exists(#retired)", map[string]string{"#retired": "retired_at"}
	}
	return q
}

func valvesOf(items []valveItem) []domain.Valve {
	out := make([]domain.Valve, len(items))
	for i, it := range items {
		out[i] = it.valve()
	}
	return out
}

// Valve returns one valve, or domain.ErrNotFound.
func (s *Store) Valve(ctx context.Context, id string) (domain.Valve, error) {
	var it valveItem
	if err := s.get(ctx, valvePK(id), metaSK, &it); err != nil {
		return domain.Valve{}, err
	}
	return it.valve(), nil
}

type actuationItem struct {
	keys
	domain.Actuation
	DeadlineAt time.Time `json:"deadline"`
	// Params shadows the embedded field: no parameters are stored as no
	// attribute rather than an empty map, the smaller item.
	Params *domain.ActuationParams `json:"params,omitempty"`
}

func (it actuationItem) actuation() domain.Actuation {
	a := it.Actuation
	a.Deadline = it.DeadlineAt
	if it.Params != nil {
		a.Params = *it.Params
	}
	return a
}

const actuationPrefix = "ACT#"

// Actuations returns a page of a valve's actuations, newest first.
// domain.ErrNotFound when the valve does not exist.
func (s *Store) Actuations(ctx context.Context, valveID string, page domain.Page) ([]domain.Actuation, string, error) {
	if _, err := s.Valve(ctx, valveID); err != nil {
		return nil, "", err
	}
	sc := tableScope(valvePK(valveID))
	sc.sortAttr, sc.sortPrefix = attrSK, actuationPrefix
	q := query{
		sc:      sc,
		sortKey: "begins_with(#sk, :act)",
		names:   map[string]string{"#sk": attrSK},
		values:  map[string]types.AttributeValue{":act": str(actuationPrefix)},
	}
	items, next, err := queryPage[actuationItem](ctx, s, q, page)
	if err != nil {
		return nil, "", err
	}
	out := make([]domain.Actuation, len(items))
	for i, it := range items {
		out[i] = it.actuation()
	}
	return out, next, nil
}

// Actuation returns one actuation of a valve, or domain.ErrNotFound.
func (s *Store) Actuation(ctx context.Context, valveID, id string) (domain.Actuation, error) {
	var it actuationItem
	if err := s.get(ctx, valvePK(valveID), actuationPrefix+id, &it); err != nil {
		return domain.Actuation{}, err
	}
	return it.actuation(), nil
}

// Seed creates the seed inventory of docs/API.md where it is missing. Existing
// valves and sections are left as they are, so seeding again at every
// start changes nothing.
func (s *Store) Seed(ctx context.Context) error {
	now := s.now().UTC()
	valves, sections := domain.SeedInventory()
	for _, v := range valves {
		due := now.Add(v.MaintenanceIn).Truncate(time.Second)
		it := valveItem{
			keys: keys{PK: valvePK(v.ID), SK: metaSK, GSI1PK: "VALVES", GSI1SK: v.ID},
			ID:   v.ID, Name: v.Name, TemperatureC: aws.Float64(v.TemperatureC), PressurePa: aws.Float64(v.PressurePa),
			EstimatedMaintenance: &due,
		}
		if err := s.putNew(ctx, it); err != nil {
			return fmt.Errorf("seed valve %s: %w", v.ID, err)
		}
	}
	for _, name := range sections {
		it := sectionItem{keys: keys{PK: sectionPK(name), SK: metaSK, GSI1PK: "SECTIONS", GSI1SK: name}, Name: name}
		if err := s.putNew(ctx, it); err != nil {
			return fmt.Errorf("seed section %s: %w", name, err)
		}
	}
	return s.seedDevices(ctx)
}

// putNew writes an item unless one with its key exists already.
func (s *Store) putNew(ctx context.Context, v any) error {
	item, err := marshal(v)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	var exists *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &exists) {
		return err
	}
	return nil
}
