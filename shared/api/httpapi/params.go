package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/plainview/serverless/shared/core/domain"
)

// query parses a request's query string strictly: only the named
// parameters, each at most once. A typo is a 400, not a silently ignored
// filter.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	if r.URL.RawQuery == "" {
		return nil, nil // reading a nil url.Values is reading an empty one
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("query string: malformed")
	}
	for name, vs := range q {
		if !slices.Contains(allowed, name) {
			return nil, badRequest(fmt.Sprintf("query parameter %q is not supported", name))
		}
		if len(vs) > 1 {
			return nil, badRequest(fmt.Sprintf("query parameter %q given more than once", name))
		}
	}
	return q, nil
}

// page reads limit and cursor: limit 1..200, 50 when absent.
func page(q url.Values) (domain.Page, error) {
	p := domain.Page{Limit: domain.DefaultLimit, Cursor: q.Get("cursor")}
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s[0])
		if err != nil || n < 1 || n > domain.MaxLimit {
			return p, badRequest(fmt.Sprintf("limit must be an integer from 1 to %d", domain.MaxLimit))
		}
		p.Limit = n
	}
	if _, ok := q["cursor"]; ok && p.Cursor == "" {
		return p, badRequest("cursor must not be empty")
	}
	return p, nil
}

// listingParams parses the query of a plain listing.
func listingParams(r *http.Request) (domain.Page, error) {
	q, err := query(r, "limit", "cursor")
	if err != nil {
		return domain.Page{}, err
	}
	return page(q)
}

// eventsQuery is GET /events's query.
type eventsQuery struct {
	filter domain.EventFilter
	page   domain.Page
	since  string
}

func parseEventsQuery(r *http.Request) (eventsQuery, error) {
	var e eventsQuery
	q, err := query(r, "limit", "cursor", "type", "asset", "since")
	if err != nil {
		return e, err
	}
	if e.page, err = page(q); err != nil {
		return e, err
	}
	if t, ok := q["type"]; ok {
		if !slices.Contains(domain.EventTypes, t[0]) {
			return e, badRequest(fmt.Sprintf("type %q is not an event type", t[0]))
		}
		e.filter.Type = t[0]
	}
	if a, ok := q["asset"]; ok {
		if !domain.ValidID(a[0]) {
			return e, badRequest("asset must be an id: letters, digits, - and _, 1 to 64 characters")
		}
		e.filter.Asset = a[0]
	}
	if s, ok := q["since"]; ok {
		if s[0] == "" {
			return e, badRequest("since must be a cursor")
		}
		if e.page.Cursor != "" {
			return e, badRequest("since and cursor cannot be combined")
		}
		e.since = s[0]
	}
	return e, nil
}

// pathID reads an id from the path; one that cannot be an id cannot name
// a record, so it is a 404 like any unknown id.
func pathID(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	if !domain.ValidID(id) {
		return "", notFound(fmt.Sprintf("no %s %q", name, id))
	}
	return id, nil
}

// noQuery refuses a query string on routes that take none.
func noQuery(r *http.Request) error {
	_, err := query(r)
	return err
}
