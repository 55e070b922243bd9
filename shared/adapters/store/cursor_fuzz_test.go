package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// The listings the cursor properties are checked against: a valve's
// actuations, read from the table, and the valve inventory, read through
// gsi1. Their key attributes differ, so no cursor may serve both.
var (
	valveScope     = tableScope(valvePK("v-101"))
	inventoryScope = gsiScope(indexGSI1, "VALVES")
)

// The event filters FuzzEventPosition checks positions against, one for
// each way the event log is read.
var positionFilters = []domain.EventFilter{
	{},
	{Asset: "v-101"},
	{Type: domain.EventAlertCreated},
	{Asset: "v-101", Type: domain.EventAlertCreated},
}

// encode returns the real encoder's cursor for a LastEvaluatedKey given as
// plain strings.
func encode(t testing.TB, sc scope, last map[string]string) string {
	t.Helper()
	key := make(map[string]types.AttributeValue, len(last))
	for k, v := range last {
		key[k] = str(v)
	}
	c, err := encodeCursor(sc, key)
	if err != nil {
		t.Fatalf("encodeCursor(%v): %v", last, err)
	}
	return c
}

// envelope returns a cursor with the given JSON inside, for forging.
func envelope(json string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(json))
}

func valveCursor(t testing.TB, valveID, actID string) string {
	return encode(t, tableScope(valvePK(valveID)), map[string]string{
		attrPK: valvePK(valveID), attrSK: actuationPrefix + actID,
	})
}

func inventoryCursor(t testing.TB, valveID string) string {
	return encode(t, inventoryScope, map[string]string{
		attrPK: valvePK(valveID), attrSK: metaSK, attrGSI1PK: "VALVES", attrGSI1SK: valveID,
	})
}

// keyStrings returns the string values of a decoded key, failing on any other
// kind of attribute value.
func keyStrings(t testing.TB, key map[string]types.AttributeValue) map[string]string {
	t.Helper()
	out := make(map[string]string, len(key))
	for k, v := range key {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			t.Fatalf("key attribute %s = %#v, want a string", k, v)
		}
		out[k] = s.Value
	}
	return out
}

// checkKey asserts what decodeCursor promises of a start key: exactly the
// scope's attributes, all non-empty strings, the hash key on the scope's
// partition.
func checkKey(t testing.TB, sc scope, cursor string, key map[string]types.AttributeValue) {
	t.Helper()
	got := keyStrings(t, key)
	attrs := make([]string, 0, len(got))
	for k, v := range got {
		attrs = append(attrs, k)
		if v == "" {
			t.Errorf("cursor %q: attribute %s is empty", cursor, k)
		}
	}
	slices.Sort(attrs)
	if want := slices.Sorted(slices.Values(sc.attrs)); !slices.Equal(attrs, want) {
		t.Errorf("cursor %q: key attributes %v, want %v", cursor, attrs, want)
	}
	if got[sc.hashAttr] != sc.partition {
		t.Errorf("cursor %q: %s = %q, outside partition %q", cursor, sc.hashAttr, got[sc.hashAttr], sc.partition)
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add("")
	f.Add(valveCursor(f, "v-101", "act-019a3f0c1e2b7d4c9e8f0a1b2c3d"))
	f.Add(valveCursor(f, "v-102", "act-019a3f0c1e2b7d4c9e8f0a1b2c3d"))
	f.Add(inventoryCursor(f, "v-102"))
	f.Fuzz(func(t *testing.T, s string) {
		accepted := 0
		for _, sc := range []scope{valveScope, inventoryScope} {
			key, err := decodeCursor(sc, s)
			if err != nil {
				if !errors.Is(err, domain.ErrBadCursor) {
					t.Fatalf("decodeCursor(%q) = %v, want ErrBadCursor", s, err)
				}
				if key != nil {
					t.Fatalf("decodeCursor(%q) failed but returned key %v", s, key)
				}
				continue
			}
			if s == "" {
				if key != nil {
					t.Fatalf("empty cursor decoded to %v, want no start key", key)
				}
				continue
			}
			accepted++
			checkKey(t, sc, s, key)

			// Strict envelope: what is accepted is base64url of one JSON
			// value and nothing after it.
			payload, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil || !json.Valid(payload) {
				t.Errorf("accepted cursor %q: payload %q is not one JSON value", s, payload)
			}

			// Whatever decodes re-encodes to a cursor of the same key. The
			// encoder escapes <, >, &, U+2028 and U+2029 and replaces invalid
			// UTF-8, so a forged key near domain.MaxCursorLen may come back too long
			// to be accepted; that is the only way the round trip may fail.
			again, err := encodeCursor(sc, key)
			if err != nil {
				t.Fatalf("encodeCursor(decodeCursor(%q)): %v", s, err)
			}
			back, err := decodeCursor(sc, again)
			if err != nil {
				if len(again) > domain.MaxCursorLen {
					continue
				}
				t.Fatalf("re-encoded cursor %q of %q: %v", again, s, err)
			}
			if want, got := keyStrings(t, key), keyStrings(t, back); !maps.Equal(want, got) {
				t.Fatalf("round trip of %q: key %v, want %v", s, got, want)
			}
		}
		if accepted > 1 {
			t.Errorf("cursor %q accepted by both the table and the gsi1 listing", s)
		}
	})
}

func TestCursorRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		sc   scope
		last map[string]string
	}{
		{"actuations of a valve", valveScope, map[string]string{
			attrPK: "VALVE#v-101", attrSK: "ACT#act-019a3f0c1e2b7d4c9e8f0a1b2c3d",
		}},
		{"valve inventory on gsi1", inventoryScope, map[string]string{
			attrPK: "VALVE#v-103", attrSK: metaSK, attrGSI1PK: "VALVES", attrGSI1SK: "v-103",
		}},
		{"events of a type on gsi2", gsiScope(indexGSI2, "EVENTS#TYPE#alert.created"), map[string]string{
			attrPK: eventsPartition, attrSK: "evt-1", attrGSI2PK: "EVENTS#TYPE#alert.created", attrGSI2SK: "evt-1",
		}},
		{"events of an asset and type on gsi3", gsiScope(indexGSI3, "EVENTS#ASSET#v-101#TYPE#alert.created"), map[string]string{
			attrPK: eventsPartition, attrSK: "evt-1", attrGSI3PK: "EVENTS#ASSET#v-101#TYPE#alert.created", attrGSI3SK: "evt-1",
		}},
		{"values JSON escapes", valveScope, map[string]string{
			attrPK: "VALVE#v-101", attrSK: `ACT#"quoted" \ <b>&amp; é 水 ` + "\u2028",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := encode(t, tt.sc, tt.last)
			if c == "" || len(c) > domain.MaxCursorLen {
				t.Fatalf("cursor %q: length %d, want 1..%d", c, len(c), domain.MaxCursorLen)
			}
			if strings.ContainsAny(c, "+/=") {
				t.Errorf("cursor %q is not unpadded base64url", c)
			}
			key, err := decodeCursor(tt.sc, c)
			if err != nil {
				t.Fatalf("decodeCursor(%q): %v", c, err)
			}
			if got := keyStrings(t, key); !maps.Equal(got, tt.last) {
				t.Errorf("decoded key %v, want %v", got, tt.last)
			}
		})
	}
}

