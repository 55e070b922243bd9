package domain

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether s is an id as API.md defines them: letters,
// digits, - and _, 1 to 64 characters.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// NewID returns an id that sorts by time: the prefix, the Unix time in
// microseconds as 14 hex digits, and 16 random hex digits (64 bits, so ids
// made in the same microsecond do not collide). Listings ordered by id are
// then ordered by creation time, also for the events one request writes
// within the same millisecond.
func NewID(prefix string, now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return fmt.Sprintf("%s-%014x%s", prefix, now.UnixMicro(), hex.EncodeToString(b[:]))
}
