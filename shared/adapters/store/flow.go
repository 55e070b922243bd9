package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// The flow routes answer from aggregates ingestion keeps as readings
// arrive (docs/data-model.md, "Readings"): statistics per minute, and
// each valve device's current values, each written across flowShards
// partitions so that no partition takes every batch.
const (
	flowStatPartition    = "FLOWSTAT"
	flowCurrentPartition = "FLOWCUR"
	flowShards           = 4
	// flowAggregateTTL keeps the aggregates past the hour the routes read.
	flowAggregateTTL = 2 * time.Hour
	flowStatTries    = 3
)

type flowStatItem struct {
	keys
	Stats     map[string]domain.MetricStat `json:"stats"`
	Version   int                          `json:"version"`
	ExpiresAt int64                        `json:"expires_at"`
}

type flowCurrentItem struct {
	keys
	domain.CurrentFlow
	ExpiresAt int64 `json:"expires_at"`
}

// valveMetrics are the metrics a valve reports; a reading with none of
// them (a gauge's kpa) has no current flow.
var valveMetrics = []string{domain.MetricTemperature, domain.MetricPressure, domain.MetricFlowRate, domain.MetricTorque}

// hashShard spreads keys over flowShards partitions by their FNV-1a hash.
func hashShard(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key)) // a hash.Hash never fails to write
	return int(h.Sum32() % flowShards)
}

// AddFlow folds readings into the flow aggregates: each minute's
// statistics and each valve device's current values. The readings must not
// have been added before: ingestion passes the readings it stored anew.
func (s *Store) AddFlow(ctx context.Context, readings []domain.Reading) error {
	if len(readings) == 0 {
		return nil
	}
	shard := shardOf(blockID(readings), flowShards)
	minutes := map[int64]map[string]domain.MetricStat{}
	current := map[string]*domain.CurrentFlow{}
	for _, r := range readings {
		ms := r.At.UnixMilli()
		minute, _ := strconv.ParseInt(bucketKey(ms, time.Minute), 10, 64)
		st := minutes[minute]
		if st == nil {
			st = map[string]domain.MetricStat{}
			minutes[minute] = st
		}
		valve := false
		for m, v := range r.Values {
			st[m] = st[m].Add(v)
			valve = valve || slices.Contains(valveMetrics, m)
		}
		if !valve {
			continue
		}
		c := current[r.Device]
		if c == nil {
			c = &domain.CurrentFlow{Device: r.Device, Asset: r.Asset, Values: map[string]float64{}, Times: map[string]time.Time{}}
			current[r.Device] = c
		}
		if r.At.After(c.At) {
			c.At = r.At
		}
		for m, v := range r.Values {
			if t, ok := c.Times[m]; slices.Contains(valveMetrics, m) && (!ok || !r.At.Before(t)) {
				c.Values[m], c.Times[m] = v, r.At
			}
		}
	}
	var errs []error
	for _, minute := range slices.Sorted(maps.Keys(minutes)) {
		errs = append(errs, s.addFlowStats(ctx, shard, minute, minutes[minute]))
	}
	for _, d := range slices.Sorted(maps.Keys(current)) {
		errs = append(errs, s.putCurrent(ctx, *current[d]))
	}
	return errors.Join(errs...)
}

