package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// Readings are kept in blocks (docs/data-model.md, "Readings"): DynamoDB
// bills a write by the kilobyte of the item, so a block of readings in a
// compact text costs a fraction of a write unit a reading, where an item a
// reading cost a whole one, and another for its index entry.
//
// A device block holds one device's readings of one batch in one UTC
// minute, under READINGS#<device> / B#<minute ms>#<block id>; a fleet
// block every device's readings of one batch in one UTC second, under
// RFLEET#<n> / <second ms>#<block id>.
const (
	readingsPartition = "READINGS"
	fleetPartition    = "RFLEET"
	deviceBlockPrefix = "B#"
	deviceBucket      = time.Minute
	fleetBucket       = time.Second
	// fleetShards is how many partitions the fleet blocks are written
	// across: one partition takes about 1,000 writes/s, and the
	// all-device listing reads them all, a Query each.
	fleetShards = 4
	// blocksPerQuery is how many blocks one Query of a listing asks for.
	blocksPerQuery = 32
)

// metricCodes are the one-letter names of the metrics in a block's text.
var metricCodes = map[string]byte{
	domain.MetricTemperature: 't', domain.MetricPressure: 'p', domain.MetricFlowRate: 'f',
	domain.MetricTorque: 'q', domain.MetricPressureKPa: 'k',
}

func codeMetric(c byte) (string, bool) {
	for m, code := range metricCodes {
		if code == c {
			return m, true
		}
	}
	return "", false
}

// blockItem is a device block or a fleet block. Device and Asset are the
// device block's; a fleet block names them on each line.
type blockItem struct {
	keys
	Device    string `json:"device,omitempty"`
	Asset     string `json:"asset,omitempty"`
	Text      string `json:"r"`
	ExpiresAt int64  `json:"expires_at"`
}

// position is a reading's place in the listings: its time, device and
// message id. Newest first is descending position order, the order the
// all-device index of the old layout had.
func position(r domain.Reading) string {
	return fmt.Sprintf("%013d#%s#%s", r.At.UnixMilli(), r.Device, r.ID)
}

func bucketKey(ms int64, bucket time.Duration) string {
	b := bucket.Milliseconds()
	return fmt.Sprintf("%013d", ms-((ms%b)+b)%b)
}

// blockID names a block by what it holds: a batch delivered again whole
// rewrites the same items.
func blockID(readings []domain.Reading) string {
	keys := make([]string, len(readings))
	for i, r := range readings {
		keys[i] = position(r)
	}
	slices.Sort(keys)
	h := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	return hex.EncodeToString(h[:6])
}

// shardOf spreads ids (hex digits) evenly over n partitions: by the value
// of the first two digits, not their characters' codes.
func shardOf(id string, n int) int {
	v, _ := strconv.ParseUint(id[:2], 16, 8) // a block id is hex
	return int(v) % n
}

// validToken reports whether s can stand in a block's text: not empty, no
// space, comma or line break.
func validToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, " ,\n\r\t")
}

