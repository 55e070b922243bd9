package ingest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
)

// telemetryMessage is plainview/devices/{id}/telemetry (directly or
// through Basic Ingest) and pipeline/pressure/{segment} (docs/devices.md): a time and readings.
type telemetryMessage struct {
	TS           *float64 `json:"ts"`
	TemperatureC *float64 `json:"temperature_c"`
	PressurePa   *float64 `json:"pressure_pa"`
	FlowRateLpm  *float64 `json:"flow_rate_lpm"`
	TorqueNm     *float64 `json:"torque_nm"`
	KPa          *float64 `json:"kpa"`
}

// maxSkew bounds how far a device's clock may be from the broker's.
const maxSkew = 24 * time.Hour

// reading validates a telemetry message into a reading.
func (s *Service) reading(ctx context.Context, m topics.Message, lookup deviceLookup) (domain.Device, domain.Reading, error) {
	dev, payload, err := s.admit(ctx, m, lookup)
	if err != nil {
		return dev, domain.Reading{}, err
	}
	// The topic names whose readings these are: the device's own (a
	// Basic Ingest topic names it the same way), or its section's.
	topic, _ := topics.Parse(m.Topic)
	pressure := topic.Kind == topics.Pressure
	switch {
	case pressure && (dev.Kind != domain.DeviceGauge || dev.Asset != topic.ID):
		return dev, domain.Reading{}, bad("client %q may not report pressure for %q", dev.ID, topic.ID)
	case topic.Kind == topics.Telemetry && topic.ID != dev.ID:
		return dev, domain.Reading{}, bad("client %q may not publish telemetry as %q", dev.ID, topic.ID)
	case !pressure && topic.Kind != topics.Telemetry:
		return dev, domain.Reading{}, bad("topic %q is not a telemetry topic", m.Topic)
	}
	var t telemetryMessage
	if err := decode(payload, &t); err != nil {
		return dev, domain.Reading{}, err
	}
	values := map[string]float64{}
	for _, f := range []struct {
		name   string
		v      *float64
		lo, hi float64
	}{
		{"temperature_c", t.TemperatureC, -60, 250},
		{"pressure_pa", t.PressurePa, 0, 100_000_000},
		{"flow_rate_lpm", t.FlowRateLpm, 0, 1_000_000},
		{"torque_nm", t.TorqueNm, 0, 100_000},
		{"kpa", t.KPa, 0, 100_000},
	} {
		if err := inRange(f.name, f.v, f.lo, f.hi); err != nil {
			return dev, domain.Reading{}, err
		}
		if f.v != nil {
			values[f.name] = *f.v
		}
	}
	if pressure && t.KPa == nil {
		return dev, domain.Reading{}, bad("a pressure message needs kpa")
	}
	if len(values) == 0 {
		return dev, domain.Reading{}, bad("no readings in the message")
	}
	received := time.UnixMilli(m.ReceivedMs).UTC()
	if m.ReceivedMs == 0 {
		received = s.now().UTC()
	}
	at := received
	if t.TS != nil {
		if !finite(*t.TS) {
			return dev, domain.Reading{}, bad("ts is not a number")
		}
		at = time.UnixMilli(int64(*t.TS * 1000)).UTC()
		if d := at.Sub(received); d > maxSkew || d < -maxSkew {
			return dev, domain.Reading{}, bad("ts %v is more than a day from the broker's time", *t.TS)
		}
	}
	return dev, domain.Reading{ID: messageID(m), Device: dev.ID, Asset: dev.Asset, At: at, Values: values}, nil
}

