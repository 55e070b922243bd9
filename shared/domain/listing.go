package domain

import "errors"

// Errors the ports answer with; callers test them with errors.Is.
var (
	// ErrNotFound: no record with that id.
	ErrNotFound = errors.New("not found")
	// ErrBadCursor: a cursor that this listing did not hand out.
	ErrBadCursor = errors.New("invalid cursor")
	// ErrConflict: a write refused by its condition (changed or exists).
	ErrConflict = errors.New("conflict")
)

// Listing limits of API.md.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Page asks for one page of a listing.
type Page struct {
	Limit  int    // 1..MaxLimit
	Cursor string // the previous page's next_cursor; empty for the first
}

// EventFilter narrows the event log to one type, one asset, or both.
type EventFilter struct {
	Type  string
	Asset string
}
