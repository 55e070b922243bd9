package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// anomaliesPartition is the gsi1 partition of every anomaly, newest
// reading first. Anomalies are rare next to readings (an anomaly is a
// reading far from its device's recent mean), so one partition takes them.
const anomaliesPartition = "ANOMALIES"

// anomalyItem is an anomaly ingestion found. Its key makes finding the
// same anomaly again (a batch delivered twice) write nothing.
type anomalyItem struct {
	keys
	domain.Anomaly
	ExpiresAt int64 `json:"expires_at"`
}

// anomalySortKey orders anomalies by reading time, newest first, then by
// id, in ascending key order: the time is counted down from the largest
// 13-digit number of milliseconds.
func anomalySortKey(at time.Time, id string) string {
	return fmt.Sprintf("%013d#%s", 9_999_999_999_999-at.UnixMilli(), id)
}

// RecordAnomaly writes an anomaly and its anomaly.detected event ev, once:
// both go in one transaction, and an anomaly already there means they
// were written before (nil). The item expires with TTL after expires;
// anomalies are found and listed within the hour after their reading, so
// one cannot come back after that.
func (s *Store) RecordAnomaly(ctx context.Context, a domain.Anomaly, ev domain.Event, expires time.Time) error {
	var tx Tx
	tx.putNew(anomalyItem{
		keys: keys{
			PK: "ANOMALY#" + a.ID, SK: metaSK,
			GSI1PK: anomaliesPartition, GSI1SK: anomalySortKey(a.At, a.ID),
		},
		Anomaly:   a,
		ExpiresAt: expires.Unix(),
	})
	tx.PutEvent(ev)
	err := s.Commit(ctx, &tx)
	if errors.Is(err, domain.ErrConflict) {
		return nil
	}
	return err
}

// Anomalies lists the anomalies of readings between from and to, newest
// first (ties by id), after the place of the anomaly (afterAt, afterID)
// when afterID is not "", at most limit of them (every one when limit is
// 0).
func (s *Store) Anomalies(ctx context.Context, from, to, afterAt time.Time, afterID string, limit int) ([]domain.Anomaly, error) {
	lo, hi := anomalySortKey(to, ""), anomalySortKey(from, "~")
	if afterID != "" {
		if after := anomalySortKey(afterAt, afterID); after > lo {
			lo = after
		}
		if lo > hi {
			return nil, nil
		}
	}
	// DynamoDB has no key condition of a range with one open end: the
	// item at lo, if any, is dropped below instead.
	items, err := queryAll[anomalyItem](ctx, s, query{
		index: indexGSI1, sc: gsiScope(indexGSI1, anomaliesPartition), forward: true,
		sortKey: "#sk BETWEEN :lo AND :hi",
		names:   map[string]string{"#sk": attrGSI1SK},
		values:  map[string]types.AttributeValue{":lo": str(lo), ":hi": str(hi)},
	}, limitPlus(limit, afterID != ""))
	if err != nil {
		return nil, err
	}
	now := s.now().Unix()
	out := make([]domain.Anomaly, 0, len(items))
	for _, it := range items {
		if it.ExpiresAt <= now || (afterID != "" && it.GSI1SK <= lo) {
			continue
		}
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, it.Anomaly)
	}
	return out, nil
}

func limitPlus(limit int, plus bool) int {
	if limit > 0 && plus {
		return limit + 1
	}
	return limit
}