// HandleBatch ingests a batch of telemetry messages, as the telemetry
// stream delivers them. Bad messages are dead-lettered; it returns the
// indexes of the messages not stored (a dependency failed), which the
// stream delivers again, from the first of them on.
func (s *Service) HandleBatch(ctx context.Context, batch []topics.Message) []int {
	var (
		readings []domain.Reading
		devices  []domain.Device
		from     []int // index in batch of each reading
		failed   []int
		device   = oncePerBatch(s.store.Device)
	)
	for i, m := range batch {
		dev, r, err := s.reading(ctx, m, device)
		if err != nil {
			if err := s.settle(ctx, m, err); err != nil {
				s.log.Error("telemetry", "topic", m.Topic, "error", err)
				failed = append(failed, i)
			}
			continue
		}
		readings, devices, from = append(readings, r), append(devices, dev), append(from, i)
	}
	if len(readings) == 0 {
		return failed
	}
	fresh, err := s.Record(ctx, readings)
	if err != nil {
		s.log.Error("store readings", "count", len(readings), "error", err)
		return append(failed, from...)
	}
	byID := make(map[string]domain.Device, len(devices))
	for _, d := range devices {
		byID[d.ID] = d
	}
	// The latest readings per device: one update per device per batch.
	latest := map[string]int{}
	for i, r := range fresh {
		if j, ok := latest[r.Device]; !ok || !r.At.Before(fresh[j].At) { // the later in the batch wins a tie
			latest[r.Device] = i
		}
	}
	for _, i := range latest {
		if err := s.updateLatest(ctx, byID[fresh[i].Device], fresh[i]); err != nil {
			// The readings are stored; only the summary is behind, and the
			// next message of this device brings it up to date.
			s.log.Error("latest readings", "device", fresh[i].Device, "error", err)
		}
	}
	return failed
}

