package store_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// readingsTable is a table of readings of several devices, read through a
// store whose clock stands at now.
type readingsTable struct {
	db    *dynamodb.Client
	table string
	st    *store.Store
	now   time.Time
	all   []domain.Reading // every live reading, newest first (gsi1sk order)
}

func gsi1sk(r domain.Reading) string {
	return fmt.Sprintf("%013d#%s#%s", r.At.UnixMilli(), r.Device, r.ID)
}

// newReadingsTable stores 5 devices' readings over two hours, some of them
// at the same millisecond (ties the merge breaks on device and id), and one
// reading as it was written before the shards: on the single gsi1
// partition READINGS.
func newReadingsTable(t *testing.T) *readingsTable {
	t.Helper()
	db, table := dynamotest.Client(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rt := &readingsTable{db: db, table: table, now: now, st: store.New(db, table, func() time.Time { return now })}
	if err := rt.st.CreateTable(ctx); err != nil {
		t.Fatalf("create table: %v", err)
	}
	var rs []domain.Reading
	for i := range 70 {
		at := now.Add(-time.Duration(i/2) * 3 * time.Minute) // two readings a moment
		dev := fmt.Sprintf("v-%d", 101+i%5)
		rs = append(rs, domain.Reading{ID: fmt.Sprintf("m%03d", i), Device: dev, Asset: dev, At: at, Values: map[string]float64{"flow": float64(i)}})
	}
	if err := rt.st.PutReadings(ctx, rs, 30*24*time.Hour); err != nil {
		t.Fatalf("put readings: %v", err)
	}
	legacy := domain.Reading{ID: "legacy1", Device: "v-103", Asset: "v-103", At: now.Add(-47 * time.Minute), Values: map[string]float64{"flow": 1}}
	rt.putLegacy(t, legacy)
	rt.all = append(rs, legacy)
	slices.SortFunc(rt.all, func(a, b domain.Reading) int { return -cmpString(gsi1sk(a), gsi1sk(b)) })
	return rt
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// putLegacy writes a reading as the store wrote it before the shards.
func (rt *readingsTable) putLegacy(t *testing.T, r domain.Reading) {
	t.Helper()
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	_, err := rt.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(rt.table), Item: map[string]types.AttributeValue{
		"pk": s("READINGS#" + r.Device), "sk": s(fmt.Sprintf("%013d#%s", r.At.UnixMilli(), r.ID)),
		"gsi1pk": s("READINGS"), "gsi1sk": s(gsi1sk(r)),
		"id": s(r.ID), "device": s(r.Device), "asset": s(r.Asset), "at": s(r.At.Format(time.RFC3339Nano)),
		"values":     &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"flow": &types.AttributeValueMemberN{Value: "1"}}},
		"expires_at": &types.AttributeValueMemberN{Value: fmt.Sprint(rt.now.Add(time.Hour).Unix())},
	}})
	if err != nil {
		t.Fatalf("put legacy reading: %v", err)
	}
}

// count is how many items gsi1 holds in one partition.
func (rt *readingsTable) count(t *testing.T, partition string) int {
	t.Helper()
	out, err := rt.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(rt.table), IndexName: aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: partition}},
	})
	if err != nil {
		t.Fatalf("query %s: %v", partition, err)
	}
	return len(out.Items)
}

// pages reads every device's readings between from and to, limit a page,
// to the end; it fails the test on a page longer than limit.
func (rt *readingsTable) pages(t *testing.T, from, to time.Time, limit int) []string {
	t.Helper()
	var got []string
	cursor := ""
	for n := 0; ; n++ {
		if n > 1000 {
			t.Fatalf("limit %d: no end after %d pages", limit, n)
		}
		rs, next, err := rt.st.Readings(ctx, "", from, to, domain.Page{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("limit %d, page %d: %v", limit, n, err)
		}
		if len(rs) > limit {
			t.Fatalf("limit %d, page %d: %d readings", limit, n, len(rs))
		}
		for _, r := range rs {
			got = append(got, gsi1sk(r))
		}
		if next == "" {
			return got
		}
		cursor = next
	}
}

func keysOf(rs []domain.Reading) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = gsi1sk(r)
	}
	return out
}

func TestEveryDevicesReadingsAreWrittenAcrossEveryShardAndTheOldPartition(t *testing.T) {
	rt := newReadingsTable(t)
	parts := store.ReadingsIndexPartitions()
	if len(parts) < 3 || parts[len(parts)-1] != "READINGS" {
		t.Fatalf("partitions = %v, want the shards and then READINGS", parts)
	}
	total := 0
	for _, p := range parts {
		n := rt.count(t, p)
		if n == 0 {
			t.Errorf("gsi1 %s holds no reading", p)
		}
		total += n
	}
	if total != len(rt.all) {
		t.Errorf("gsi1 holds %d readings over %v, want %d", total, parts, len(rt.all))
	}
}

