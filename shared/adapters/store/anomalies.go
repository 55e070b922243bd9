package store

import (
	"context"
	"errors"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// anomalyMarker remembers that an anomaly's event was written, so that
// finding the same anomaly again (a batch delivered twice) writes nothing.
type anomalyMarker struct {
	keys
	ExpiresAt int64 `json:"expires_at"`
}

// RecordAnomaly writes the anomaly.detected event ev for the anomaly with
// that id, once: a marker item and the event go in one transaction, and a
// marker already there means the event was written before (nil). The
// marker expires with TTL after expires; anomalies are found among the
// last hour's readings, so one cannot come back after that.
func (s *Store) RecordAnomaly(ctx context.Context, anomalyID string, ev domain.Event, expires time.Time) error {
	var tx Tx
	tx.putNew(anomalyMarker{keys: keys{PK: "ANOMALY#" + anomalyID, SK: metaSK}, ExpiresAt: expires.Unix()})
	tx.PutEvent(ev)
	err := s.Commit(ctx, &tx)
	if errors.Is(err, domain.ErrConflict) {
		return nil
	}
	return err
}