func TestNoNextPageIsTheEmptyCursor(t *testing.T) {
	c, err := encodeCursor(valveScope, nil)
	if err != nil || c != "" {
		t.Errorf("encodeCursor(nil) = %q, %v; want \"\", nil", c, err)
	}
	key, err := decodeCursor(valveScope, "")
	if err != nil || key != nil {
		t.Errorf("decodeCursor(\"\") = %v, %v; want nil, nil", key, err)
	}
}

func TestCursorOfNonStringKeyIsNotEncoded(t *testing.T) {
	last := map[string]types.AttributeValue{
		attrPK: str("VALVE#v-101"), attrSK: &types.AttributeValueMemberN{Value: "1"},
	}
	if c, err := encodeCursor(valveScope, last); err == nil {
		t.Errorf("encodeCursor with a number key = %q, want an error", c)
	}
}

func TestForgedCursorsAreBadCursor(t *testing.T) {
	good := valveCursor(t, "v-101", "act-1")
	goodJSON, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	// A valid cursor is still accepted, so the rejections below are about
	// what was forged and not about the listing.
	if _, err := decodeCursor(valveScope, good); err != nil {
		t.Fatalf("genuine cursor %q: %v", good, err)
	}
	tests := []struct {
		name   string
		sc     scope
		cursor string
	}{
		{"another valve's cursor", valveScope, valveCursor(t, "v-102", "act-1")},
		{"envelope names this partition, key another",
			valveScope, envelope(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-102","sk":"ACT#act-1"}}`)},
		{"key in this partition, envelope names another",
			valveScope, envelope(`{"p":"VALVE#v-102","k":{"pk":"VALVE#v-101","sk":"ACT#act-1"}}`)},
		{"table cursor on a gsi listing", inventoryScope, good},
		{"gsi1 cursor on the table", valveScope, inventoryCursor(t, "v-101")},
		{"gsi1 cursor on gsi2 of the same partition", gsiScope(indexGSI2, "VALVES"), inventoryCursor(t, "v-101")},
		{"missing sort key", valveScope, envelope(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-101"}}`)},
		{"missing partition", valveScope, envelope(`{"k":{"pk":"VALVE#v-101","sk":"ACT#act-1"}}`)},
		{"missing key", valveScope, envelope(`{"p":"VALVE#v-101"}`)},
		{"extra key attribute", valveScope,
			envelope(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-101","sk":"ACT#act-1","gsi1pk":"VALVES"}}`)},
		{"extra envelope field", valveScope,
			envelope(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-101","sk":"ACT#act-1"},"x":1}`)},
		{"number value", valveScope, envelope(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-101","sk":1}}`)},
		{"DynamoDB JSON value", valveScope, envelope(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-101","sk":{"S":"ACT#act-1"}}}`)},
		{"null value", valveScope, envelope(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-101","sk":null}}`)},
		{"empty value", valveScope, envelope(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-101","sk":""}}`)},
		{"number partition", valveScope, envelope(`{"p":1,"k":{"pk":"VALVE#v-101","sk":"ACT#act-1"}}`)},
		{"key is an array", valveScope, envelope(`{"p":"VALVE#v-101","k":["VALVE#v-101","ACT#act-1"]}`)},
		{"JSON null", valveScope, envelope(`null`)},
		{"empty object", valveScope, envelope(`{}`)},
		{"second JSON value", valveScope, envelope(string(goodJSON) + `{}`)},
		{"trailing garbage", valveScope, envelope(string(goodJSON) + ` x`)},
		{"trailing brace", valveScope, envelope(string(goodJSON) + `}`)},
		{"trailing bracket", valveScope, envelope(string(goodJSON) + `]`)},
		{"truncated", valveScope, good[:len(good)-3]},
		{"padding", valveScope, base64.URLEncoding.EncodeToString(goodJSON)},
		{"standard alphabet", valveScope,
			base64.RawStdEncoding.EncodeToString([]byte(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-101","sk":"ACT#>>>???"}}`))},
		{"not base64", valveScope, "!!!"},
		{"too long", valveScope, valveCursor(t, "v-101", strings.Repeat("a", domain.MaxCursorLen))},
		{"too long however well formed", valveScope,
			envelope(`{"p":"VALVE#v-101","k":{"pk":"VALVE#v-101","sk":"ACT#act-1"}}` + strings.Repeat(" ", domain.MaxCursorLen))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := decodeCursor(tt.sc, tt.cursor)
			if !errors.Is(err, domain.ErrBadCursor) {
				t.Errorf("decodeCursor(%q) = %v, %v; want ErrBadCursor", tt.cursor, keyStrings(t, key), err)
			}
		})
	}
}

func FuzzEventPosition(f *testing.F) {
	var s Store
	for _, filter := range positionFilters {
		c, err := s.EventCursor(filter, "evt-019a3f0c1e2b7d4c9e8f0a1b2c3d")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c)
	}
	f.Add("")
	f.Fuzz(func(t *testing.T, c string) {
		for _, filter := range positionFilters {
			sc := eventQuery(filter).sc
			id, err := eventPosition(sc, c)
			if err != nil {
				if !errors.Is(err, domain.ErrBadCursor) {
					t.Fatalf("eventPosition(%+v, %q) = %v, want ErrBadCursor", filter, c, err)
				}
				continue
			}
			if c == "" {
				t.Fatalf("eventPosition(%+v, \"\") = %q, want ErrBadCursor", filter, id)
			}
			if !domain.ValidID(id) {
				t.Fatalf("eventPosition(%+v, %q) = %q, not an id", filter, c, id)
			}
			// The position is that of the event the store would hand out a
			// cursor for.
			again, err := s.EventCursor(filter, id)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := eventPosition(sc, again); err != nil || back != id {
				t.Fatalf("EventCursor(%+v, %q) reads back as %q, %v", filter, id, back, err)
			}
		}
	})
}

func TestEventPositionOfEachFilter(t *testing.T) {
	var s Store
	const id = "evt-019a3f0c1e2b7d4c9e8f0a1b2c3d"
	for _, filter := range positionFilters {
		c, err := s.EventCursor(filter, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range positionFilters {
			got, err := eventPosition(eventQuery(other).sc, c)
			switch {
			case other == filter && (err != nil || got != id):
				t.Errorf("position of %+v cursor = %q, %v; want %q", filter, got, err, id)
			case other != filter && !errors.Is(err, domain.ErrBadCursor):
				t.Errorf("%+v cursor on %+v listing = %q, %v; want ErrBadCursor", filter, other, got, err)
			}
		}
	}
	notID := encode(t, tableScope(eventsPartition), map[string]string{attrPK: eventsPartition, attrSK: "evt 1"})
	if got, err := eventPosition(tableScope(eventsPartition), notID); !errors.Is(err, domain.ErrBadCursor) {
		t.Errorf("position with sort key %q = %q, %v; want ErrBadCursor", "evt 1", got, err)
	}
}
