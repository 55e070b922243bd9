package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

type readingItem struct {
	keys
	domain.Reading
	ExpiresAt int64 `json:"expires_at"`
}

// readingsPartition prefixes a device's readings on the table
// (READINGS#<device>) and the shards of every device's readings on gsi1
// (READINGS#<n>). The two are keys of different attributes (pk, gsi1pk),
// so a device named like a shard shares nothing with it.
const readingsPartition = "READINGS"

// readingShards is how many gsi1 partitions every device's readings are
// written across. One partition takes about 1,000 writes/s and a throttled
// index throttles the table's writes, so one partition capped ingestion at
// about 1,000 readings/s; 4 × 1,000 writes/s covers the 2,477 readings/s
// `make bench-ingest` stores locally (docs/bench-ingest.md) with margin.
// The all-device listing reads every shard, so more shards cost each page
// a Query more: size this to the rate, not beyond it. Changing it moves
// new readings only; Readings reads shards 0..readingShards-1, so a
// smaller count would leave readings in the dropped shards unlisted until
// they expire (30 days).
const readingShards = 4

// readingShard is the gsi1 shard a reading is written to: a hash of its
// table key (device and message id), so the queue's repeated deliveries of
// one message land on one item in one shard, and the devices' readings of
// one moment spread over all shards.
func readingShard(device, id string) int {
	h := fnv.New32a()
	h.Write([]byte(device)) // a hash.Hash never fails to write
	h.Write([]byte{0})
	h.Write([]byte(id))
	return int(h.Sum32() % readingShards)
}

func readingShardPartition(n int) string { return fmt.Sprintf("%s#%d", readingsPartition, n) }

// ReadingsIndexPartitions lists the gsi1 partitions that hold every
// device's readings: the shards, and the single partition READINGS that
// readings were written to before the shards (they stay listed until
// their TTL removes them; a local snapshot can hold them). Tools that
// count stored readings read these.
func ReadingsIndexPartitions() []string {
	out := make([]string, 0, readingShards+1)
	for n := range readingShards {
		out = append(out, readingShardPartition(n))
	}
	return append(out, readingsPartition)
}

func readingSK(r domain.Reading) string { return fmt.Sprintf("%013d#%s", r.At.UnixMilli(), r.ID) }

// readingGSI1SK is a reading's sort key on gsi1: time first, then the
// device and id, which makes it unique, so the shards merge in one total
// order.
func readingGSI1SK(r domain.Reading) string {
	return fmt.Sprintf("%013d#%s#%s", r.At.UnixMilli(), r.Device, r.ID)
}

// PutReadings stores readings with their TTL, in batches of 25 (the
// BatchWriteItem limit), retrying what DynamoDB leaves unprocessed.
func (s *Store) PutReadings(ctx context.Context, readings []domain.Reading, ttl time.Duration) error {
	readings = uniqueReadings(readings)
	now := s.now()
	for i := 0; i < len(readings); i += 25 {
		var reqs []types.WriteRequest
		for _, r := range readings[i:min(i+25, len(readings))] {
			item, err := marshal(readingItem{
				keys: keys{
					PK: readingsPartition + "#" + r.Device, SK: readingSK(r),
					GSI1PK: readingShardPartition(readingShard(r.Device, r.ID)), GSI1SK: readingGSI1SK(r),
				},
				Reading:   r,
				ExpiresAt: now.Add(ttl).Unix(),
			})
			if err != nil {
				return err
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return err
		}
	}
	return nil
}

// uniqueReadings drops repeats of a reading's key, keeping the first:
// DynamoDB refuses a BatchWriteItem that names one key twice, and a QoS 1
// resend next to its original in one queue batch is the same reading.
func uniqueReadings(readings []domain.Reading) []domain.Reading {
	seen := make(map[string]bool, len(readings))
	out := readings[:0:0]
	for _, r := range readings {
		k := r.Device + "\x00" + readingSK(r)
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	pending := map[string][]types.WriteRequest{s.table: reqs}
	for attempt := 0; len(pending[s.table]) > 0; attempt++ {
		if attempt == 5 {
			return fmt.Errorf("batch write: %d items still unprocessed", len(pending[s.table]))
		}
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
			}
		}
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return fmt.Errorf("batch write: %w", err)
		}
		pending = out.UnprocessedItems
	}
	return nil
}

