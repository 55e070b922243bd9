package core

import (
	"reflect"
	"testing"

	"github.com/truora/minidyn/types"
)

// Plainview's patch: a transaction remembers the items it touches and puts
// them back, indexes included, instead of restoring a copy of the table.
// After Undo the table, its sorted keys and its index are as they were.
func TestUndoPutsTheTouchedItemsBack(t *testing.T) {
	table := plainTable(t)
	before := table.Snapshot()

	// An existing item, found through the sorted keys.
	var existing map[string]*types.Item
	for _, k := range table.SortedKeys {
		if it := table.Data[k]; it["gpk"] != nil {
			existing = it
			break
		}
	}
	changed := deepCopyItemMap(existing)
	changed["gpk"] = &types.Item{S: new("MOVED")}
	changed["n"] = &types.Item{N: new("-1")}
	fresh := map[string]*types.Item{"pk": {S: new("NEW")}, "sk": {S: new("0001")}, "gpk": {S: new("X")}, "gsk": {S: new("99")}}
	gone := map[string]*types.Item{"pk": existing["pk"], "sk": {S: new("no-such")}}

	var undo []ItemUndo
	for _, k := range []map[string]*types.Item{changed, fresh, gone} {
		u, err := table.Remember(k)
		if err != nil {
			t.Fatal(err)
		}
		undo = append(undo, u)
	}
	for _, item := range []map[string]*types.Item{changed, fresh} {
		if _, err := table.Put(&types.PutItemInput{Item: item, TableName: new("plain")}); err != nil {
			t.Fatal(err)
		}
	}
	if reflect.DeepEqual(table.Snapshot(), before) {
		t.Fatal("the writes changed nothing: the test proves nothing")
	}
	for i := len(undo) - 1; i >= 0; i-- {
		if err := table.Undo(undo[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(table.Snapshot(), before) {
		t.Error("after Undo the table, its keys or its index differ from before the writes")
	}
}
