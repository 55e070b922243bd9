package domain

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// ValidID reports whether s is an id as docs/API.md defines them: letters,
// digits, - and _, 1 to 64 characters.
// A byte loop rather than a regexp: every request checks its path ids, and
// this is a tenth of the cost (docs/benchmarks.md).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewID returns an id that sorts by time: the prefix, the Unix time in
// microseconds as 14 hex digits, and 16 random hex digits (64 bits, so ids
// made in the same microsecond do not collide). Listings ordered by id are
// then ordered by creation time, also for the events one request writes
// within the same millisecond.
func NewID(prefix string, now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return string(hex.AppendEncode(timeID(prefix, now, 16), b[:]))
}

// IDAt is the position in a log ordered by id that comes before every id
// NewID gives at t or later, and after every id it gave before t: the
// prefix and the time without the random part. It is itself a valid id.
func IDAt(prefix string, t time.Time) string {
	return string(timeID(prefix, t, 0))
}

// timeID is the prefix, "-" and the time as 14 hex digits, with room for
// extra more bytes.
func timeID(prefix string, now time.Time, extra int) []byte {
	id := make([]byte, len(prefix)+1+14, len(prefix)+1+14+extra)
	copy(id, prefix)
	id[len(prefix)] = '-'
	// 14 hex digits of the time, zero-padded, written in place: this runs
	// three times an actuation, and Sprintf was a tenth of its cost.
	us := uint64(now.UnixMicro())
	for i := len(id) - 1; i > len(prefix); i-- {
		id[i] = "0123456789abcdef"[us&0xf]
		us >>= 4
	}
	return id
}
