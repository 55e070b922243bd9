package store

import (
	"github.com/plainview/serverless/shared/core/domain"

	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// legacyReadingItem is a reading as the store wrote it before December
// 2026: an item a reading, READINGS#<device> / <ts ms>#<id>, listed on gsi1
// under READINGS#<n> (or READINGS, before the shards).
type legacyReadingItem struct {
	keys
	domain.Reading
	ExpiresAt int64 `json:"expires_at"`
}

// legacyPartitions are the gsi1 partitions that list the old layout's
// readings.
func legacyPartitions() []string {
	out := []string{readingsPartition}
	for n := range 4 {
		out = append(out, fmt.Sprintf("%s#%d", readingsPartition, n))
	}
	return out
}

// MigrationReport says what MigrateReadings found and did.
type MigrationReport struct {
	Found, Expired, Moved int
}

// MigrateReadings moves the readings of the old layout into blocks: page
// by page of each old gsi1 partition, it writes the page's live readings as
// blocks (expiring when the latest of them would have) and then deletes
// the page's items, expired ones too. With apply false it only counts. It
// is safe to run again after a failure: what was moved is gone from the old
// layout, and a reading written twice is listed once.
func (s *Store) MigrateReadings(ctx context.Context, apply bool, pageSize int) (MigrationReport, error) {
	var rep MigrationReport
	now := s.now().Unix()
	for _, p := range legacyPartitions() {
		q := query{index: indexGSI1, sc: gsiScope(indexGSI1, p), forward: true}
		var start map[string]types.AttributeValue
		for {
			out, err := s.db.Query(ctx, s.input(q, pageSize, start))
			if err != nil {
				return rep, fmt.Errorf("migrate %s: %w", p, err)
			}
			items, err := decodeAll[legacyReadingItem](out.Items)
			if err != nil {
				return rep, fmt.Errorf("migrate %s: %w", p, err)
			}
			var live []domain.Reading
			var expires int64
			var deletes []types.WriteRequest
			for _, it := range items {
				rep.Found++
				if it.ExpiresAt <= now {
					rep.Expired++
				} else {
					live = append(live, it.Reading)
					expires = max(expires, it.ExpiresAt)
				}
				deletes = append(deletes, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(it.PK, it.SK)}})
			}
			if apply {
				if len(live) > 0 {
					if err := s.putBlocks(ctx, live, expires); err != nil {
						return rep, fmt.Errorf("migrate %s: %w", p, err)
					}
				}
				for i := 0; i < len(deletes); i += 25 {
					if err := s.batchWrite(ctx, deletes[i:min(i+25, len(deletes))]); err != nil {
						return rep, fmt.Errorf("migrate %s: delete: %w", p, err)
					}
				}
				rep.Moved += len(live)
			}
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			start = out.LastEvaluatedKey
		}
	}
	return rep, nil
}
