package core

import (
	"testing"

	"github.com/truora/minidyn/types"
)

// Plainview's patch: a deep copy keeps an empty list or map as an empty
// list or map, so a snapshot restored after a failed transaction holds the
// same values as before.
func TestDeepCopyKeepsEmptyListsAndMaps(t *testing.T) {
	in := &types.Item{M: map[string]*types.Item{
		"list": {L: []*types.Item{}},
		"map":  {M: map[string]*types.Item{}},
	}}
	out := deepCopyTypesItem(in)
	if l := out.M["list"].L; l == nil || len(l) != 0 {
		t.Errorf("empty list copied as %#v", out.M["list"])
	}
	if m := out.M["map"].M; m == nil || len(m) != 0 {
		t.Errorf("empty map copied as %#v", out.M["map"])
	}
}
