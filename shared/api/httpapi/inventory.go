package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/inventory"
)

// Inventory registers, changes and retires valves and sections (the admin
// routes).
type Inventory interface {
	CreateValve(ctx context.Context, n inventory.NewValve) (domain.Valve, error)
	ChangeValve(ctx context.Context, c inventory.ValveChange) (domain.Valve, error)
	RetireValve(ctx context.Context, id, keyID string) (domain.Valve, error)
	CreateSection(ctx context.Context, name, location, keyID string) (domain.Section, error)
	ChangeSection(ctx context.Context, c inventory.SectionChange) (domain.Section, error)
	RetireSection(ctx context.Context, name, keyID string) (domain.Section, error)
}

// InventoryRoutes serves the admin routes of the inventory over inv.
func InventoryRoutes(inv Inventory) Routes {
	return func(a *API, h map[string]http.Handler) {
		a.w.inventory = inv
		h["POST /valves"] = a.idempotent(a.createValve)
		h["POST /valves/{id}/update"] = a.idempotent(a.changeValve)
		h["POST /valves/{id}/retire"] = a.idempotent(a.retireValve)
		h["POST /pipeline/sections"] = a.idempotent(a.createSection)
		h["POST /pipeline/sections/{section}/update"] = a.idempotent(a.changeSection)
		h["POST /pipeline/sections/{section}/retire"] = a.idempotent(a.retireSection)
	}
}

// thresholdsBody is a valve's thresholds as a client gives them: any of
// the four; the others stay as they are (the defaults for a new valve).
// Optional members of the bodies are omitempty for the OpenAPI document
// (openapi.go); decoding ignores it.
type thresholdsBody struct {
	TemperatureWarningC *float64 `json:"temperature_warning_c,omitempty"`
	TemperatureOfflineC *float64 `json:"temperature_offline_c,omitempty"`
	PressureWarningPa   *float64 `json:"pressure_warning_pa,omitempty"`
	PressureOfflinePa   *float64 `json:"pressure_offline_pa,omitempty"`
}

func (b thresholdsBody) partial() inventory.PartialThresholds {
	return inventory.PartialThresholds{
		TemperatureWarningC: b.TemperatureWarningC, TemperatureOfflineC: b.TemperatureOfflineC,
		PressureWarningPa: b.PressureWarningPa, PressureOfflinePa: b.PressureOfflinePa,
	}
}

type newValveBody struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	Location             string          `json:"location,omitempty"`
	EstimatedMaintenance *time.Time      `json:"estimated_maintenance,omitempty"`
	Thresholds           *thresholdsBody `json:"thresholds,omitempty"`
}

func (a *API) createValve(r *http.Request) (answer, error) {
	if err := noQuery(r); err != nil {
		return answer{}, err
	}
	var body newValveBody
	if _, err := decodeBody(r, &body, false); err != nil {
		return answer{}, err
	}
	if domain.ValidID(body.ID) {
		if err := mayUse(r, body.ID); err != nil {
			return answer{}, err
		}
	}
	n := inventory.NewValve{ID: body.ID, Name: body.Name, Location: body.Location,
		EstimatedMaintenance: body.EstimatedMaintenance, KeyID: keyID(r)}
	if body.Thresholds != nil {
		p := body.Thresholds.partial()
		n.Thresholds = &p
	}
	v, err := a.w.inventory.CreateValve(r.Context(), n)
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusCreated, location: "/valves/" + v.ID, body: viewValve(v, a.cfg.Now())}, nil
}

// valveChangeBody tells a field left out (nil) from one set to null
// ("null"), which clears it.
type valveChangeBody struct {
	Name                 json.RawMessage `json:"name,omitempty"`
	Location             json.RawMessage `json:"location,omitempty"`
	EstimatedMaintenance json.RawMessage `json:"estimated_maintenance,omitempty"`
	Thresholds           json.RawMessage `json:"thresholds,omitempty"`
}

