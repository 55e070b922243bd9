package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// A device's hourly roll-ups (domain.Rollup) are kept under
// ROLLUP#<device> / H#<hour ms>, so one Query reads a window's. An item's
// text has a line per metric: "<code> <count> <sum> <min> <max> <last>
// <ms of last>", numbers in Go's shortest form that reads back the same.
const (
	rollupPartition = "ROLLUP"
	rollupPrefix    = "H#"
)

type rollupItem struct {
	keys
	Device    string `json:"device"`
	Text      string `json:"r"`
	ExpiresAt int64  `json:"expires_at"`
}

func rollupSK(hour time.Time) string { return rollupPrefix + bucketKey(hour.UnixMilli(), time.Hour) }

func encodeRollup(r domain.Rollup) string {
	metrics := make([]string, 0, len(r.Metrics))
	for m := range r.Metrics {
		metrics = append(metrics, m)
	}
	slices.Sort(metrics)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	var b strings.Builder
	for _, m := range metrics {
		st := r.Metrics[m]
		fmt.Fprintf(&b, "%c %d %s %s %s %s %d\n", metricCodes[m], st.Count, f(st.Sum), f(st.Min), f(st.Max), f(st.Last), st.LastAt.UnixMilli())
	}
	return b.String()
}

func decodeRollup(it rollupItem) (domain.Rollup, error) {
	ms, err := strconv.ParseInt(strings.TrimPrefix(it.SK, rollupPrefix), 10, 64)
	if err != nil {
		return domain.Rollup{}, fmt.Errorf("roll-up %s %s: bad hour", it.PK, it.SK)
	}
	r := domain.Rollup{Device: it.Device, Hour: time.UnixMilli(ms).UTC(), Metrics: map[string]domain.HourStat{}}
	for line := range strings.Lines(it.Text) {
		f := strings.Fields(line)
		var st domain.HourStat
		var lastMs int64
		errs := make([]error, 7)
		if len(f) == 7 && len(f[0]) == 1 {
			st.Count, errs[1] = strconv.Atoi(f[1])
			st.Sum, errs[2] = strconv.ParseFloat(f[2], 64)
			st.Min, errs[3] = strconv.ParseFloat(f[3], 64)
			st.Max, errs[4] = strconv.ParseFloat(f[4], 64)
			st.Last, errs[5] = strconv.ParseFloat(f[5], 64)
			lastMs, errs[6] = strconv.ParseInt(f[6], 10, 64)
		} else {
			errs[0] = errors.New("want 7 fields")
		}
		m, ok := "", len(f) > 0
		if ok {
			m, ok = codeMetric(f[0][0])
		}
		if err := errors.Join(errs...); err != nil || !ok {
			return domain.Rollup{}, fmt.Errorf("roll-up %s %s: bad line %q", it.PK, it.SK, line)
		}
		st.LastAt = time.UnixMilli(lastMs).UTC()
		r.Metrics[m] = st
	}
	return r, nil
}

// RollUp folds a device's stored readings of the hour that holds hour
// into its roll-up and puts it (one Query of the hour's blocks, one
// PutItem): computed whole each time, so a late reading is counted by
// writing it again. The roll-up expires with the hour's first block to
// expire, so it never counts a reading the blocks no longer answer; an
// hour without readings gets none.
func (s *Store) RollUp(ctx context.Context, device string, hour time.Time) error {
	hour = hour.UTC().Truncate(time.Hour)
	lo, hi := hour.UnixMilli(), hour.Add(time.Hour).UnixMilli()-1
	blocks, err := queryAll[blockItem](ctx, s, query{
		sc: tableScope(readingsPartition + "#" + device), sortKey: "#sk BETWEEN :lo AND :hi", forward: true,
		names: map[string]string{"#sk": attrSK},
		values: map[string]types.AttributeValue{
			":lo": str(deviceBlockPrefix + bucketKey(lo, deviceBucket)),
			":hi": str(deviceBlockPrefix + bucketKey(hi, deviceBucket) + "#~"),
		},
	}, 0)
	if err != nil {
		return fmt.Errorf("roll up %s %v: %w", device, hour, err)
	}
	now := s.now().Unix()
	var readings []domain.Reading
	var expires int64
	for _, it := range blocks {
		if it.ExpiresAt <= now {
			continue
		}
		base, _ := strconv.ParseInt(it.SK[len(deviceBlockPrefix):len(deviceBlockPrefix)+13], 10, 64)
		rs, err := decodeLines(it.Text, base, false, it.Device, it.Asset)
		if err != nil {
			return fmt.Errorf("block %s %s: %w", it.PK, it.SK, err)
		}
		readings = append(readings, rs...)
		if expires == 0 || it.ExpiresAt < expires {
			expires = it.ExpiresAt
		}
	}
	if len(readings) == 0 {
		return nil
	}
	r := domain.NewRollup(device, hour, inPositionOrder(readings, true))
	item := rollupItem{Device: device, Text: encodeRollup(r), ExpiresAt: expires}
	item.PK, item.SK = rollupPartition+"#"+device, rollupSK(hour)
	av, err := marshal(item)
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: av}); err != nil {
		return fmt.Errorf("put roll-up %s %s: %w", item.PK, item.SK, err)
	}
	return nil
}

// HasRollup reports whether the hour that holds hour has a roll-up of
// device's readings.
func (s *Store) HasRollup(ctx context.Context, device string, hour time.Time) (bool, error) {
	var it rollupItem
	err := s.get(ctx, rollupPartition+"#"+device, rollupSK(hour.UTC().Truncate(time.Hour)), &it)
	if errors.Is(err, domain.ErrNotFound) {
		return false, nil
	}
	return err == nil && it.ExpiresAt > s.now().Unix(), err
}

// Rollups returns a device's roll-ups of the hours from the one that holds
// from to the one that holds to, oldest first, in one Query (and its
// pages). Expired ones are left out.
func (s *Store) Rollups(ctx context.Context, device string, from, to time.Time) ([]domain.Rollup, error) {
	items, err := queryAll[rollupItem](ctx, s, query{
		sc: tableScope(rollupPartition + "#" + device), sortKey: "#sk BETWEEN :lo AND :hi", forward: true,
		names:  map[string]string{"#sk": attrSK},
		values: map[string]types.AttributeValue{":lo": str(rollupSK(from.UTC().Truncate(time.Hour))), ":hi": str(rollupSK(to.UTC().Truncate(time.Hour)))},
	}, 0)
	if err != nil {
		return nil, fmt.Errorf("roll-ups of %s: %w", device, err)
	}
	now := s.now().Unix()
	out := make([]domain.Rollup, 0, len(items))
	for _, it := range items {
		if it.ExpiresAt <= now {
			continue
		}
		r, err := decodeRollup(it)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
