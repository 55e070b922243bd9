package store

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// cursor is a Query's LastEvaluatedKey and the partition it was read from.
type cursor struct {
	Partition string            `json:"p"`
	Key       map[string]string `json:"k"`
}

// scope names the partition a listing reads and the key attributes of the
// index it reads it through; a cursor must match both to be accepted.
type scope struct {
	partition string   // the value of the hash key the Query asks for
	hashAttr  string   // the attribute holding partition
	attrs     []string // every key attribute of a LastEvaluatedKey here
	// sortAttr and sortPrefix, when set, are the sort key attribute and the
	// prefix the Query's key condition requires of it: DynamoDB refuses an
	// ExclusiveStartKey outside the key condition, and that must be the
	// client's 400, not our 503.
	sortAttr, sortPrefix string
}

func tableScope(pk string) scope {
	return scope{partition: pk, hashAttr: attrPK, attrs: []string{attrPK, attrSK}}
}

func gsiScope(index, pk string) scope {
	hash, rng := attrGSI1PK, attrGSI1SK
	switch index {
	case indexGSI2:
		hash, rng = attrGSI2PK, attrGSI2SK
	case indexGSI3:
		hash, rng = attrGSI3PK, attrGSI3SK
	}
	return scope{partition: pk, hashAttr: hash, attrs: []string{attrPK, attrSK, hash, rng}}
}

// encodeCursor turns a LastEvaluatedKey into an opaque cursor; empty when
// there is no next page.
func encodeCursor(sc scope, last map[string]types.AttributeValue) (string, error) {
	if len(last) == 0 {
		return "", nil
	}
	c := cursor{Partition: sc.partition, Key: make(map[string]string, len(last))}
	for k, v := range last {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("encode cursor: key attribute %s is not a string", k)
		}
		c.Key[k] = s.Value
	}
	return domain.EncodeCursor(c)
}

// decodeCursor checks a client's cursor against the listing it is used
// for and returns the ExclusiveStartKey. Anything else is domain.ErrBadCursor: a
// cursor never reads outside the partition the request asked for.
func decodeCursor(sc scope, s string) (map[string]types.AttributeValue, error) {
	if s == "" {
		return nil, nil
	}
	c, err := parseCursor(s)
	if err != nil {
		return nil, err
	}
	if c.Partition != sc.partition || c.Key[sc.hashAttr] != sc.partition {
		return nil, fmt.Errorf("%w: it belongs to another listing", domain.ErrBadCursor)
	}
	got := slices.Sorted(maps.Keys(c.Key))
	want := slices.Sorted(slices.Values(sc.attrs))
	if !slices.Equal(got, want) {
		return nil, fmt.Errorf("%w: it belongs to another listing", domain.ErrBadCursor)
	}
	if sc.sortPrefix != "" && !strings.HasPrefix(c.Key[sc.sortAttr], sc.sortPrefix) {
		return nil, fmt.Errorf("%w: it belongs to another listing", domain.ErrBadCursor)
	}
	start := make(map[string]types.AttributeValue, len(c.Key))
	for k, v := range c.Key {
		start[k] = str(v)
	}
	return start, nil
}

// parseCursor decodes the cursor's envelope strictly (domain.DecodeCursor)
// and requires a partition and non-empty key values.
func parseCursor(s string) (cursor, error) {
	var c cursor
	if err := domain.DecodeCursor(s, domain.MaxCursorLen, &c); err != nil {
		return c, err
	}
	if c.Partition == "" || len(c.Key) == 0 {
		return c, fmt.Errorf("%w: malformed", domain.ErrBadCursor)
	}
	for _, v := range c.Key {
		if v == "" {
			return c, fmt.Errorf("%w: malformed", domain.ErrBadCursor)
		}
	}
	return c, nil
}

// shardCursor is the cursor of a listing merged from several partitions
// (the all-device readings, written across shards): for each partition
// with items left, the sort key of the last item it contributed, or ""
// when it has contributed none yet. A partition that is not there has
// nothing left. One sort key a partition, not a LastEvaluatedKey, keeps the
// cursor within domain.MaxCursorLen with five partitions; the merge reads on from
// a position with an inclusive key condition and drops the item at it.
type shardCursor struct {
	After map[string]string `json:"after"`
}

// encodeShardCursor turns the partitions' positions into an opaque cursor;
// empty when no partition has items left.
func encodeShardCursor(after map[string]string) (string, error) {
	if len(after) == 0 {
		return "", nil
	}
	s, err := domain.EncodeCursor(shardCursor{After: after})
	if err != nil {
		return "", err
	}
	if len(s) > domain.MaxCursorLen {
		// A cursor we would refuse on the way back in must not go out.
		return "", fmt.Errorf("encode shard cursor: %d bytes, more than %d", len(s), domain.MaxCursorLen)
	}
	return s, nil
}

// decodeShardCursor checks a client's cursor against the merged listing it
// is used for: the partitions must be among those the listing reads, and
// each position must be "" or pass valid (which checks it lies within the
// key condition the listing asks for, since DynamoDB refuses a bound
// outside it and that must be the client's 400, not our 503). Anything
// else is domain.ErrBadCursor.
func decodeShardCursor(partitions []string, valid func(string) bool, s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var c shardCursor
	if err := domain.DecodeCursor(s, domain.MaxCursorLen, &c); err != nil {
		return nil, err
	}
	// A cursor with no partition left is never handed out: the listing
	// answers no cursor then.
	if len(c.After) == 0 {
		return nil, fmt.Errorf("%w: malformed", domain.ErrBadCursor)
	}
	for p, pos := range c.After {
		if !slices.Contains(partitions, p) {
			return nil, fmt.Errorf("%w: it belongs to another listing", domain.ErrBadCursor)
		}
		if pos != "" && !valid(pos) {
			return nil, fmt.Errorf("%w: it belongs to another listing", domain.ErrBadCursor)
		}
	}
	return c.After, nil
}
