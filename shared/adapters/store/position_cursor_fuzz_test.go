package store

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// FuzzDecodePositionCursor feeds any string to the readings listings'
// cursor: it never panics; it is accepted only for its own listing with a
// reading's position inside the range, and what it accepts encodes back to
// a cursor that decodes to the same position; anything else is
// ErrBadCursor.
func FuzzDecodePositionCursor(f *testing.F) {
	from, to := time.UnixMilli(1_750_000_000_000), time.UnixMilli(1_760_000_000_000)
	for _, seed := range []string{
		encodePositionCursor("", "1755000000000#v-101#m-1"), encodePositionCursor("v-101", "1755000000000#v-101#m-1"),
		"", "x", envelope(`{"d":"","p":""}`), envelope(`{"d":null,"p":"1755000000000#v-101#m"}`),
		envelope(`{"d":"","p":"1755000000000#v-101#m","x":1}`), envelope(`{"after":{"READINGS#0":""}}`),
		envelope(`{"d":"","p":"9755000000000#v-101#m"}`), envelope(`{"d":"","p":"1755000000000#v 101#m"}`),
	} {
		f.Add(seed, "")
		f.Add(seed, "v-101")
	}
	f.Fuzz(func(t *testing.T, s, device string) {
		pos, err := decodePositionCursor(s, device, from, to)
		if err != nil {
			if !errors.Is(err, domain.ErrBadCursor) {
				t.Fatalf("cursor %q: %v, want ErrBadCursor", s, err)
			}
			return
		}
		if s == "" {
			if pos != "" {
				t.Fatalf("no cursor gave position %q", pos)
			}
			return
		}
		parts := strings.SplitN(pos, "#", 3)
		ms, err := strconv.ParseInt(parts[0], 10, 64)
		if len(parts) != 3 || err != nil || ms < from.UnixMilli() || ms > to.UnixMilli() ||
			!domain.ValidID(parts[1]) || (device != "" && parts[1] != device) || !validToken(parts[2]) {
			t.Fatalf("cursor %q accepted for %q with position %q", s, device, pos)
		}
		back, err := decodePositionCursor(encodePositionCursor(device, pos), device, from, to)
		if err != nil || back != pos {
			t.Fatalf("cursor %q: position %q re-encoded decodes to %q, %v", s, pos, back, err)
		}
	})
}