// encodeLines writes readings as a block's text, one line each:
// "<ms after base> [<device> <asset or =>] <id> <code><value>,...". Values
// are in Go's shortest form that reads back as the same float64.
func encodeLines(readings []domain.Reading, base int64, fleet bool) (string, error) {
	var b strings.Builder
	for _, r := range readings {
		if !validToken(r.ID) || !validToken(r.Device) || (fleet && r.Asset != "" && !validToken(r.Asset)) {
			return "", fmt.Errorf("reading %q of %q: id, device and asset must be words without spaces or commas", r.ID, r.Device)
		}
		off := r.At.UnixMilli() - base
		if off < 0 {
			return "", fmt.Errorf("reading %q: before its block", r.ID)
		}
		b.WriteString(strconv.FormatInt(off, 10))
		if fleet {
			asset := r.Asset
			if asset == r.Device {
				asset = "="
			}
			if asset == "" {
				asset = "-"
			}
			b.WriteString(" " + r.Device + " " + asset)
		}
		b.WriteString(" " + r.ID + " ")
		metrics := make([]string, 0, len(r.Values))
		for m := range r.Values {
			if _, ok := metricCodes[m]; !ok {
				return "", fmt.Errorf("reading %q: unknown metric %q", r.ID, m)
			}
			metrics = append(metrics, m)
		}
		slices.Sort(metrics)
		for i, m := range metrics {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte(metricCodes[m])
			b.WriteString(strconv.FormatFloat(r.Values[m], 'g', -1, 64))
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// decodeLines reads a block's text back; device and asset are the device
// block's (fleet lines carry their own).
func decodeLines(text string, base int64, fleet bool, device, asset string) ([]domain.Reading, error) {
	var out []domain.Reading
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		want := 3
		if fleet {
			want = 5
		}
		if len(f) != want {
			return nil, fmt.Errorf("block line %q: %d fields, want %d", line, len(f), want)
		}
		off, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || off < 0 {
			return nil, fmt.Errorf("block line %q: bad time", line)
		}
		r := domain.Reading{Device: device, Asset: asset, At: time.UnixMilli(base + off).UTC(), Values: map[string]float64{}}
		if fleet {
			r.Device, r.Asset = f[1], f[2]
			switch r.Asset {
			case "=":
				r.Asset = r.Device
			case "-":
				r.Asset = ""
			}
		}
		r.ID = f[want-2]
		for v := range strings.SplitSeq(f[want-1], ",") {
			m, ok := "", len(v) > 1
			if ok {
				m, ok = codeMetric(v[0])
			}
			x, err := strconv.ParseFloat(v[min(1, len(v)):], 64)
			if !ok || err != nil {
				return nil, fmt.Errorf("block line %q: bad value %q", line, v)
			}
			r.Values[m] = x
		}
		out = append(out, r)
	}
	return out, nil
}

// blockItems groups readings into device blocks and fleet blocks.
func blockItems(readings []domain.Reading, expires int64) ([]blockItem, error) {
	type group struct {
		device, bucket string
	}
	var order []group
	groups := map[group][]domain.Reading{}
	add := func(g group, r domain.Reading) {
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], r)
	}
	for _, r := range readings {
		ms := r.At.UnixMilli()
		add(group{r.Device, bucketKey(ms, deviceBucket)}, r)
		add(group{"", bucketKey(ms, fleetBucket)}, r)
	}
	out := make([]blockItem, 0, len(order))
	for _, g := range order {
		rs := groups[g]
		base, _ := strconv.ParseInt(g.bucket, 10, 64)
		fleet := g.device == ""
		text, err := encodeLines(rs, base, fleet)
		if err != nil {
			return nil, err
		}
		id := blockID(rs)
		it := blockItem{Text: text, ExpiresAt: expires}
		if fleet {
			it.PK = fmt.Sprintf("%s#%d", fleetPartition, shardOf(id, fleetShards))
			it.SK = g.bucket + "#" + id
		} else {
			it.PK, it.SK = readingsPartition+"#"+g.device, deviceBlockPrefix+g.bucket+"#"+id
			it.Device, it.Asset = g.device, rs[0].Asset
		}
		out = append(out, it)
	}
	return out, nil
}

// PutReadings stores readings with their TTL: a device block per device
// and minute, a fleet block per second, in BatchWriteItem requests of 25
// (retrying what DynamoDB leaves unprocessed). A reading given twice is
// stored once.
func (s *Store) PutReadings(ctx context.Context, readings []domain.Reading, ttl time.Duration) error {
	return s.putBlocks(ctx, readings, s.now().Add(ttl).Unix())
}

