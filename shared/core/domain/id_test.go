package domain_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"a", true},
		{"v-101", true},
		{"A-North", true},
		{"inc_0193a5f7c2d1e4f5a6b7", true},
		{"-_-", true},
		{strings.Repeat("x", 64), true},

		{"", false},
		{strings.Repeat("x", 65), false},
		{"a/b", false},
		{"../etc", false},
		{"a b", false},
		{"a.b", false},
		{"é", false},
		{"v-101é", false},
		{"a\n", false}, // a trailing newline must not slip past the end anchor
		{"\na", false},
		{"a\x00", false},
		{"a%2Fb", false},
	}
	for _, tt := range tests {
		if got := domain.ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestNewIDIsAValidIDCarryingItsTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.UTC)
	for _, prefix := range []string{"inc", "alert", "act", "evt"} {
		id := domain.NewID(prefix, now)
		if !domain.ValidID(id) {
			t.Errorf("NewID(%q) = %q, not a valid id", prefix, id)
		}
		// prefix, "-", 14 hex digits of Unix microseconds, 16 random hex digits
		rest, ok := strings.CutPrefix(id, prefix+"-")
		if !ok || len(rest) != 30 {
			t.Fatalf("NewID(%q) = %q, want %q, a dash and 30 hex digits", prefix, id, prefix)
		}
		us, err := strconv.ParseInt(rest[:14], 16, 64)
		if err != nil || us != now.UnixMicro() {
			t.Errorf("NewID(%q) = %q carries time %d (%v), want %d", prefix, id, us, err, now.UnixMicro())
		}
		if _, err := strconv.ParseUint(rest[14:], 16, 64); err != nil {
			t.Errorf("NewID(%q) = %q: random part not hex: %v", prefix, id, err)
		}
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	// Increasing times, a millisecond or more apart, including the step
	// where the hex count gains a digit (0xfff to 0x1000): without the
	// fixed width, "1000" would sort before "fff".
	times := []time.Time{
		time.UnixMilli(0),
		time.UnixMilli(0xffe),
		time.UnixMilli(0xfff),
		time.UnixMilli(0x1000),
		time.UnixMilli(0x1001),
		time.Date(2001, 9, 9, 1, 46, 40, 0, time.UTC),
		time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 1, 12, 0, 0, int(time.Millisecond), time.UTC),
		time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC),
		time.Date(2200, 12, 31, 23, 59, 59, 999_999_000, time.UTC),
	}
	var ids []string
	for _, tm := range times {
		ids = append(ids, domain.NewID("inc", tm))
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids of increasing times do not sort in that order:\n%s", strings.Join(ids, "\n"))
	}
}

func TestNewIDIsUnique(t *testing.T) {
	seen := map[string]bool{}
	add := func(id string) {
		t.Helper()
		if seen[id] {
			t.Fatalf("NewID returned %q twice", id)
		}
		seen[id] = true
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	// Ids of different milliseconds differ in their time part.
	for i := range 10_000 {
		add(domain.NewID("act", start.Add(time.Duration(i)*time.Millisecond)))
	}

	// Within one millisecond only the 32 random bits tell ids apart, so
	// the chance of a collision among k of them is about k²/2³³: kept to
	// about one in a million here (k = 100).
	later := start.Add(time.Hour)
	for range 100 {
		add(domain.NewID("act", later))
	}
}

// IDAt sits between the ids made before t and those made at t or later,
// whatever their random part.
func TestIDAtSortsBetweenEarlierAndLaterIDs(t *testing.T) {
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	pos := domain.IDAt("evt", at)
	if !domain.ValidID(pos) {
		t.Fatalf("IDAt = %q, not a valid id", pos)
	}
	for range 100 {
		before := domain.NewID("evt", at.Add(-time.Microsecond))
		same := domain.NewID("evt", at)
		after := domain.NewID("evt", at.Add(time.Microsecond))
		if !(before < pos && pos < same && same < after) {
			t.Fatalf("want %q < %q < %q < %q", before, pos, same, after)
		}
	}
}
