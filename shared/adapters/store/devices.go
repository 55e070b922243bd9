package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
)

type deviceItem struct {
	keys
	domain.Device
	// RetiredAt is set when the device's valve or section is retired: it
	// is then no longer in the inventory.
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

func devicePK(id string) string { return "DEVICE#" + id }

// Device returns a device of the inventory, or ErrNotFound; a retired
// device is not in the inventory any more, so what it sends is a dead
// letter.
func (s *Store) Device(ctx context.Context, id string) (domain.Device, error) {
	var it deviceItem
	if err := s.get(ctx, devicePK(id), metaSK, &it); err != nil {
		return domain.Device{}, err
	}
	if it.RetiredAt != nil {
		return domain.Device{}, fmt.Errorf("device %s was retired: %w", id, domain.ErrNotFound)
	}
	return it.Device, nil
}

// Devices returns the whole inventory, ordered by id, without the retired
// devices.
func (s *Store) Devices(ctx context.Context) ([]domain.Device, error) {
	items, err := queryAll[deviceItem](ctx, s, query{index: indexGSI1, sc: gsiScope(indexGSI1, "DEVICES"), forward: true}, 0)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Device, 0, len(items))
	for _, it := range items {
		if it.RetiredAt == nil {
			out = append(out, it.Device)
		}
	}
	return out, nil
}

func (s *Store) seedDevices(ctx context.Context) error {
	for _, d := range domain.SeedDevices() {
		if err := s.putNew(ctx, deviceItem{keys: keys{PK: devicePK(d.ID), SK: metaSK, GSI1PK: "DEVICES", GSI1SK: d.ID}, Device: d}); err != nil {
			return fmt.Errorf("seed device %s: %w", d.ID, err)
		}
	}
	return nil
}

// OpenActuationsDue returns the actuations still open whose deadline is
// before now, oldest deadline first, at most limit.
func (s *Store) OpenActuationsDue(ctx context.Context, now time.Time, limit int) ([]domain.Actuation, error) {
	q := query{
		index: indexGSI2, sc: gsiScope(indexGSI2, openActuationsPartition), forward: true,
		sortKey: "#sk < :now", names: map[string]string{"#sk": attrGSI2SK},
		values: map[string]types.AttributeValue{":now": str(sortTime(now))},
	}
	items, err := queryAll[actuationItem](ctx, s, q, limit)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Actuation, len(items))
	for i, it := range items {
		out[i] = it.actuation()
	}
	return out, nil
}

// ApplyStatus applies a device's status report with its event, if the
// actuation is still open and the report is news. ErrConflict when it is
// not: the caller treats that as "already applied".
func (s *Store) ApplyStatus(ctx context.Context, st actuation.Progress) error {
	var tx Tx
	names := map[string]string{"#state": "state", "#step": "step"}
	values := map[string]types.AttributeValue{":to": str(st.To), ":step": num(float64(st.Step))}
	expr := "SET #state = :to, #step = :step"
	if st.Reason != "" {
		names["#reason"], values[":reason"] = "reason", str(st.Reason)
		expr += ", #reason = :reason"
	}
	if st.TorqueNm != nil {
		names["#torque"], values[":torque"] = "torque_nm", num(*st.TorqueNm)
		expr += ", #torque = :torque"
	}
	if st.DurationMs != nil {
		names["#duration"], values[":duration"] = "duration_ms", num(float64(*st.DurationMs))
		expr += ", #duration = :duration"
	}
	if st.Final {
		names["#completed"], names["#set"], names["#setsk"] = "completed_at", attrGSI2PK, attrGSI2SK
		values[":at"] = timeValue(st.At)
		expr += ", #completed = :at"
	}
	if st.Final {
		expr += " REMOVE #set, #setsk" // out of the open actuations' index
	}
	tx.update(valvePK(st.ValveID), actuationPrefix+st.ActuationID, expr,
		stillOpen(values)+" AND (attribute_not_exists(#step) OR #step < :step)", names, values)
	if st.Final {
		// An open actuation is always its valve's open one (starting,
		// replacing and ending keep them together in one transaction), so
		// the condition holds whenever the actuation's own does.
		vn := map[string]string{"#open": "open_actuation", "#seen": "last_seen"}
		vv := map[string]types.AttributeValue{":id": str(st.ActuationID), ":at": timeValue(st.At)}
		vexpr := "SET #seen = :at"
		if st.TorqueNm != nil {
			vn["#torque"], vn["#acted"] = "last_torque_nm", "last_actuation_time"
			vv[":torque"] = num(*st.TorqueNm)
			vexpr += ", #torque = :torque, #acted = :at"
		}
		vexpr += " REMOVE #open"
		tx.update(valvePK(st.ValveID), metaSK, vexpr, "#open = :id", vn, vv)
	}
	tx.PutEvent(st.Event)
	return s.Commit(ctx, &tx)
}