// putBlocks writes readings as blocks that expire at expires (Unix
// seconds).
func (s *Store) putBlocks(ctx context.Context, readings []domain.Reading, expires int64) error {
	items, err := blockItems(uniqueReadings(readings), expires)
	if err != nil {
		return fmt.Errorf("put readings: %w", err)
	}
	for i := 0; i < len(items); i += 25 {
		var reqs []types.WriteRequest
		for _, it := range items[i:min(i+25, len(items))] {
			av, err := marshal(it)
			if err != nil {
				return err
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return err
		}
	}
	return nil
}

// uniqueReadings drops repeats of a reading (device, time and id), keeping
// the first: a QoS 1 resend next to its original in one stream batch is the
// same reading.
func uniqueReadings(readings []domain.Reading) []domain.Reading {
	seen := make(map[string]bool, len(readings))
	out := readings[:0:0]
	for _, r := range readings {
		if k := position(r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// pause waits d before a retry, or answers ctx's error if it ends first.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	pending := map[string][]types.WriteRequest{s.table: reqs}
	for attempt := 0; len(pending[s.table]) > 0; attempt++ {
		if attempt == 5 {
			return fmt.Errorf("batch write: %d items still unprocessed", len(pending[s.table]))
		}
		if attempt > 0 {
			if err := pause(ctx, time.Duration(50<<attempt)*time.Millisecond); err != nil {
				return err
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

// blockSource is one partition of blocks as a listing reads it, newest
// bucket first.
type blockSource struct {
	partition string
	fleet     bool
	lo, hi    string // the sort key range
	buf       []blockItem
	start     map[string]types.AttributeValue
	started   bool
}

func (b *blockSource) exhausted() bool { return b.started && len(b.buf) == 0 && b.start == nil }

// bucket is the bucket part of a block's sort key.
func (b *blockSource) bucket(it blockItem) string {
	if b.fleet {
		return it.SK[:13]
	}
	return it.SK[len(deviceBlockPrefix) : len(deviceBlockPrefix)+13]
}

// fill reads the source's next blocks when it has none buffered.
func (s *Store) fill(ctx context.Context, b *blockSource, forward bool) error {
	if len(b.buf) > 0 || b.exhausted() {
		return nil
	}
	for len(b.buf) == 0 && !b.exhausted() {
		q := query{
			sc: tableScope(b.partition), sortKey: "#sk BETWEEN :lo AND :hi", forward: forward,
			names:  map[string]string{"#sk": attrSK},
			values: map[string]types.AttributeValue{":lo": str(b.lo), ":hi": str(b.hi)},
		}
		out, err := s.db.Query(ctx, s.input(q, blocksPerQuery, b.start))
		if err != nil {
			return fmt.Errorf("query %s: %w", b.partition, err)
		}
		items, err := decodeAll[blockItem](out.Items)
		if err != nil {
			return fmt.Errorf("query %s: %w", b.partition, err)
		}
		b.started, b.buf, b.start = true, items, out.LastEvaluatedKey
		if len(b.start) == 0 {
			b.start = nil
		}
	}
	return nil
}

// nextBucket takes every block of the next bucket (the newest, or the
// oldest when forward) out of the sources and returns their readings,
// ordered by position (descending unless forward), repeats dropped.
// Expired blocks are left out. No readings and no error: every source is
// read to the end.
func (s *Store) nextBucket(ctx context.Context, sources []*blockSource, forward bool) ([]domain.Reading, bool, error) {
	errs := make([]error, len(sources))
	parallel(len(sources), func(i int) { errs[i] = s.fill(ctx, sources[i], forward) })
	for _, err := range errs {
		if err != nil {
			return nil, false, err
		}
	}
	next := ""
	for _, src := range sources {
		if len(src.buf) == 0 {
			continue
		}
		if b := src.bucket(src.buf[0]); next == "" || (!forward && b > next) || (forward && b < next) {
			next = b
		}
	}
	if next == "" {
		return nil, false, nil
	}
	now := s.now().Unix()
	var out []domain.Reading
	for _, src := range sources {
		for {
			if err := s.fill(ctx, src, forward); err != nil {
				return nil, false, err
			}
			if len(src.buf) == 0 || src.bucket(src.buf[0]) != next {
				break
			}
			it := src.buf[0]
			src.buf = src.buf[1:]
			if it.ExpiresAt <= now { // DynamoDB deletes expired items lazily
				continue
			}
			base, _ := strconv.ParseInt(next, 10, 64)
			rs, err := decodeLines(it.Text, base, src.fleet, it.Device, it.Asset)
			if err != nil {
				return nil, false, fmt.Errorf("block %s %s: %w", it.PK, it.SK, err)
			}
			out = append(out, rs...)
		}
	}
	return inPositionOrder(out, forward), true, nil
}

// inPositionOrder sorts readings by their place in a listing, oldest
// first when forward, and keeps one of each (a reading written twice is
// in two blocks).
func inPositionOrder(rs []domain.Reading, forward bool) []domain.Reading {
	slices.SortFunc(rs, func(a, b domain.Reading) int {
		if forward {
			return strings.Compare(position(a), position(b))
		}
		return strings.Compare(position(b), position(a))
	})
	return slices.CompactFunc(rs, func(a, b domain.Reading) bool { return position(a) == position(b) })
}

// parallel runs f(0) … f(n-1) at once and waits for them: a listing of
// several partitions waits for the slowest Query, not for their sum.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// sources are the partitions of a device's readings, or of every
// device's (device ""), between two bucket keys.
func sources(device string, from, to time.Time, upTo string) []*blockSource {
	if device != "" {
		return []*blockSource{{
			partition: readingsPartition + "#" + device,
			lo:        deviceBlockPrefix + bucketKey(from.UnixMilli(), deviceBucket),
			hi:        deviceBlockPrefix + upTo + "#~",
		}}
	}
	out := make([]*blockSource, fleetShards)
	for n := range out {
		out[n] = &blockSource{
			partition: fmt.Sprintf("%s#%d", fleetPartition, n), fleet: true,
			lo: bucketKey(from.UnixMilli(), fleetBucket), hi: upTo + "#~",
		}
	}
	return out
}

// Readings returns a page of readings, newest first: one device's, or
// every device's (device ""), between from and to (inclusive), and the
// cursor of the next page ("" at the end). Expired readings are left out.
func (s *Store) Readings(ctx context.Context, device string, from, to time.Time, page domain.Page) ([]domain.Reading, string, error) {
	if page.Limit <= 0 {
		return nil, "", fmt.Errorf("readings: page limit %d, want at least 1", page.Limit)
	}
	after, err := decodePositionCursor(page.Cursor, device, from, to)
	if err != nil {
		return nil, "", err
	}
	bucket := deviceBucket
	if device == "" {
		bucket = fleetBucket
	}
	top := to.UnixMilli()
	if after != "" {
		top, _ = strconv.ParseInt(after[:13], 10, 64)
	}
	srcs := sources(device, from, to, bucketKey(top, bucket))
	lo, hi := from.UnixMilli(), to.UnixMilli()
	var out []domain.Reading
	for len(out) < page.Limit {
		rs, ok, err := s.nextBucket(ctx, srcs, false)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return out, "", nil
		}
		for _, r := range rs {
			ms := r.At.UnixMilli()
			if ms < lo || ms > hi || (after != "" && position(r) >= after) {
				continue
			}
			if len(out) == page.Limit {
				// More in this bucket: the next page starts here.
				return out, encodePositionCursor(device, position(out[len(out)-1])), nil
			}
			out = append(out, r)
		}
	}
	for _, src := range srcs {
		if !src.exhausted() {
			return out, encodePositionCursor(device, position(out[len(out)-1])), nil
		}
	}
	return out, "", nil
}

// EachReading calls f with each of a device's readings between from and to
// (inclusive), oldest first, each once; it stops at f's first error.
func (s *Store) EachReading(ctx context.Context, device string, from, to time.Time, f func(domain.Reading) error) error {
	srcs := sources(device, from, to, bucketKey(to.UnixMilli(), deviceBucket))
	lo, hi := from.UnixMilli(), to.UnixMilli()
	for {
		rs, ok, err := s.nextBucket(ctx, srcs, true)
		if err != nil || !ok {
			return err
		}
		for _, r := range rs {
			if ms := r.At.UnixMilli(); ms >= lo && ms <= hi {
				if err := f(r); err != nil {
					return err
				}
			}
		}
	}
}

// StoredReadingIDs lists the message id of every reading stored, as many
// times as it is stored (the fleet blocks hold each reading once per
// write): the benchmarks and tests count what ingestion wrote with it.
func (s *Store) StoredReadingIDs(ctx context.Context) ([]string, error) {
	var ids []string
	for n := range fleetShards {
		items, err := queryAll[blockItem](ctx, s, query{sc: tableScope(fmt.Sprintf("%s#%d", fleetPartition, n))}, 0)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			rs, err := decodeLines(it.Text, 0, true, "", "")
			if err != nil {
				return nil, fmt.Errorf("block %s %s: %w", it.PK, it.SK, err)
			}
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
		}
	}
	return ids, nil
}