// Readings returns a page of readings, newest first: one device's, or
// every device's, between from and to (inclusive). Expired readings are
// left out, so a page may be short and still have a next one.
func (s *Store) Readings(ctx context.Context, device string, from, to time.Time, page domain.Page) ([]domain.Reading, string, error) {
	lo, hi := fmt.Sprintf("%013d", from.UnixMilli()), fmt.Sprintf("%013d~", to.UnixMilli())
	var items []readingItem
	var next string
	var err error
	if device != "" {
		q := query{
			sc: tableScope(readingsPartition + "#" + device), sortKey: "#sk BETWEEN :lo AND :hi",
			names:  map[string]string{"#sk": attrSK},
			values: map[string]types.AttributeValue{":lo": str(lo), ":hi": str(hi)},
		}
		items, next, err = queryPage[readingItem](ctx, s, q, page)
	} else {
		items, next, err = s.allReadings(ctx, lo, hi, page)
	}
	if err != nil {
		return nil, "", err
	}
	now := s.now().Unix()
	out := make([]domain.Reading, 0, len(items))
	for _, it := range items {
		if it.ExpiresAt > now { // DynamoDB deletes expired items lazily
			out = append(out, it.Reading)
		}
	}
	return out, next, nil
}

// shardRead is one gsi1 partition of the all-device listing as the merge
// reads it.
type shardRead struct {
	partition string
	after     string                          // gsi1sk of the last item taken from it ("" for none yet)
	buf       []readingItem                   // read, not yet taken, newest first
	more      map[string]types.AttributeValue // its LastEvaluatedKey: nil once read to the end
	started   bool                            // queried at least once in this request
}

// exhausted reports that the partition has nothing left to give.
func (r *shardRead) exhausted() bool { return r.started && len(r.buf) == 0 && r.more == nil }

// allReadings is the all-device page: every shard of gsi1 (and the legacy
// single partition) read between lo and hi newest first and merged by
// gsi1sk, which orders them totally. At most page.Limit items, expired
// ones included (Readings drops them), and a cursor of each partition's
// position.
//
// Each partition is first asked for its share of the page (readings spread
// evenly over the shards by hash), and one that runs dry before the page
// is full is asked again for what is still missing, so a page reads a
// little more than it answers rather than page.Limit from every shard.
func (s *Store) allReadings(ctx context.Context, lo, hi string, page domain.Page) ([]readingItem, string, error) {
	if page.Limit <= 0 {
		return nil, "", fmt.Errorf("every device's readings: page limit %d, want at least 1", page.Limit)
	}
	partitions := ReadingsIndexPartitions()
	// A position is a gsi1sk inside the range: the time's 13 digits, then
	// the device and id.
	valid := func(pos string) bool {
		return len(pos) > 14 && pos[13] == '#' && strings.Trim(pos[:13], "0123456789") == "" && pos >= lo && pos <= hi
	}
	after, err := decodeShardCursor(partitions, valid, page.Cursor)
	if err != nil {
		return nil, "", err
	}
	var shards []*shardRead
	for _, p := range partitions {
		pos, ok := after[p]
		if page.Cursor != "" && !ok {
			continue // the cursor says it has nothing left
		}
		shards = append(shards, &shardRead{partition: p, after: pos})
	}
	share := (page.Limit + len(shards) - 1) / len(shards)

	var taken []readingItem
	for len(taken) < page.Limit {
		// Every partition that may hold the next item must show its newest
		// unread one before the merge can pick.
		var dry []*shardRead
		for _, sh := range shards {
			if len(sh.buf) == 0 && (!sh.started || sh.more != nil) {
				dry = append(dry, sh)
			}
		}
		limit := page.Limit - len(taken)
		if len(taken) == 0 {
			limit = share
		}
		if err := s.readShards(ctx, dry, lo, hi, limit); err != nil {
			return nil, "", err
		}
		// A partition that answered nothing but has more (DynamoDB ends a
		// page at 1 MB, and a dropped position can empty one) may hold
		// the newest item: ask it again before picking.
		if slices.ContainsFunc(shards, func(sh *shardRead) bool { return len(sh.buf) == 0 && !sh.exhausted() }) {
			continue
		}
		var newest *shardRead
		for _, sh := range shards {
			if len(sh.buf) > 0 && (newest == nil || sh.buf[0].GSI1SK > newest.buf[0].GSI1SK) {
				newest = sh
			}
		}
		if newest == nil {
			break // every partition read to the end
		}
		taken = append(taken, newest.buf[0])
		newest.after = newest.buf[0].GSI1SK
		newest.buf = newest.buf[1:]
	}

	next := make(map[string]string, len(shards))
	for _, sh := range shards {
		if !sh.exhausted() {
			next[sh.partition] = sh.after
		}
	}
	cursor, err := encodeShardCursor(next)
	if err != nil {
		return nil, "", err
	}
	return taken, cursor, nil
}

