package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/core/domain"
)

// get builds the request by hand: httptest.NewRequest panics on targets a
// client may still send.
func get(raw string) *http.Request {
	return &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/events", RawQuery: raw}}
}

// aCursor is what a store cursor looks like; the parsers treat it as
// opaque.
const aCursor = "eyJwIjoiRVZFTlRTIiwiayI6eyJwayI6IkVWRU5UUyIsInNrIjoiZXZ0LTEifX0"

// checkBadRequest asserts that err is the 400 a client gets for a bad query.
func checkBadRequest(t *testing.T, raw string, err error) {
	t.Helper()
	se, ok := err.(*statusError)
	if !ok {
		t.Fatalf("query %q: error %T %v, want a *statusError", raw, err, err)
	}
	if se.status != http.StatusBadRequest || se.code != apierror.CodeBadRequest || se.message == "" {
		t.Fatalf("query %q: %d %s %q, want a 400 bad request with a message", raw, se.status, se.code, se.message)
	}
}

// checkStrict asserts that an accepted query string is well formed and
// names only allowed parameters, each once and none empty, and returns it
// parsed.
func checkStrict(t *testing.T, raw string, allowed ...string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("accepted malformed query %q: %v", raw, err)
	}
	for name, vs := range q {
		if !slices.Contains(allowed, name) {
			t.Errorf("query %q: accepted unknown parameter %q", raw, name)
		}
		if len(vs) != 1 {
			t.Errorf("query %q: accepted parameter %q %d times", raw, name, len(vs))
		}
		if vs[0] == "" {
			t.Errorf("query %q: accepted empty parameter %q", raw, name)
		}
	}
	return q
}

// checkPage asserts the page an accepted query string asks for.
func checkPage(t *testing.T, raw string, q url.Values, p domain.Page) {
	t.Helper()
	if p.Limit < 1 || p.Limit > domain.MaxLimit {
		t.Errorf("query %q: limit %d, want 1..%d", raw, p.Limit, domain.MaxLimit)
	}
	want := domain.DefaultLimit
	if s, ok := q["limit"]; ok {
		want, _ = strconv.Atoi(s[0])
	}
	if p.Limit != want {
		t.Errorf("query %q: limit %d, want %d", raw, p.Limit, want)
	}
	if p.Cursor != q.Get("cursor") {
		t.Errorf("query %q: cursor %q, want %q", raw, p.Cursor, q.Get("cursor"))
	}
}

var eventsSeeds = []string{
	"",
	"limit=10",
	"limit=200&cursor=" + aCursor,
	"type=alert.created&asset=v-101&limit=1",
	"since=" + aCursor + "&type=valve.actuation.completed",
	"since=" + aCursor + "&cursor=" + aCursor,
	"limit=0",
	"limit=1e3",
	"limit=10&limit=20",
	"cursor=",
	"type=bogus",
	"asset=v%2F101",
	"a=1;b=2",
	"%zz",
	"limit=" + strings.Repeat("9", 4096),
}

func FuzzEventsQuery(f *testing.F) {
	for _, s := range eventsSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		e, err := parseEventsQuery(get(raw))
		if err != nil {
			checkBadRequest(t, raw, err)
			return
		}
		q := checkStrict(t, raw, "limit", "cursor", "type", "asset", "since")
		checkPage(t, raw, q, e.page)
		if e.filter.Type != "" && !slices.Contains(domain.EventTypes, e.filter.Type) {
			t.Errorf("query %q: type %q is not an event type", raw, e.filter.Type)
		}
		if e.filter.Asset != "" && !domain.ValidID(e.filter.Asset) {
			t.Errorf("query %q: asset %q is not an id", raw, e.filter.Asset)
		}
		if e.since != "" && e.page.Cursor != "" {
			t.Errorf("query %q: both since %q and cursor %q", raw, e.since, e.page.Cursor)
		}
		if e.filter.Type != q.Get("type") || e.filter.Asset != q.Get("asset") || e.since != q.Get("since") {
			t.Errorf("query %q: filter %+v since %q, not what was asked", raw, e.filter, e.since)
		}
	})
}

func FuzzListingParams(f *testing.F) {
	for _, s := range eventsSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := listingParams(get(raw))
		if err != nil {
			checkBadRequest(t, raw, err)
			return
		}
		checkPage(t, raw, checkStrict(t, raw, "limit", "cursor"), p)
	})
}

