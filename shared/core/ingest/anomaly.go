package ingest

import (
	"context"
	"math"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// AnomalyStore records each anomaly and its event once.
type AnomalyStore interface {
	RecordAnomaly(ctx context.Context, a domain.Anomaly, ev domain.Event, expires time.Time) error
}

// WithAnomalies makes the service look for flow anomalies in each
// telemetry batch, by the rules of GET /flow/anomalies, and record each as
// an anomaly.detected event (the first backend's dashboard listens for
// them). Without it, no anomaly events are written.
func (s *Service) WithAnomalies(st AnomalyStore) *Service {
	s.anomalies = st
	return s
}

// anomalyHistory is how far back the readings before a batch are read: the
// window of GET /flow/anomalies.
const anomalyHistory = time.Hour

// anomalyMarkerTTL keeps the once-only marker of an anomaly past the hour
// in which its reading can be judged again.
const anomalyMarkerTTL = 2 * time.Hour

// anomalyData is the data of anomaly.detected: the first backend's fields
// (asset_id, anomaly_type, confidence) and the anomaly as /flow/anomalies
// lists it.
type anomalyData struct {
	AssetID     string    `json:"asset_id"`
	AnomalyType string    `json:"anomaly_type"`
	Confidence  float64   `json:"confidence"`
	AnomalyID   string    `json:"anomaly_id"`
	Metric      string    `json:"metric"`
	Value       float64   `json:"value"`
	Mean        float64   `json:"mean"`
	Deviation   float64   `json:"deviation"`
	Severity    string    `json:"severity"`
	ReadingAt   time.Time `json:"reading_at"`
}

// detectAnomalies judges the batch's readings of each device against the
// readings before them (before, newest first, by device), and records what
// it finds. A failure is logged: the readings are stored.
func (s *Service) detectAnomalies(ctx context.Context, batch []domain.Reading, before map[string][]domain.Reading) {
	if s.anomalies == nil {
		return
	}
	first := map[string]time.Time{}
	byDevice := map[string][]domain.Sample{}
	for _, r := range batch {
		if t, ok := first[r.Device]; !ok || r.At.Before(t) {
			first[r.Device] = r.At
		}
		byDevice[r.Device] = append(byDevice[r.Device], domain.Sample{Device: r.Device, At: r.At, Values: r.Values})
	}
	for device, samples := range byDevice {
		from := first[device]
		for _, r := range before[device] {
			samples = append(samples, domain.Sample{Device: r.Device, At: r.At, Values: r.Values})
		}
		for _, a := range domain.DetectAnomalies(samples) {
			if a.At.Before(from) {
				continue // judged with an earlier batch
			}
			// The event's time is now, not the reading's: the live stream
			// sends events in id order once they settle, and an id in the
			// past (a device's late reading) could fall behind its cursor.
			now := s.now().UTC()
			ev := domain.NewEvent(domain.EventAnomalyDetected, device, "", now, anomalyData{
				AssetID: device, AnomalyType: a.Metric + "_deviation", Confidence: confidence(a), AnomalyID: a.ID,
				Metric: a.Metric, Value: a.Value, Mean: a.Mean, Deviation: a.Deviation, Severity: a.Severity, ReadingAt: a.At,
			})
			if err := s.anomalies.RecordAnomaly(ctx, a, ev, now.Add(anomalyMarkerTTL)); err != nil {
				s.log.Error("anomalies: record", "anomaly", a.ID, "error", err)
			}
		}
	}
}

// confidence is the share of the deviation that lies beyond the medium
// limit, rounded to hundredths: just past the limit it is near 0, at the
// high limit (twice the medium one) 0.5, and it nears 1 as the deviation
// grows.
func confidence(a domain.Anomaly) float64 {
	limit, ok := domain.AnomalyMediumLimit(a.Metric)
	if !ok || a.Deviation <= 0 {
		return 0
	}
	return math.Round(math.Max(0, 1-limit/a.Deviation)*100) / 100
}