func (a *API) changeValve(r *http.Request) (answer, error) {
	id, err := a.inventoryTarget(r, "id")
	if err != nil {
		return answer{}, err
	}
	var body valveChangeBody
	if _, err := decodeBody(r, &body, false); err != nil {
		return answer{}, err
	}
	c := inventory.ValveChange{ID: id, KeyID: keyID(r)}
	if c.Name, err = field[string](body.Name, "name"); err != nil {
		return answer{}, err
	}
	if c.Location, err = field[string](body.Location, "location"); err != nil {
		return answer{}, err
	}
	if c.EstimatedMaintenance, err = field[time.Time](body.EstimatedMaintenance, "estimated_maintenance"); err != nil {
		return answer{}, err
	}
	th, err := field[thresholdsBody](body.Thresholds, "thresholds")
	if err != nil {
		return answer{}, err
	}
	c.Thresholds.Set = th.Set
	if th.Value != nil {
		p := th.Value.partial()
		c.Thresholds.Value = &p
	}
	v, err := a.w.inventory.ChangeValve(r.Context(), c)
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusOK, body: viewValve(v, a.cfg.Now())}, nil
}

func (a *API) retireValve(r *http.Request) (answer, error) {
	id, err := a.inventoryTarget(r, "id")
	if err != nil {
		return answer{}, err
	}
	if _, err := decodeBody(r, &struct{}{}, true); err != nil {
		return answer{}, err
	}
	v, err := a.w.inventory.RetireValve(r.Context(), id, keyID(r))
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusOK, body: viewValve(v, a.cfg.Now())}, nil
}

// sectionView is a section as the inventory routes answer it.
type sectionView struct {
	Section   string     `json:"section"`
	Location  string     `json:"location"`
	RetiredAt *time.Time `json:"retired_at"`
}

func viewSection(s domain.Section) sectionView {
	return sectionView{Section: s.Name, Location: s.Location, RetiredAt: s.RetiredAt}
}

type newSectionBody struct {
	Section  string `json:"section"`
	Location string `json:"location,omitempty"`
}

func (a *API) createSection(r *http.Request) (answer, error) {
	if err := noQuery(r); err != nil {
		return answer{}, err
	}
	var body newSectionBody
	if _, err := decodeBody(r, &body, false); err != nil {
		return answer{}, err
	}
	if domain.ValidID(body.Section) {
		if err := mayUse(r, body.Section); err != nil {
			return answer{}, err
		}
	}
	s, err := a.w.inventory.CreateSection(r.Context(), body.Section, body.Location, keyID(r))
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusCreated, location: "/pipeline/sections/" + s.Name, body: viewSection(s)}, nil
}

type sectionChangeBody struct {
	Location json.RawMessage `json:"location,omitempty"`
}

func (a *API) changeSection(r *http.Request) (answer, error) {
	name, err := a.inventoryTarget(r, "section")
	if err != nil {
		return answer{}, err
	}
	var body sectionChangeBody
	if _, err := decodeBody(r, &body, false); err != nil {
		return answer{}, err
	}
	c := inventory.SectionChange{Name: name, KeyID: keyID(r)}
	if c.Location, err = field[string](body.Location, "location"); err != nil {
		return answer{}, err
	}
	s, err := a.w.inventory.ChangeSection(r.Context(), c)
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusOK, body: viewSection(s)}, nil
}

func (a *API) retireSection(r *http.Request) (answer, error) {
	name, err := a.inventoryTarget(r, "section")
	if err != nil {
		return answer{}, err
	}
	if _, err := decodeBody(r, &struct{}{}, true); err != nil {
		return answer{}, err
	}
	s, err := a.w.inventory.RetireSection(r.Context(), name, keyID(r))
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusOK, body: viewSection(s)}, nil
}

// inventoryTarget reads the asset a change names: its id from the path,
// no query, and a key allowed to use it.
func (a *API) inventoryTarget(r *http.Request, param string) (string, error) {
	id, err := pathID(r, param)
	if err != nil {
		return "", err
	}
	if err := noQuery(r); err != nil {
		return "", err
	}
	return id, mayUse(r, id)
}

// field decodes one optional member of a change: absent leaves it, null
// clears it, a value sets it; a value of the wrong type is a 400 naming
// the member, and so is an unknown member inside an object.
func field[T any](raw json.RawMessage, name string) (inventory.Field[T], error) {
	if raw == nil {
		return inventory.Field[T]{}, nil
	}
	if string(raw) == "null" {
		return inventory.Field[T]{Set: true}, nil
	}
	var v T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return inventory.Field[T]{}, badRequest("body: " + name + ": " + jsonProblem(err))
	}
	return inventory.Field[T]{Set: true, Value: &v}, nil
}
