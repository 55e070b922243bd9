package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

func TestTheShardOfAReadingSpreadsIdsOverEveryShard(t *testing.T) {
	var per [readingShards]int
	for i := range 1000 {
		per[readingShard(fmt.Sprintf("v-%d", 101+i%7), fmt.Sprintf("%020x", i*7919))]++
	}
	// 250 expected per shard; a hash that spreads falls well within
	// 150..350 (the standard deviation is about 14).
	for n, c := range per {
		if c < 150 || c > 350 {
			t.Errorf("shard %d got %d of 1000 readings: %v", n, c, per)
		}
	}
}

func TestAReadingIsWrittenToTheShardOfItsKey(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for i := range 40 {
		r := domain.Reading{ID: fmt.Sprintf("m%d", i), Device: "v-101", At: at}
		p := readingShardPartition(readingShard(r.Device, r.ID))
		if !strings.HasPrefix(p, "READINGS#") || p == "READINGS#" {
			t.Fatalf("partition %q", p)
		}
		seen[p] = true
	}
	// One device's readings are not all on one shard: the shard is of
	// the message, so a chatty device spreads too.
	if len(seen) != readingShards {
		t.Errorf("one device's 40 readings went to %d shards, want %d", len(seen), readingShards)
	}
}

func TestTheLongestCursorOfEveryDevicesReadingsFits(t *testing.T) {
	// Device ids are at most 64 characters, message ids 20 hex digits.
	pos := fmt.Sprintf("%013d#%s#%020d", time.Now().UnixMilli(), strings.Repeat("d", 64), 0)
	after := map[string]string{}
	for _, p := range ReadingsIndexPartitions() {
		after[p] = pos
	}
	c, err := encodeShardCursor(after)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	got, err := decodeShardCursor(ReadingsIndexPartitions(), func(string) bool { return true }, c)
	if err != nil || len(got) != len(after) {
		t.Errorf("decode of %d bytes: %v, %v", len(c), got, err)
	}
}
