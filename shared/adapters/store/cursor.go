package store

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

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

// positionCursor is the cursor of a readings listing: the position of
// the last reading answered (time, device, message id), and the listing it
// belongs to: D, the device, or "" for every device's.
type positionCursor struct {
	Device *string `json:"d"`
	After  string  `json:"p"`
}

func encodePositionCursor(device, pos string) string {
	s, _ := domain.EncodeCursor(positionCursor{Device: &device, After: pos}) // strings always marshal
	return s
}

// decodePositionCursor checks a client's cursor against the listing it is
// used for (the same device, or every device's) and returns the position;
// the position must be a reading's, inside the range asked for. Anything
// else is domain.ErrBadCursor.
func decodePositionCursor(s, device string, from, to time.Time) (string, error) {
	if s == "" {
		return "", nil
	}
	var c positionCursor
	if err := domain.DecodeCursor(s, domain.MaxCursorLen, &c); err != nil {
		return "", err
	}
	if c.Device == nil {
		return "", fmt.Errorf("%w: malformed", domain.ErrBadCursor)
	}
	if *c.Device != device {
		return "", fmt.Errorf("%w: it belongs to another listing", domain.ErrBadCursor)
	}
	parts := strings.SplitN(c.After, "#", 3)
	if len(parts) != 3 || len(parts[0]) != 13 || strings.Trim(parts[0], "0123456789") != "" ||
		!domain.ValidID(parts[1]) || (device != "" && parts[1] != device) || !validToken(parts[2]) {
		return "", fmt.Errorf("%w: not a position of this listing", domain.ErrBadCursor)
	}
	ms, _ := strconv.ParseInt(parts[0], 10, 64)
	if ms < from.UnixMilli() || ms > to.UnixMilli() {
		return "", fmt.Errorf("%w: outside the range asked for", domain.ErrBadCursor)
	}
	return c.After, nil
}