func TestEventsQuery(t *testing.T) {
	page := func(limit int, cursor string) domain.Page { return domain.Page{Limit: limit, Cursor: cursor} }
	good := []struct {
		raw  string
		want eventsQuery
	}{
		{"", eventsQuery{page: page(50, "")}},
		{"limit=1", eventsQuery{page: page(1, "")}},
		{"limit=200", eventsQuery{page: page(200, "")}},
		{"cursor=" + aCursor, eventsQuery{page: page(50, aCursor)}},
		{"type=alert.created", eventsQuery{page: page(50, ""), filter: domain.EventFilter{Type: "alert.created"}}},
		{"asset=v-101", eventsQuery{page: page(50, ""), filter: domain.EventFilter{Asset: "v-101"}}},
		{"asset=B-Central&type=incident.updated&limit=5&cursor=" + aCursor,
			eventsQuery{page: page(5, aCursor), filter: domain.EventFilter{Type: "incident.updated", Asset: "B-Central"}}},
		{"since=" + aCursor, eventsQuery{page: page(50, ""), since: aCursor}},
		{"since=" + aCursor + "&limit=7&type=valve.actuation.completed&asset=v_1",
			eventsQuery{page: page(7, ""), since: aCursor, filter: domain.EventFilter{Type: "valve.actuation.completed", Asset: "v_1"}}},
		{"type=alert%2Ecreated", eventsQuery{page: page(50, ""), filter: domain.EventFilter{Type: "alert.created"}}},
	}
	for _, tt := range good {
		t.Run("good "+tt.raw, func(t *testing.T) {
			got, err := parseEventsQuery(get(tt.raw))
			if err != nil {
				t.Fatalf("parseEventsQuery(%q): %v", tt.raw, err)
			}
			if got != tt.want {
				t.Errorf("parseEventsQuery(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
	bad := []string{
		"limit=0",
		"limit=201",
		"limit=-1",
		"limit=abc",
		"limit=1e3",
		"limit=",
		"limit=99999999999999999999",
		"limit=10&limit=10",
		"type=alert.created&type=alert.resolved",
		"cursor=a&cursor=b",
		"sort=asc",
		"Limit=10",
		"type=bogus",
		"type=",
		"type=ALERT.CREATED",
		"asset=v%2F101",
		"asset=v/101",
		"asset=",
		"asset=" + strings.Repeat("a", 65),
		"since=" + aCursor + "&cursor=" + aCursor,
		"since=",
		"cursor=",
		"limit=10;type=alert.created",
		"limit=%zz",
	}
	for _, raw := range bad {
		t.Run("bad "+raw, func(t *testing.T) {
			e, err := parseEventsQuery(get(raw))
			if err == nil {
				t.Fatalf("parseEventsQuery(%q) = %+v, want a 400", raw, e)
			}
			checkBadRequest(t, raw, err)
		})
	}
}

func TestListingParams(t *testing.T) {
	good := []struct {
		raw  string
		want domain.Page
	}{
		{"", domain.Page{Limit: 50}},
		{"limit=1", domain.Page{Limit: 1}},
		{"limit=200", domain.Page{Limit: 200}},
		{"cursor=" + aCursor, domain.Page{Limit: 50, Cursor: aCursor}},
		{"cursor=" + aCursor + "&limit=3", domain.Page{Limit: 3, Cursor: aCursor}},
	}
	for _, tt := range good {
		t.Run("good "+tt.raw, func(t *testing.T) {
			got, err := listingParams(get(tt.raw))
			if err != nil {
				t.Fatalf("listingParams(%q): %v", tt.raw, err)
			}
			if got != tt.want {
				t.Errorf("listingParams(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
	bad := []string{
		"limit=0",
		"limit=201",
		"limit=-1",
		"limit=abc",
		"limit=1e3",
		"limit=1&limit=1",
		"cursor=",
		"cursor=a&cursor=a",
		"type=alert.created",
		"since=" + aCursor,
		"%zz",
	}
	for _, raw := range bad {
		t.Run("bad "+raw, func(t *testing.T) {
			p, err := listingParams(get(raw))
			if err == nil {
				t.Fatalf("listingParams(%q) = %+v, want a 400", raw, p)
			}
			checkBadRequest(t, raw, err)
		})
	}
}
