package store_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
	all   []domain.Reading // every live reading, newest first (position order)
}

// pos is a reading's place in the listings: time, device, id.
func pos(r domain.Reading) string {
	return fmt.Sprintf("%013d#%s#%s", r.At.UnixMilli(), r.Device, r.ID)
}

// newReadingsTable stores 5 devices' readings over two hours, two at each
// moment (ties the listing breaks on device and id), in batches of 9 as
// ingestion would: blocks of several devices and minutes.
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
		at := now.Add(-time.Duration(i/2) * 3 * time.Minute).Add(-time.Duration(i%3) * 20 * time.Second)
		dev := fmt.Sprintf("v-%d", 101+i%5)
		rs = append(rs, domain.Reading{ID: fmt.Sprintf("m%03d", i), Device: dev, Asset: dev, At: at,
			Values: map[string]float64{"flow_rate_lpm": float64(i) + 0.1, "temperature_c": -float64(i) / 3}})
	}
	for i := 0; i < len(rs); i += 9 {
		if err := rt.st.PutReadings(ctx, rs[i:min(i+9, len(rs))], 30*24*time.Hour); err != nil {
			t.Fatalf("put readings: %v", err)
		}
	}
	rt.all = slices.Clone(rs)
	slices.SortFunc(rt.all, func(a, b domain.Reading) int { return strings.Compare(pos(b), pos(a)) })
	return rt
}

// pages reads device's readings (every device's for "") between from and
// to, limit a page, to the end; it fails the test on a page longer than
// limit.
func (rt *readingsTable) pages(t *testing.T, device string, from, to time.Time, limit int) []domain.Reading {
	t.Helper()
	var got []domain.Reading
	cursor := ""
	for n := 0; ; n++ {
		if n > 1000 {
			t.Fatalf("limit %d: no end after %d pages", limit, n)
		}
		rs, next, err := rt.st.Readings(ctx, device, from, to, domain.Page{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("limit %d, page %d: %v", limit, n, err)
		}
		if len(rs) > limit {
			t.Fatalf("limit %d, page %d: %d readings", limit, n, len(rs))
		}
		got = append(got, rs...)
		if next == "" {
			return got
		}
		cursor = next
	}
}

func keysOf(rs []domain.Reading) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = pos(r)
	}
	return out
}

func of(device string, rs []domain.Reading) []domain.Reading {
	var out []domain.Reading
	for _, r := range rs {
		if r.Device == device {
			out = append(out, r)
		}
	}
	return out
}

func TestReadingsComeBackExactlyAsStoredNewestFirstAtEveryPageSize(t *testing.T) {
	rt := newReadingsTable(t)
	from, to := rt.now.Add(-3*time.Hour), rt.now
	for limit := 1; limit <= len(rt.all)+1; limit++ {
		got := rt.pages(t, "", from, to, limit)
		if !slices.EqualFunc(got, rt.all, sameReading) {
			t.Fatalf("every device, limit %d: listed\n%v\nwant\n%v", limit, keysOf(got), keysOf(rt.all))
		}
	}
	for _, dev := range []string{"v-101", "v-105"} {
		want := of(dev, rt.all)
		for _, limit := range []int{1, 2, 5, len(want)} {
			if got := rt.pages(t, dev, from, to, limit); !slices.EqualFunc(got, want, sameReading) {
				t.Errorf("%s, limit %d: listed\n%v\nwant\n%v", dev, limit, keysOf(got), keysOf(want))
			}
		}
	}
}

func sameReading(a, b domain.Reading) bool {
	return a.ID == b.ID && a.Device == b.Device && a.Asset == b.Asset && a.At.Equal(b.At) && fmt.Sprint(a.Values) == fmt.Sprint(b.Values)
}

func TestValuesComeBackBitForBit(t *testing.T) {
	rt := newReadingsTable(t)
	values := []float64{0.1 + 0.2, 1e-300, math.SmallestNonzeroFloat64, 99_999_999.999999, 2.5e6, 0, 1 / 3.0}
	var rs []domain.Reading
	for i, v := range values {
		rs = append(rs, domain.Reading{ID: fmt.Sprintf("b%d", i), Device: "A-North", Asset: "A-North",
			At: rt.now.Add(time.Duration(-i) * time.Millisecond), Values: map[string]float64{"kpa": v, "torque_nm": -v}})
	}
	if err := rt.st.PutReadings(ctx, rs, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"A-North", ""} {
		got, _, err := rt.st.Readings(ctx, dev, rt.now.Add(-time.Second), rt.now, domain.Page{Limit: 50})
		got = of("A-North", got)
		if err != nil || len(got) != len(values) {
			t.Fatalf("%q: %d readings, %v", dev, len(got), err)
		}
		for i, r := range got {
			if math.Float64bits(r.Values["kpa"]) != math.Float64bits(values[i]) || r.Values["torque_nm"] != -values[i] {
				t.Errorf("%q: reading %d values %v, want kpa %v", dev, i, r.Values, values[i])
			}
		}
	}
	bad := domain.Reading{ID: "has space", Device: "v-101", At: rt.now, Values: map[string]float64{"kpa": 1}}
	if err := rt.st.PutReadings(ctx, []domain.Reading{bad}, time.Hour); err == nil {
		t.Errorf("an id with a space was stored")
	}
	if err := rt.st.PutReadings(ctx, []domain.Reading{{ID: "x", Device: "v-101", At: rt.now, Values: map[string]float64{"humidity": 1}}}, time.Hour); err == nil {
		t.Errorf("an unknown metric was stored")
	}
}