func TestEveryDevicesReadingsArePagedNewestFirstWithoutGapOrRepeatAtEveryPageSize(t *testing.T) {
	rt := newReadingsTable(t)
	from, to := rt.now.Add(-3*time.Hour), rt.now
	want := keysOf(rt.all)
	for limit := 1; limit <= len(want)+1; limit++ {
		if got := rt.pages(t, from, to, limit); !slices.Equal(got, want) {
			t.Fatalf("limit %d: listed\n%v\nwant\n%v", limit, got, want)
		}
	}
}

func TestACursorContinuesRightAfterItsPage(t *testing.T) {
	rt := newReadingsTable(t)
	from, to := rt.now.Add(-3*time.Hour), rt.now
	want := keysOf(rt.all)
	for _, limit := range []int{1, 7, 30} {
		first, next, err := rt.st.Readings(ctx, "", from, to, domain.Page{Limit: limit})
		if err != nil || next == "" {
			t.Fatalf("limit %d: first page: next %q, %v", limit, next, err)
		}
		if got := keysOf(first); !slices.Equal(got, want[:limit]) {
			t.Fatalf("limit %d: first page %v, want %v", limit, got, want[:limit])
		}
		// The same cursor twice gives the same page: it is a position,
		// not a session.
		for range 2 {
			second, _, err := rt.st.Readings(ctx, "", from, to, domain.Page{Limit: limit, Cursor: next})
			if err != nil {
				t.Fatalf("limit %d: second page: %v", limit, err)
			}
			if got := keysOf(second); !slices.Equal(got, want[limit:2*limit]) {
				t.Fatalf("limit %d: second page %v, want %v", limit, got, want[limit:2*limit])
			}
		}
	}
	// A page of everything has every reading; a cursor after it, when a
	// shard could not tell it was at its end (DynamoDB answers a
	// LastEvaluatedKey when a Query fills its Limit), leads to an empty
	// page that has none.
	rs, next, err := rt.st.Readings(ctx, "", from, to, domain.Page{Limit: len(want)})
	if err != nil || len(rs) != len(want) {
		t.Fatalf("one page of everything: %d readings, %v; want %d", len(rs), err, len(want))
	}
	if next != "" {
		rs, next, err = rt.st.Readings(ctx, "", from, to, domain.Page{Limit: len(want), Cursor: next})
		if err != nil || len(rs) != 0 || next != "" {
			t.Errorf("after everything: %d readings, next %q, %v; want none and no cursor", len(rs), next, err)
		}
	}
}

func TestEveryDevicesReadingsStayWithinTheTimeRange(t *testing.T) {
	rt := newReadingsTable(t)
	// Bounds on readings' times, inclusive both ends; the range holds
	// readings of both moments at each end.
	from, to := rt.now.Add(-81*time.Minute), rt.now.Add(-21*time.Minute)
	var want []string
	for _, r := range rt.all {
		if !r.At.Before(from) && !r.At.After(to) {
			want = append(want, gsi1sk(r))
		}
	}
	if len(want) == 0 || len(want) == len(rt.all) {
		t.Fatalf("range holds %d of %d readings; the test needs some out of it", len(want), len(rt.all))
	}
	for _, limit := range []int{1, 3, 5, len(want)} {
		if got := rt.pages(t, from, to, limit); !slices.Equal(got, want) {
			t.Errorf("limit %d: listed\n%v\nwant\n%v", limit, got, want)
		}
	}
}

func TestExpiredReadingsAreLeftOutOfEveryDevicesReadings(t *testing.T) {
	rt := newReadingsTable(t)
	// Readings kept for a minute, written an hour ago: DynamoDB may not
	// have deleted them yet (it takes up to a few days), and DynamoDB
	// Local never does.
	old := store.New(rt.db, rt.table, func() time.Time { return rt.now.Add(-time.Hour) })
	var expired []domain.Reading
	for i := range 12 {
		dev := fmt.Sprintf("v-%d", 101+i%5)
		expired = append(expired, domain.Reading{ID: fmt.Sprintf("x%02d", i), Device: dev, At: rt.now.Add(-time.Duration(i) * time.Minute)})
	}
	if err := old.PutReadings(ctx, expired, time.Minute); err != nil {
		t.Fatal(err)
	}
	from, to := rt.now.Add(-3*time.Hour), rt.now
	want := keysOf(rt.all)
	for _, limit := range []int{1, 4, 50} {
		if got := rt.pages(t, from, to, limit); !slices.Equal(got, want) {
			t.Errorf("limit %d: listed\n%v\nwant\n%v", limit, got, want)
		}
	}
}

