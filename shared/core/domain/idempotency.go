package domain

import "time"

// Idempotency record states.
const (
	IdemPending = "pending" // the first request is still being handled
	IdemDone    = "done"    // its answer is stored for replays
)

// IdemRecord is what the API keeps for one Idempotency-Key: the claim of
// the request being handled, then its answer for replays.
type IdemRecord struct {
	State       string            `json:"state"`
	RequestHash string            `json:"request_hash"`
	Claim       string            `json:"claim"`
	ClaimedAt   time.Time         `json:"claimed_at"`
	Status      int               `json:"status,omitempty"`
	Header      map[string]string `json:"header,omitempty"`
	Body        string            `json:"body,omitempty"`
	ExpiresAt   int64             `json:"expires_at"`
}