// readShards reads the next items of each partition, at most limit each,
// the partitions at once: a page waits for the slowest Query, not for
// their sum.
func (s *Store) readShards(ctx context.Context, shards []*shardRead, lo, hi string, limit int) error {
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, sh := range shards {
		wg.Go(func() { errs[i] = s.readShard(ctx, sh, lo, hi, limit) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readShard reads on in one partition: from its LastEvaluatedKey of this
// request, or else below the position the cursor gave, or else from the
// top of the range. A position is a bound of the key condition, inclusive
// (DynamoDB has no key condition of a range with one open end), so the
// item at it, if still there, is asked for on top and dropped.
func (s *Store) readShard(ctx context.Context, sh *shardRead, lo, hi string, limit int) error {
	top, start := hi, sh.more
	if !sh.started && sh.after != "" {
		top = sh.after
		limit++
	}
	q := query{
		index: indexGSI1, sc: gsiScope(indexGSI1, sh.partition), sortKey: "#sk BETWEEN :lo AND :hi",
		names:  map[string]string{"#sk": attrGSI1SK},
		values: map[string]types.AttributeValue{":lo": str(lo), ":hi": str(top)},
	}
	out, err := s.db.Query(ctx, s.input(q, limit, start))
	if err != nil {
		return fmt.Errorf("query %s: %w", sh.partition, err)
	}
	items, err := decodeAll[readingItem](out.Items)
	if err != nil {
		return fmt.Errorf("query %s: %w", sh.partition, err)
	}
	if !sh.started && sh.after != "" && len(items) > 0 && items[0].GSI1SK == sh.after {
		items = items[1:]
	}
	sh.started, sh.buf, sh.more = true, items, out.LastEvaluatedKey
	if len(sh.more) == 0 {
		sh.more = nil
	}
	return nil
}

// Latest records a device's newest readings on its valve or section, and
// when it was last seen; older readings than those already there change
// nothing. It answers the valve as it is afterwards (zero for a section).
func (s *Store) Latest(ctx context.Context, d domain.Device, at time.Time, values map[string]float64) (domain.Valve, error) {
	names := map[string]string{"#seen": "last_seen"}
	vals := map[string]types.AttributeValue{":at": timeValue(at)}
	expr := "SET #seen = :at"
	attrs := map[string]string{"temperature_c": "temperature_c", "pressure_pa": "pressure_pa"}
	pk := valvePK(d.Asset)
	if d.Kind == domain.DeviceGauge {
		attrs = map[string]string{"kpa": "pressure_kpa"}
		pk = sectionPK(d.Asset)
	}
	i := 0
	for metric, attr := range attrs {
		v, ok := values[metric]
		if !ok {
			continue
		}
		n, k := fmt.Sprintf("#a%d", i), fmt.Sprintf(":v%d", i)
		names[n], vals[k] = attr, num(v)
		expr += fmt.Sprintf(", %s = %s", n, k)
		i++
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(pk, metaSK),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(pk) AND (attribute_not_exists(#seen) OR #seen <= :at)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return domain.Valve{}, fmt.Errorf("latest readings of %s: %w", d.ID, err)
	}
	if d.Kind != domain.DeviceValve {
		return domain.Valve{}, nil
	}
	return s.Valve(ctx, d.Asset)
}

// RecordValveStatus notes the status a valve's readings put it in and
// reports whether that is a change: one alert per change of condition,
// not one per message.
func (s *Store) RecordValveStatus(ctx context.Context, valveID string, status domain.ValveStatus) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(valvePK(valveID), metaSK),
		UpdateExpression:          aws.String("SET #status = :st"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND (attribute_not_exists(#status) OR #status <> :st)"),
		ExpressionAttributeNames:  map[string]string{"#status": "reading_status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":st": str(string(status))},
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("valve status of %s: %w", valveID, err)
	}
	return true, nil
}

type deadLetterItem struct {
	keys
	domain.DeadLetter
}

const deadLettersPartition = "DEADLETTERS"

// PutDeadLetter keeps a message that could not be ingested.
func (s *Store) PutDeadLetter(ctx context.Context, d domain.DeadLetter) error {
	item, err := marshal(deadLetterItem{keys: keys{PK: deadLettersPartition, SK: d.ID}, DeadLetter: d})
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

// DeadLetters returns a page of dead letters, newest first.
func (s *Store) DeadLetters(ctx context.Context, page domain.Page) ([]domain.DeadLetter, string, error) {
	items, next, err := queryPage[deadLetterItem](ctx, s, query{sc: tableScope(deadLettersPartition)}, page)
	if err != nil {
		return nil, "", err
	}
	out := make([]domain.DeadLetter, len(items))
	for i, it := range items {
		out[i] = it.DeadLetter
	}
	return out, next, nil
}

// MarkRedriven records that a dead letter was ingested after all.
func (s *Store) MarkRedriven(ctx context.Context, id string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(deadLettersPartition, id),
		UpdateExpression:          aws.String("SET #r = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#r": "redriven"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return domain.ErrNotFound
	}
	return err
}