func TestAForgedCursorOnEveryDevicesReadingsIsRefused(t *testing.T) {
	rt := newReadingsTable(t)
	from, to := rt.now.Add(-time.Hour), rt.now
	_, good, err := rt.st.Readings(ctx, "", from, to, domain.Page{Limit: 3})
	if err != nil || good == "" {
		t.Fatalf("first page: cursor %q, %v", good, err)
	}
	// A genuine cursor is accepted, so the refusals below are about the
	// cursors themselves.
	if _, _, err := rt.st.Readings(ctx, "", from, to, domain.Page{Limit: 3, Cursor: good}); err != nil {
		t.Fatalf("genuine cursor: %v", err)
	}
	_, device, err := rt.st.Readings(ctx, "v-101", from, to, domain.Page{Limit: 1})
	if err != nil || device == "" {
		t.Fatalf("a device's first page: cursor %q, %v", device, err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	in := fmt.Sprintf("%013d#v-101#m001", rt.now.Add(-30*time.Minute).UnixMilli())
	for _, tt := range []struct{ name, cursor string }{
		{"not base64", "!!!"},
		{"padded base64", base64.URLEncoding.EncodeToString([]byte(`{"after":{"READINGS#0": ""}}`))},
		{"garbled", good[:len(good)/2] + "x" + good[len(good)/2+1:]},
		{"truncated", good[:len(good)-3]},
		{"not JSON", b64("after")},
		{"no partitions", b64(`{"after":{}}`)},
		{"null", b64(`null`)},
		{"unknown field", b64(`{"after":{"READINGS#0":""},"x":1}`)},
		{"trailing data", b64(`{"after":{"READINGS#0":""}}}`)},
		{"another partition", b64(`{"after":{"READINGS#9":""}}`)},
		{"a device's partition", b64(`{"after":{"READINGS#v-101":""}}`)},
		{"another kind's partition", b64(`{"after":{"VALVES":""}}`)},
		{"a position that is not a key", b64(`{"after":{"READINGS#0":"v-101"}}`)},
		{"a position without device and id", b64(fmt.Sprintf(`{"after":{"READINGS#0":"%013d#"}}`, rt.now.UnixMilli()))},
		{"a position after the range", b64(fmt.Sprintf(`{"after":{"READINGS#0":"%013d#v-101#m"}}`, rt.now.Add(time.Second).UnixMilli()))},
		{"a position before the range", b64(fmt.Sprintf(`{"after":{"READINGS#0":"%013d#v-101#m"}}`, from.Add(-time.Second).UnixMilli()))},
		{"one good position, one bad", b64(fmt.Sprintf(`{"after":{"READINGS#0":%q,"READINGS#1":"x"}}`, in))},
		{"a position that is not a string", b64(`{"after":{"READINGS#0":5}}`)},
		{"a device listing's cursor", device},
		{"too long", b64(`{"after":{"READINGS#0":"` + fmt.Sprintf("%013d#v-101#", rt.now.UnixMilli()-1) + longID() + `"}}`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rs, next, err := rt.st.Readings(ctx, "", from, to, domain.Page{Limit: 3, Cursor: tt.cursor})
			if !errors.Is(err, domain.ErrBadCursor) {
				t.Errorf("Readings(cursor %q) = %d readings, next %q, %v; want ErrBadCursor", tt.cursor, len(rs), next, err)
			}
		})
	}
	// And the merged listing's cursor on one device's listing.
	if _, _, err := rt.st.Readings(ctx, "v-101", from, to, domain.Page{Limit: 3, Cursor: good}); !errors.Is(err, domain.ErrBadCursor) {
		t.Errorf("every device's cursor on a device's listing: %v, want ErrBadCursor", err)
	}
}

// longID is an id that makes a cursor longer than domain.MaxCursorLen.
func longID() string {
	b := make([]byte, domain.MaxCursorLen)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

// shortPages answers gsi1 Queries as DynamoDB may when it stops a page at
// 1 MB: fewer items than Limit with a LastEvaluatedKey, here one item a
// page, and the first time it is asked to read on from a key, none.
type shortPages struct {
	*dynamodb.Client
	mu   sync.Mutex // the merge reads the shards at once
	seen map[string]bool
}

func (d *shortPages) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := d.Client.Query(ctx, in, opts...)
	if err != nil || in.IndexName == nil || *in.IndexName != "gsi1" {
		return out, err
	}
	if in.ExclusiveStartKey != nil {
		k := fmt.Sprint(in.ExclusiveStartKey["gsi1pk"], in.ExclusiveStartKey["gsi1sk"])
		d.mu.Lock()
		again := d.seen[k]
		d.seen[k] = true
		d.mu.Unlock()
		if !again {
			return &dynamodb.QueryOutput{LastEvaluatedKey: in.ExclusiveStartKey}, nil
		}
	}
	if len(out.Items) > 1 {
		it := out.Items[0]
		out.Items = out.Items[:1]
		out.LastEvaluatedKey = map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"], "gsi1pk": it["gsi1pk"], "gsi1sk": it["gsi1sk"]}
	}
	return out, nil
}

func TestEveryDevicesReadingsMergeRightWhenShardsAnswerShortPages(t *testing.T) {
	rt := newReadingsTable(t)
	rt.st = store.New(&shortPages{Client: rt.db, seen: map[string]bool{}}, rt.table, func() time.Time { return rt.now })
	from, to := rt.now.Add(-3*time.Hour), rt.now
	want := keysOf(rt.all)
	for _, limit := range []int{1, 2, 5, 13, len(want)} {
		if got := rt.pages(t, from, to, limit); !slices.Equal(got, want) {
			t.Errorf("limit %d: listed\n%v\nwant\n%v", limit, got, want)
		}
	}
}
