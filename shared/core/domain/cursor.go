package domain

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
)

// EncodeCursor turns a listing's position, v, into the opaque cursor a
// client sends back: base64url (no padding) of its JSON.
func EncodeCursor(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeCursor reads a cursor of EncodeCursor's into v, strictly: at most
// maxLen bytes, canonical base64url, one JSON value of exactly v's shape
// (no unknown member) and nothing after it. Anything else is ErrBadCursor,
// since a cursor comes from the client and only one we handed out may
// steer a read. Whether the position fits the listing is the caller's to
// check.
func DecodeCursor(s string, maxLen int, v any) error {
	if len(s) > maxLen {
		return fmt.Errorf("%w: too long", ErrBadCursor)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return fmt.Errorf("%w: not base64url", ErrBadCursor)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: malformed", ErrBadCursor)
	}
	// Nothing may follow the value; dec.More would miss a stray } or ].
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: malformed", ErrBadCursor)
	}
	return nil
}