func TestAReadingStoredTwiceIsListedOnce(t *testing.T) {
	rt := newReadingsTable(t)
	// The same message in two batches with other companions: two blocks
	// hold it (as when two batches race), the listings answer it once.
	again := rt.all[3]
	other := domain.Reading{ID: "z1", Device: again.Device, Asset: again.Asset, At: again.At.Add(time.Millisecond), Values: map[string]float64{"kpa": 1}}
	if err := rt.st.PutReadings(ctx, []domain.Reading{again, other}, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	want := append([]domain.Reading{}, rt.all[:3]...)
	want = append(want, other)
	want = append(want, rt.all[3:]...)
	slices.SortStableFunc(want, func(a, b domain.Reading) int { return strings.Compare(pos(b), pos(a)) })
	from, to := rt.now.Add(-3*time.Hour), rt.now
	for _, limit := range []int{1, 3, 4, 100} {
		if got := keysOf(rt.pages(t, "", from, to, limit)); !slices.Equal(got, keysOf(want)) {
			t.Errorf("every device, limit %d: %v\nwant %v", limit, got, keysOf(want))
		}
		if got := keysOf(rt.pages(t, again.Device, from, to, limit)); !slices.Equal(got, keysOf(of(again.Device, want))) {
			t.Errorf("%s, limit %d: %v", again.Device, limit, got)
		}
	}
	var each []string
	if err := rt.st.EachReading(ctx, again.Device, from, to, func(r domain.Reading) error { each = append(each, pos(r)); return nil }); err != nil {
		t.Fatal(err)
	}
	wantEach := keysOf(of(again.Device, want))
	slices.Reverse(wantEach)
	if !slices.Equal(each, wantEach) {
		t.Errorf("EachReading = %v\nwant %v (oldest first, each once)", each, wantEach)
	}
}

func TestReadingsStayWithinTheTimeRange(t *testing.T) {
	rt := newReadingsTable(t)
	// Bounds inclusive both ends, falling inside minutes and seconds.
	from, to := rt.now.Add(-81*time.Minute-20*time.Second), rt.now.Add(-21*time.Minute)
	var want []domain.Reading
	for _, r := range rt.all {
		if !r.At.Before(from) && !r.At.After(to) {
			want = append(want, r)
		}
	}
	if len(want) == 0 || len(want) == len(rt.all) || !want[0].At.Equal(to) || !want[len(want)-1].At.Equal(from) {
		t.Fatalf("range holds %d of %d readings; the test needs some out of it, and some at each bound", len(want), len(rt.all))
	}
	for _, limit := range []int{1, 3, 5, len(want)} {
		if got := rt.pages(t, "", from, to, limit); !slices.Equal(keysOf(got), keysOf(want)) {
			t.Errorf("limit %d: listed\n%v\nwant\n%v", limit, keysOf(got), keysOf(want))
		}
		if got, w := rt.pages(t, "v-102", from, to, limit), of("v-102", want); !slices.Equal(keysOf(got), keysOf(w)) {
			t.Errorf("v-102, limit %d: listed\n%v\nwant\n%v", limit, keysOf(got), keysOf(w))
		}
	}
}

func TestExpiredReadingsAreLeftOut(t *testing.T) {
	rt := newReadingsTable(t)
	// Readings kept for a minute, written an hour ago: DynamoDB may not
	// have deleted them yet (it takes up to a few days), and DynamoDB
	// Local never does.
	old := store.New(rt.db, rt.table, func() time.Time { return rt.now.Add(-time.Hour) })
	var expired []domain.Reading
	for i := range 12 {
		dev := fmt.Sprintf("v-%d", 101+i%5)
		expired = append(expired, domain.Reading{ID: fmt.Sprintf("x%02d", i), Device: dev, At: rt.now.Add(-time.Duration(i) * time.Minute),
			Values: map[string]float64{"kpa": 1}})
	}
	if err := old.PutReadings(ctx, expired, time.Minute); err != nil {
		t.Fatal(err)
	}
	from, to := rt.now.Add(-3*time.Hour), rt.now
	for _, limit := range []int{1, 4, 50} {
		if got := rt.pages(t, "", from, to, limit); !slices.Equal(keysOf(got), keysOf(rt.all)) {
			t.Errorf("limit %d: listed\n%v\nwant\n%v", limit, keysOf(got), keysOf(rt.all))
		}
		if got := rt.pages(t, "v-101", from, to, limit); !slices.Equal(keysOf(got), keysOf(of("v-101", rt.all))) {
			t.Errorf("v-101, limit %d: listed %v", limit, keysOf(got))
		}
	}
}

func TestAForgedReadingsCursorIsRefused(t *testing.T) {
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
	at := func(d time.Duration) string { return fmt.Sprintf("%013d", rt.now.Add(d).UnixMilli()) }
	for _, tt := range []struct{ name, cursor string }{
		{"not base64", "!!!"},
		{"padded base64", good + "=="},
		{"garbled", good[:len(good)/2] + "x" + good[len(good)/2+1:]},
		{"truncated", good[:len(good)-3]},
		{"not JSON", b64("after")},
		{"null", b64(`null`)},
		{"no listing", b64(`{"p":"` + at(-time.Minute) + `#v-101#m"}`)},
		{"unknown field", b64(`{"d":"","p":"` + at(-time.Minute) + `#v-101#m","x":1}`)},
		{"the old layout's cursor", b64(`{"after":{"READINGS#0":""}}`)},
		{"trailing data", b64(`{"d":"","p":"` + at(-time.Minute) + `#v-101#m"}}`)},
		{"a device's listing", b64(`{"d":"v-101","p":"` + at(-time.Minute) + `#v-101#m"}`)},
		{"a position that is not one", b64(`{"d":"","p":"v-101"}`)},
		{"a position without an id", b64(`{"d":"","p":"` + at(-time.Minute) + `#v-101#"}`)},
		{"a position with a bad device", b64(`{"d":"","p":"` + at(-time.Minute) + `#v/101#m"}`)},
		{"a position after the range", b64(`{"d":"","p":"` + at(time.Second) + `#v-101#m"}`)},
		{"a position before the range", b64(`{"d":"","p":"` + at(-time.Hour-time.Second) + `#v-101#m"}`)},
		{"a position that is not a string", b64(`{"d":"","p":5}`)},
		{"a device listing's cursor", device},
		{"too long", b64(`{"d":"","p":"` + at(-time.Minute) + `#v-101#` + strings.Repeat("a", domain.MaxCursorLen) + `"}`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rs, next, err := rt.st.Readings(ctx, "", from, to, domain.Page{Limit: 3, Cursor: tt.cursor})
			if !errors.Is(err, domain.ErrBadCursor) {
				t.Errorf("Readings(cursor %q) = %d readings, next %q, %v; want ErrBadCursor", tt.cursor, len(rs), next, err)
			}
		})
	}
	// Every device's cursor on one device's listing, and another device's.
	if _, _, err := rt.st.Readings(ctx, "v-101", from, to, domain.Page{Limit: 3, Cursor: good}); !errors.Is(err, domain.ErrBadCursor) {
		t.Errorf("every device's cursor on a device's listing: %v, want ErrBadCursor", err)
	}
	if _, _, err := rt.st.Readings(ctx, "v-102", from, to, domain.Page{Limit: 3, Cursor: device}); !errors.Is(err, domain.ErrBadCursor) {
		t.Errorf("v-101's cursor on v-102's listing: %v, want ErrBadCursor", err)
	}
}

// shortPages answers table Queries as DynamoDB may when it stops a page at
// 1 MB: one item a page, and the first time it is asked to read on from a
// key, none.
type shortPages struct {
	*dynamodb.Client
	mu   sync.Mutex // the listing reads the partitions at once
	seen map[string]bool
}

func (d *shortPages) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := d.Client.Query(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	if in.ExclusiveStartKey != nil {
		k := fmt.Sprint(in.ExclusiveStartKey["pk"], in.ExclusiveStartKey["sk"])
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
		out.LastEvaluatedKey = map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]}
	}
	return out, nil
}

func TestReadingsListRightWhenQueriesAnswerShortPages(t *testing.T) {
	rt := newReadingsTable(t)
	rt.st = store.New(&shortPages{Client: rt.db, seen: map[string]bool{}}, rt.table, func() time.Time { return rt.now })
	from, to := rt.now.Add(-3*time.Hour), rt.now
	want := keysOf(rt.all)
	for _, limit := range []int{1, 2, 5, 13, len(want)} {
		if got := keysOf(rt.pages(t, "", from, to, limit)); !slices.Equal(got, want) {
			t.Errorf("limit %d: listed\n%v\nwant\n%v", limit, got, want)
		}
		if got, w := keysOf(rt.pages(t, "v-103", from, to, limit)), keysOf(of("v-103", rt.all)); !slices.Equal(got, w) {
			t.Errorf("v-103, limit %d: listed\n%v\nwant\n%v", limit, got, w)
		}
	}
}

func TestStoredReadingIDsCountsEveryStoredReading(t *testing.T) {
	rt := newReadingsTable(t)
	ids, err := rt.st.StoredReadingIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	var want []string
	for _, r := range rt.all {
		want = append(want, r.ID)
	}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("stored ids = %v, want %v", ids, want)
	}
}
