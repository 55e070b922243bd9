package core

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/truora/minidyn/types"
)

func plainTable(t *testing.T) *Table {
	t.Helper()
	table := NewTable("plain")
	table.AttributesDef = map[string]string{"pk": "S", "sk": "S", "gpk": "S", "gsk": "S"}
	table.KeySchema = keySchema{"pk", "sk", false}
	g, all := "g", "ALL"
	err := table.AddGlobalIndexes([]*types.GlobalSecondaryIndex{{
		IndexName:             &g,
		KeySchema:             []*types.KeySchemaElement{{AttributeName: "gpk", KeyType: "HASH"}, {AttributeName: "gsk", KeyType: "RANGE"}},
		Projection:            &types.Projection{ProjectionType: &all},
		ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: 1, WriteCapacityUnits: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	// Hash values that share prefixes, one with the "." that joins a key's
	// parts, and index keys that repeat.
	partitions := []string{"P#a", "P#a.b", "P#ab", "P#", "Q"}
	for i := range 400 {
		item := map[string]*types.Item{
			"pk": {S: new(partitions[r.IntN(len(partitions))])},
			"sk": {S: new(fmt.Sprintf("%04d", r.IntN(1000)))},
			"n":  {N: new(fmt.Sprint(i))},
		}
		if i%3 != 0 { // sparse
			item["gpk"] = &types.Item{S: new([]string{"X", "X.Z", "XY"}[r.IntN(3)])}
			item["gsk"] = &types.Item{S: new(fmt.Sprintf("%02d", r.IntN(40)))}
		}
		if _, err := table.Put(&types.PutItemInput{Item: item, TableName: new("plain")}); err != nil {
			t.Fatal(err)
		}
	}
	return table
}

// pages runs a query to its end, a page at a time.
func pages(t *testing.T, table *Table, in QueryInput) [][]map[string]*types.Item {
	t.Helper()
	var out [][]map[string]*types.Item
	for range 1000 {
		items, last, err := table.SearchData(in)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, items, []map[string]*types.Item{last})
		if len(last) == 0 {
			return out
		}
		in.ExclusiveStartKey = last
	}
	t.Fatal("a query that never ends")
	return nil
}

// Plainview's patch: a query that walks its partition alone answers what
// walking every key answers, page for page.
func TestAQueryOfOnePartitionAnswersAsAFullWalk(t *testing.T) {
	table := plainTable(t)
	s := func(v string) *types.Item { return &types.Item{S: new(v)} }
	var queries []QueryInput
	for _, p := range []string{"P#a", "P#a.b", "P#ab", "P#", "Q", "none"} {
		for _, forward := range []bool{true, false} {
			for _, limit := range []int64{0, 7} {
				queries = append(queries,
					QueryInput{KeyConditionExpression: "pk = :p", ExpressionAttributeValues: map[string]*types.Item{":p": s(p)}, ScanIndexForward: forward, Limit: limit},
					QueryInput{KeyConditionExpression: "(#k = :p) AND #s BETWEEN :lo AND :hi", Aliases: map[string]string{"#k": "pk", "#s": "sk"},
						ExpressionAttributeValues: map[string]*types.Item{":p": s(p), ":lo": s("0100"), ":hi": s("0600")}, ScanIndexForward: forward, Limit: limit},
					QueryInput{KeyConditionExpression: ":p = pk and begins_with(sk, :b)", ExpressionAttributeValues: map[string]*types.Item{":p": s(p), ":b": s("02")}, ScanIndexForward: forward, Limit: limit},
				)
			}
		}
	}
	for _, g := range []string{"X", "X.Z", "XY", "none"} {
		for _, forward := range []bool{true, false} {
			for _, limit := range []int64{0, 5} {
				queries = append(queries,
					QueryInput{Index: "g", KeyConditionExpression: "gpk = :g", ExpressionAttributeValues: map[string]*types.Item{":g": s(g)}, ScanIndexForward: forward, Limit: limit},
					QueryInput{Index: "g", KeyConditionExpression: "#g = :g AND gsk < :k", Aliases: map[string]string{"#g": "gpk"},
						ExpressionAttributeValues: map[string]*types.Item{":g": s(g), ":k": s("20")}, ScanIndexForward: forward, Limit: limit},
				)
			}
		}
	}
	matched := 0
	for _, q := range queries {
		table.noPartitionRange = true
		want := pages(t, table, q)
		table.noPartitionRange = false
		got := pages(t, table, q)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %v (index %q, forward %v, limit %d): %d pages walking the partition, %d walking every key, or other items",
				q.KeyConditionExpression, *q.ExpressionAttributeValues[":p"], q.Index, q.ScanIndexForward, q.Limit, len(got), len(want))
		}
		for i := 0; i < len(got); i += 2 {
			matched += len(got[i])
		}
	}
	if matched == 0 {
		t.Fatal("no query matched anything: the comparison proves nothing")
	}
}

func TestTheHashKeyIsReadFromAKeyConditionOrNotAtAll(t *testing.T) {
	v := &types.Item{S: new("x")}
	values := map[string]*types.Item{":v": v, ":w": {S: new("y")}}
	for expr, want := range map[string]bool{
		"pk = :v":                          true,
		":v = pk":                          true,
		"#p = :v AND sk > :w":              true,
		"sk = :w AND pk = :v":              true,
		"( pk = :v ) and sk = :w":          true,
		"pk = :v OR pk = :w":               false, // not a key condition: walk everything
		"NOT pk = :v":                      false,
		"sk = :w":                          false,
		"pk = :missing":                    false,
		"#unknown = :v":                    false,
		"begins_with(pk, :v)":              false,
		"pk BETWEEN :v AND :w":             false,
		"pk = :v AND sk BETWEEN :v AND :w": true,
	} {
		got, ok := hashKeyValue(expr, map[string]string{"#p": "pk"}, values, "pk")
		if ok != want || ok && got != v {
			t.Errorf("%q: %v %v, want found = %v", expr, got, ok, want)
		}
	}
}
