package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// anomalyCountPartition holds the anomalies' counts per minute of their
// readings, by severity, across flowShards partitions ("<partition>#<n>" /
// "<minute ms>", n = the anomaly id's FNV-1a hash mod 4): /flow/health
// reads these few small items, however many anomalies the hour has, and a
// burst of anomalies in one minute is spread over four items.
const anomalyCountPartition = "ANOMALYCOUNT"

// anomalyCountItem is a minute's anomaly counts in one partition: total
// and one attribute per severity (named as domain.AnomalySeverities).
type anomalyCountItem struct {
	keys
	Total     int   `json:"total"`
	Medium    int   `json:"medium"`
	High      int   `json:"high"`
	ExpiresAt int64 `json:"expires_at"`
}

// anomalyTries: a transaction that meets another on the same counter at
// once is cancelled (TransactionConflict); it is tried again.
const anomalyTries = 3

// RecordAnomaly writes an anomaly and its anomaly.detected event ev, once,
// and counts it: all go in one transaction, and an anomaly already there
// means they were written before (nil), so an anomaly is counted exactly
// once. The count is added to the counter of its reading's minute. The
// items expire with TTL after expires (the counter with the newest
// anomaly it counts); anomalies are found and listed within the hour
// after their reading, so one cannot come back after that.
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
	expr := "SET #expires = :expires ADD #total :one"
	names := map[string]string{"#expires": "expires_at", "#total": "total"}
	if slices.Contains(domain.AnomalySeverities, a.Severity) {
		expr += ", #severity :one"
		names["#severity"] = a.Severity
	}
	tx.update(fmt.Sprintf("%s#%d", anomalyCountPartition, hashShard(a.ID)), bucketKey(a.At.UnixMilli(), time.Minute), expr, "", names,
		map[string]types.AttributeValue{":one": num(1), ":expires": num(float64(expires.Unix()))})
	var err error
	for try := range anomalyTries {
		if try > 0 {
			if err := pause(ctx, time.Duration(try)*20*time.Millisecond); err != nil {
				return err
			}
		}
		err = s.Commit(ctx, &tx)
		if !transactionConflict(err) {
			break
		}
	}
	if errors.Is(err, domain.ErrConflict) {
		return nil
	}
	return err
}

// AnomalyCounts counts the anomalies of readings in the minutes from the
// one holding from to the one holding to, by severity: the sum of the
// counters RecordAnomaly adds to, one Query per partition of at most one
// item a minute. Anomalies recorded before the counters were kept
// (December 2026) are not counted; they expire within two hours, so they
// are gone from any window of the last hour soon after the change, and
// nothing migrates them.
func (s *Store) AnomalyCounts(ctx context.Context, from, to time.Time) (domain.AnomalyCounts, error) {
	results, err := minuteItems[anomalyCountItem](ctx, s, anomalyCountPartition, from, to)
	if err != nil {
		return domain.AnomalyCounts{}, err
	}
	now := s.now().Unix()
	var out domain.AnomalyCounts
	for _, items := range results {
		for _, it := range items {
			if it.ExpiresAt <= now {
				continue // TTL deletes it late, if at all: as Anomalies does
			}
			out = out.Add(domain.AnomalyCounts{Total: it.Total, Medium: it.Medium, High: it.High})
		}
	}
	return out, nil
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
