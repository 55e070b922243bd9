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
	// ErrInvalid: a request's own fields are wrong (HTTP 400); wrapped with
	// what is wrong.
	ErrInvalid = errors.New("invalid")
)

// RuleError is a request that is well formed but that a rule of docs/API.md
// refuses (HTTP 422): a command to an unavailable valve, a status that
// would go backwards.
type RuleError struct {
	Code    string // machine code, e.g. "valve_unavailable"
	Message string
}

func (e *RuleError) Error() string { return e.Message }

// ConflictError is a request refused because of the state of the record
// (HTTP 409): an actuation already open, a stale version.
type ConflictError struct {
	Code    string
	Message string
}

func (e *ConflictError) Error() string { return e.Message }

// Is makes every ConflictError match ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Listing limits of docs/API.md.
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

// MaxCursorLen bounds what a client may send as a cursor; real ones are a
// few hundred bytes.
const MaxCursorLen = 1024

// OnConflict runs attempt (with its try number, from 1) until it lands. An attempt whose write met
// another writer's change (a plain ErrConflict from the write's
// condition) reads and decides again, up to tries times; then the answer
// is exhausted(). Any other error ends it at once, a ConflictError
// included: that one is already the answer for the client.
func OnConflict[T any](tries int, attempt func(try int) (T, error), exhausted func() error) (T, error) {
	for try := 1; ; try++ {
		v, err := attempt(try)
		var final *ConflictError
		if !errors.Is(err, ErrConflict) || errors.As(err, &final) {
			return v, err
		}
		if try >= tries {
			return v, exhausted()
		}
	}
}
