package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/inventory"
)

// The inventory's writes: valves and sections with their devices. Each
// lands with its inventory.changed event in one transaction. A change
// names the inventory version it was made from, so two changes made from
// the same reading cannot both land: the second is domain.ErrConflict.

// CreateValve records a new valve, its device (a valve is its own device,
// by the same id) and ev. ErrConflict when the id is taken, by a valve or
// by any device.
func (s *Store) CreateValve(ctx context.Context, v domain.Valve, ev domain.Event) error {
	var tx Tx
	tx.putNew(valveItem{
		keys: keys{PK: valvePK(v.ID), SK: metaSK, GSI1PK: "VALVES", GSI1SK: v.ID},
		ID:   v.ID, Name: v.Name, Location: v.Location, Thresholds: v.Thresholds,
		EstimatedMaintenance: v.EstimatedMaintenance, InventoryVersion: 1,
	})
	tx.putDevice(domain.Device{ID: v.ID, Kind: domain.DeviceValve, Asset: v.ID})
	tx.PutEvent(ev)
	return s.Commit(ctx, &tx)
}

// CreateSection records a new pipeline section, its pressure gauge (a
// device named after it) and ev. ErrConflict when the name is taken.
func (s *Store) CreateSection(ctx context.Context, sec domain.Section, ev domain.Event) error {
	var tx Tx
	tx.putNew(sectionItem{
		keys: keys{PK: sectionPK(sec.Name), SK: metaSK, GSI1PK: "SECTIONS", GSI1SK: sec.Name},
		Name: sec.Name, Location: sec.Location, InventoryVersion: 1,
	})
	tx.putDevice(domain.Device{ID: sec.Name, Kind: domain.DeviceGauge, Asset: sec.Name})
	tx.PutEvent(ev)
	return s.Commit(ctx, &tx)
}

func (tx *Tx) putDevice(d domain.Device) {
	tx.putNew(deviceItem{keys: keys{PK: devicePK(d.ID), SK: metaSK, GSI1PK: "DEVICES", GSI1SK: d.ID}, Device: d})
}

// ValveRecord reads a valve for a change of the inventory.
func (s *Store) ValveRecord(ctx context.Context, id string) (inventory.ValveRecord, error) {
	var it valveItem
	if err := s.get(ctx, valvePK(id), metaSK, &it); err != nil {
		return inventory.ValveRecord{}, err
	}
	return inventory.ValveRecord{Valve: it.valve(), Version: it.InventoryVersion}, nil
}

// SectionRecord reads a section for a change of the inventory.
func (s *Store) SectionRecord(ctx context.Context, name string) (inventory.SectionRecord, error) {
	var it sectionItem
	if err := s.get(ctx, sectionPK(name), metaSK, &it); err != nil {
		return inventory.SectionRecord{}, err
	}
	return inventory.SectionRecord{Section: it.section(), Version: it.InventoryVersion}, nil
}

// UpdateValve writes the inventory's part of v (name, location,
// estimated maintenance, thresholds; an absent one is written as NULL,
// since the local DynamoDB does not do REMOVE) if the valve is in service
// and still at version from.
func (s *Store) UpdateValve(ctx context.Context, v domain.Valve, from int, ev domain.Event) error {
	var tx Tx
	names := map[string]string{"#name": "name", "#loc": "location", "#maint": "estimated_maintenance", "#th": "thresholds"}
	values := map[string]types.AttributeValue{":name": str(v.Name), ":loc": str(v.Location)}
	values[":maint"] = nullable(v.EstimatedMaintenance != nil, func() types.AttributeValue { return timeValue(*v.EstimatedMaintenance) })
	if v.Thresholds != nil {
		th, err := marshalValue(*v.Thresholds)
		if err != nil {
			return err
		}
		values[":th"] = th
	} else {
		values[":th"] = &types.AttributeValueMemberNULL{Value: true}
	}
	tx.updateInventory(valvePK(v.ID), "SET #name = :name, #loc = :loc, #maint = :maint, #th = :th", from, names, values)
	tx.PutEvent(ev)
	return s.Commit(ctx, &tx)
}

// UpdateSection writes a section's location if it is in service and still
// at version from.
func (s *Store) UpdateSection(ctx context.Context, sec domain.Section, from int, ev domain.Event) error {
	var tx Tx
	tx.updateInventory(sectionPK(sec.Name), "SET #loc = :loc", from,
		map[string]string{"#loc": "location"}, map[string]types.AttributeValue{":loc": str(sec.Location)})
	tx.PutEvent(ev)
	return s.Commit(ctx, &tx)
}

// RetireValve takes a valve and its device out of service at a time, if
// it is at version from. Its actuations and events stay.
func (s *Store) RetireValve(ctx context.Context, id string, from int, at time.Time, ev domain.Event) error {
	return s.retire(ctx, valvePK(id), id, from, at, ev)
}

// RetireSection takes a section and its gauge out of service at a time.
func (s *Store) RetireSection(ctx context.Context, name string, from int, at time.Time, ev domain.Event) error {
	return s.retire(ctx, sectionPK(name), name, from, at, ev)
}

func (s *Store) retire(ctx context.Context, pk, device string, from int, at time.Time, ev domain.Event) error {
	var tx Tx
	tx.updateInventory(pk, "SET #retired = :at", from,
		map[string]string{"#retired": "retired_at"}, map[string]types.AttributeValue{":at": timeValue(at)})
	tx.update(devicePK(device), metaSK, "SET #retired = :at", "attribute_exists(pk)",
		map[string]string{"#retired": "retired_at"}, map[string]types.AttributeValue{":at": timeValue(at)})
	tx.PutEvent(ev)
	return s.Commit(ctx, &tx)
}

// updateInventory adds an update of an item in service at version from,
// which moves it to the next version.
func (tx *Tx) updateInventory(pk, expr string, from int, names map[string]string, values map[string]types.AttributeValue) {
	names["#ver"] = "inventory_version"
	names["#retired"] = "retired_at"
	values[":from"] = &types.AttributeValueMemberN{Value: strconv.Itoa(from)}
	values[":to"] = &types.AttributeValueMemberN{Value: strconv.Itoa(from + 1)}
	cond := "attribute_exists(pk) AND attribute_not_exists(#retired) AND #ver = :from"
	if from == 0 {
		// The seed's items predate the inventory's version.
		cond = "attribute_exists(pk) AND attribute_not_exists(#retired) AND (attribute_not_exists(#ver) OR #ver = :from)"
	}
	tx.update(pk, metaSK, expr+", #ver = :to", cond, names, values)
}

func nullable(present bool, v func() types.AttributeValue) types.AttributeValue {
	if !present {
		return &types.AttributeValueMemberNULL{Value: true}
	}
	return v()
}

// marshalValue is one attribute value, encoded as marshal encodes items.
func marshalValue(v any) (types.AttributeValue, error) {
	m, err := marshal(struct {
		V any `json:"v"`
	}{v})
	if err != nil {
		return nil, fmt.Errorf("marshal value: %w", err)
	}
	return m["v"], nil
}
