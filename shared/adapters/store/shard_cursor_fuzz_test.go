package store

import (
	"errors"
	"slices"
	"testing"

	"github.com/plainview/serverless/shared/core/domain"
)

// FuzzDecodeShardCursor feeds any string to the all-device readings'
// cursor: it never panics; it is accepted only with known partitions and
// positions the listing calls valid, and what it accepts encodes back to a
// cursor that decodes to the same positions; anything else is
// ErrBadCursor.
func FuzzDecodeShardCursor(f *testing.F) {
	partitions := ReadingsIndexPartitions()
	lo, hi := "0001700000000000", "0001800000000000~"
	valid := func(pos string) bool { return len(pos) > 14 && pos[13] == '#' && pos >= lo && pos <= hi }
	good, err := encodeShardCursor(map[string]string{partitions[0]: "0001750000000#v-101#m-1", partitions[len(partitions)-1]: ""})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{good, "", "x", envelope(`{"after":{}}`), envelope(`{"after":{"READINGS#9":""}}`),
		envelope(`{"after":{"READINGS#0":"nope"}}`), envelope(`{"after":{"READINGS#0":""},"x":1}`), good + "="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		after, err := decodeShardCursor(partitions, valid, s)
		if err != nil {
			if !errors.Is(err, domain.ErrBadCursor) {
				t.Fatalf("cursor %q: %v, want ErrBadCursor", s, err)
			}
			return
		}
		for p, pos := range after {
			if !slices.Contains(partitions, p) || (pos != "" && !valid(pos)) {
				t.Fatalf("cursor %q accepted with partition %q at %q", s, p, pos)
			}
		}
		again, err := encodeShardCursor(after)
		if err != nil {
			t.Fatalf("re-encode %v: %v", after, err)
		}
		back, err := decodeShardCursor(partitions, valid, again)
		if err != nil || len(back) != len(after) {
			t.Fatalf("cursor %q: re-encoded %q decodes to %v, %v", s, again, back, err)
		}
		for p, pos := range after {
			if back[p] != pos {
				t.Fatalf("cursor %q: partition %s at %q, after re-encoding %q", s, p, pos, back[p])
			}
		}
	})
}
