package core

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// Plainview's patch: the sorted keys stay what appending and sorting made
// them, for random inserts with repeats and for moves.
func TestInsertSortedKeepsTheKeysAsSortingWould(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var got, want []string
	for range 2000 {
		k := strconv.Itoa(r.IntN(500))
		got = insertSorted(got, k)
		want = append(want, k)
		slices.Sort(want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("insertSorted differs from append and sort")
	}
	for range 500 {
		old, k := want[r.IntN(len(want))], strconv.Itoa(r.IntN(500))
		got = replaceSorted(got, old, k)
		want[slices.Index(want, old)] = k
		slices.Sort(want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("replaceSorted differs from replace and sort")
	}
	if got := replaceSorted([]string{"a", "c"}, "missing", "b"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("replacing a key not there = %v, want b added and nothing else changed", got)
	}
}