// Record stores validated readings, each once, and keeps what is derived
// from them: the flow aggregates and the anomalies. Readings already stored
// (a QoS 1 resend, the stream's second delivery of a batch's rest) are left out, found by one
// Query per device of its readings from an hour before its first reading in
// the batch to its last, which also brings the ten readings before the
// batch that anomaly detection judges it against. It answers the readings
// stored anew; an error means none of the aggregates were written and the
// batch may be retried.
func (s *Service) Record(ctx context.Context, readings []domain.Reading) ([]domain.Reading, error) {
	span := map[string][2]time.Time{}
	for _, r := range readings {
		sp, ok := span[r.Device]
		if !ok || r.At.Before(sp[0]) {
			sp[0] = r.At
		}
		if !ok || r.At.After(sp[1]) {
			sp[1] = r.At
		}
		span[r.Device] = sp
	}
	stored := map[string]bool{}
	history := map[string][]domain.Reading{}
	for device, sp := range span {
		before, err := s.storedAround(ctx, device, sp[0], sp[1], stored)
		if err != nil {
			return nil, err
		}
		history[device] = before
	}
	var fresh []domain.Reading
	seen := map[string]bool{}
	for _, r := range readings {
		k := readingKey(r)
		if !stored[k] && !seen[k] {
			seen[k] = true
			fresh = append(fresh, r)
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	if err := s.store.PutReadings(ctx, fresh, ReadingTTL); err != nil {
		return nil, err
	}
	s.count("ReadingsStored", float64(len(fresh)))
	if err := s.store.AddFlow(ctx, fresh); err != nil {
		// The readings are stored; the flow statistics miss this batch.
		s.log.Error("flow aggregates", "count", len(fresh), "error", err)
	}
	s.detectAnomalies(ctx, fresh, history)
	s.rollUp(ctx, fresh, history)
	return fresh, nil
}

// rollUp writes the hourly roll-up of each hour that is now complete for a
// device: the hour of its previous stored reading (history holds it,
// newest first) and any hour of its fresh readings, when the device's
// newest reading is of a later hour. A fresh reading of the device's
// newest hour recomputes that hour's roll-up when it already has one (a
// late reading). A roll-up that fails is logged: the readings are stored,
// and GET /telemetry/series reads an hour without a roll-up from them.
func (s *Service) rollUp(ctx context.Context, fresh []domain.Reading, history map[string][]domain.Reading) {
	hours := map[string]map[time.Time]bool{} // device → hour → has fresh readings
	newest := map[string]time.Time{}
	note := func(r domain.Reading, isFresh bool) {
		if hours[r.Device] == nil {
			hours[r.Device] = map[time.Time]bool{}
		}
		h := r.At.UTC().Truncate(time.Hour)
		hours[r.Device][h] = hours[r.Device][h] || isFresh
		if r.At.After(newest[r.Device]) {
			newest[r.Device] = r.At
		}
	}
	for _, r := range fresh {
		note(r, true)
	}
	for device := range hours {
		if before := history[device]; len(before) > 0 {
			note(before[0], false)
		}
	}
	for device, hs := range hours {
		top := newest[device].UTC().Truncate(time.Hour)
		for h, isFresh := range hs {
			if !h.Before(top) {
				if !isFresh || h.Add(time.Hour).After(s.now()) {
					continue // the device's hour, not over
				}
				has, err := s.store.HasRollup(ctx, device, h)
				if err != nil {
					s.log.Error("roll-up", "device", device, "hour", h, "error", err)
				}
				if !has {
					continue
				}
			}
			if err := s.store.RollUp(ctx, device, h); err != nil {
				s.log.Error("roll-up", "device", device, "hour", h, "error", err)
			}
		}
	}
}

func readingKey(r domain.Reading) string {
	return fmt.Sprintf("%s\x00%d\x00%s", r.Device, r.At.UnixMilli(), r.ID)
}

// storedAround reads device's stored readings from an hour before first to
// last, newest first: it marks those from first on in stored, and answers
// up to domain.AnomalyWindow of those before first, newest first.
func (s *Service) storedAround(ctx context.Context, device string, first, last time.Time, stored map[string]bool) ([]domain.Reading, error) {
	var before []domain.Reading
	cursor := ""
	for {
		rs, next, err := s.store.Readings(ctx, device, first.Add(-anomalyHistory), last, domain.Page{Limit: historyPage, Cursor: cursor})
		if err != nil {
			return nil, fmt.Errorf("readings of %s before the batch: %w", device, err)
		}
		for _, r := range rs {
			if !r.At.Before(first) {
				stored[readingKey(r)] = true
			} else if len(before) < domain.AnomalyWindow {
				before = append(before, r)
			}
		}
		if next == "" || len(before) == domain.AnomalyWindow {
			return before, nil
		}
		cursor = next
	}
}

// historyPage is how many readings one page of storedAround asks for: the
// ten before the batch, and room for a batch's own readings when it comes
// again.
const historyPage = 50

// updateLatest records a device's newest readings and raises one alert
// when they change the valve's status (not one per message).
func (s *Service) updateLatest(ctx context.Context, dev domain.Device, r domain.Reading) error {
	v, recorded, err := s.store.Latest(ctx, dev, r.At, r.Values)
	if err != nil || dev.Kind != domain.DeviceValve || v.ID == "" {
		return err
	}
	status := v.Status(s.now())
	if status == recorded {
		return nil // nothing to tell, and no conditional write that fails
	}
	changed, err := s.store.RecordValveStatus(ctx, v.ID, status)
	if err != nil {
		return err
	}
	if changed && (status == domain.StatusWarning || status == domain.StatusOffline) {
		s.tell(ctx, fmt.Sprintf("Valve %s is %s", v.ID, status), readingsText(v))
	}
	return nil
}

func readingsText(v domain.Valve) string {
	var parts []string
	if v.TemperatureC != nil {
		parts = append(parts, fmt.Sprintf("temperature %.1f °C", *v.TemperatureC))
	}
	if v.PressurePa != nil {
		parts = append(parts, fmt.Sprintf("pressure %.2f MPa", *v.PressurePa/1e6))
	}
	return fmt.Sprintf("Valve %s (%s): %s.", v.ID, v.Name, strings.Join(parts, ", "))
}