// addFlowStats adds a batch's statistics to a minute's item: a read and a
// write conditioned on the version read, since DynamoDB has no update
// expression for a minimum or a maximum.
func (s *Store) addFlowStats(ctx context.Context, shard int, minute int64, add map[string]domain.MetricStat) error {
	pk, sk := fmt.Sprintf("%s#%d", flowStatPartition, shard), fmt.Sprintf("%013d", minute)
	for range flowStatTries {
		var it flowStatItem
		err := s.get(ctx, pk, sk, &it)
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			return err
		}
		exists := err == nil
		if it.Stats == nil {
			it.Stats = map[string]domain.MetricStat{}
		}
		for m, st := range add {
			it.Stats[m] = it.Stats[m].Merge(st)
		}
		it.keys = keys{PK: pk, SK: sk}
		it.ExpiresAt = time.UnixMilli(minute).Add(flowAggregateTTL).Unix()
		cond, vals := "attribute_not_exists(pk)", map[string]types.AttributeValue{}
		if exists {
			cond = "version = :v"
			vals[":v"] = num(float64(it.Version))
		}
		it.Version++
		item, err := marshal(it)
		if err != nil {
			return err
		}
		in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item, ConditionExpression: aws.String(cond)}
		if len(vals) > 0 {
			in.ExpressionAttributeValues = vals
		}
		_, err = s.db.PutItem(ctx, in)
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			continue // another batch wrote it meanwhile: read again
		}
		if err != nil {
			return fmt.Errorf("flow statistics of %s: %w", sk, err)
		}
		return nil
	}
	return fmt.Errorf("flow statistics of minute %d: still contended after %d tries", minute, flowStatTries)
}

// putCurrent records a device's current values unless what is there is
// newer.
func (s *Store) putCurrent(ctx context.Context, c domain.CurrentFlow) error {
	item, err := marshal(flowCurrentItem{
		keys:        keys{PK: fmt.Sprintf("%s#%d", flowCurrentPartition, hashShard(c.Device)), SK: c.Device},
		CurrentFlow: c,
		ExpiresAt:   c.At.Add(flowAggregateTTL).Unix(),
	})
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #at <= :at"),
		ExpressionAttributeNames:  map[string]string{"#at": "at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": item["at"]},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("current flow of %s: %w", c.Device, err)
	}
	return nil
}

// FlowStats sums the statistics of the minutes from the one holding from
// to the one holding to.
func (s *Store) FlowStats(ctx context.Context, from, to time.Time) (map[string]domain.MetricStat, error) {
	results, err := minuteItems[flowStatItem](ctx, s, flowStatPartition, from, to)
	if err != nil {
		return nil, err
	}
	out := map[string]domain.MetricStat{}
	for _, items := range results {
		for _, it := range items {
			for m, st := range it.Stats {
				out[m] = out[m].Merge(st)
			}
		}
	}
	return out, nil
}

// minuteItems reads the items of the minutes from the one holding from to
// the one holding to, keyed "<partition>#<n>" / "<minute ms>", n <
// flowShards: one Query per partition, at once, of at most one item a
// minute (61 for an hour).
func minuteItems[T any](ctx context.Context, s *Store, partition string, from, to time.Time) ([][]T, error) {
	lo, hi := bucketKey(from.UnixMilli(), time.Minute), bucketKey(to.UnixMilli(), time.Minute)
	results := make([][]T, flowShards)
	errs := make([]error, flowShards)
	parallel(flowShards, func(n int) {
		results[n], errs[n] = queryAll[T](ctx, s, query{
			sc: tableScope(fmt.Sprintf("%s#%d", partition, n)), sortKey: "#sk BETWEEN :lo AND :hi",
			names:  map[string]string{"#sk": attrSK},
			values: map[string]types.AttributeValue{":lo": str(lo), ":hi": str(hi)},
		}, 0)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return results, nil
}

// FlowCurrent lists the valve devices with a reading at or after since,
// with their current values.
func (s *Store) FlowCurrent(ctx context.Context, since time.Time) ([]domain.CurrentFlow, error) {
	results := make([][]flowCurrentItem, flowShards)
	errs := make([]error, flowShards)
	parallel(flowShards, func(n int) {
		results[n], errs[n] = queryAll[flowCurrentItem](ctx, s,
			query{sc: tableScope(fmt.Sprintf("%s#%d", flowCurrentPartition, n)), forward: true}, 0)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []domain.CurrentFlow
	for _, items := range results {
		for _, it := range items {
			if !it.At.Before(since) {
				out = append(out, it.CurrentFlow)
			}
		}
	}
	return out, nil
}
