package domain

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

type position struct {
	Partition string            `json:"p"`
	Key       map[string]string `json:"k"`
}

func TestACursorComesBackAsItWent(t *testing.T) {
	in := position{Partition: "VALVE#v-101", Key: map[string]string{"pk": "VALVE#v-101", "sk": "ACT#1"}}
	s, err := EncodeCursor(in)
	if err != nil {
		t.Fatal(err)
	}
	var out position
	if err := DecodeCursor(s, 1024, &out); err != nil {
		t.Fatalf("DecodeCursor(%q): %v", s, err)
	}
	if out.Partition != in.Partition || len(out.Key) != 2 || out.Key["sk"] != "ACT#1" {
		t.Errorf("got %+v, want %+v", out, in)
	}
}

// Every way a cursor can be other than one we handed out is ErrBadCursor,
// with what is wrong.
func TestDecodeCursorRefusesWhatWeDidNotHandOut(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	for _, tc := range []struct {
		name, cursor, why string
	}{
		{"too long", b64([]byte(`{"p":"` + strings.Repeat("x", 100) + `"}`)), "too long"},
		{"padded base64", base64.URLEncoding.EncodeToString([]byte(`{"p":"ab"}`)), "not base64url"},
		{"standard alphabet", "+/+/", "not base64url"},
		{"not JSON", b64([]byte(`p=a`)), "malformed"},
		{"an unknown member", b64([]byte(`{"p":"a","x":1}`)), "malformed"},
		{"a wrong type", b64([]byte(`{"p":1}`)), "malformed"},
		{"a second value", b64([]byte(`{"p":"a"}{"p":"b"}`)), "malformed"},
		{"a stray brace", b64([]byte(`{"p":"a"}}`)), "malformed"},
		{"empty", "", "malformed"},
	} {
		var p position
		err := DecodeCursor(tc.cursor, 64, &p)
		if !errors.Is(err, ErrBadCursor) || !strings.HasSuffix(err.Error(), tc.why) {
			t.Errorf("%s: DecodeCursor(%q) = %v, want ErrBadCursor: %s", tc.name, tc.cursor, err, tc.why)
		}
	}
}
