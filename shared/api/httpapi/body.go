package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/plainview/serverless/shared/contract/apierror"
)

// MaxBody is the largest request body a write accepts.
const MaxBody = 64 << 10

// readBody reads a request's body, at most MaxBody bytes.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBody {
		return nil, tooLarge()
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, badRequest("body: could not be read")
	}
	if len(b) > MaxBody {
		return nil, tooLarge()
	}
	return b, nil
}

func tooLarge() error {
	return &statusError{http.StatusRequestEntityTooLarge, apierror.CodeTooLarge, fmt.Sprintf("body is larger than %d bytes", MaxBody)}
}

// decodeBody decodes a JSON body strictly into v: JSON only (415 for
// anything else), no unknown fields, no trailing data, the right types
// (400), at most MaxBody bytes (413, whatever else is wrong). An empty
// body, or one of JSON whitespace only, is allowed when emptyOK, and
// reported.
//
// A body sent as plain application/json, as nearly every client sends it,
// is decoded as it is read, in one buffer; anything else takes
// decodeBuffered, which reads it whole first. The two give the same answer
// to every body (FuzzDecodeBodies checks it).
func decodeBody(r *http.Request, v any, emptyOK bool) (empty bool, err error) {
	if r.ContentLength > MaxBody {
		return false, tooLarge()
	}
	if len(r.Header.Values("Content-Type")) > 1 {
		return false, badRequest("Content-Type is given more than once")
	}
	if r.Header.Get("Content-Type") != "application/json" {
		return decodeBuffered(r, v, emptyOK)
	}
	var seen bytes.Buffer // what the decoder read, for strictJSON
	body := http.MaxBytesReader(nil, r.Body, MaxBody)
	dec := json.NewDecoder(io.TeeReader(body, &seen))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) { // nothing but whitespace
			return emptyBody(emptyOK)
		}
		return false, refused(body, err)
	}
	// Only JSON whitespace may follow the object: the next token is the end.
	// Whatever else follows is trailing data, even what is no JSON token
	// at all (a syntax error to the decoder), as decodeBuffered says.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if !errors.As(err, &tooBig) {
			err = errTrailing
		}
		return false, refused(body, err)
	}
	return false, strictJSON(seen.Bytes())
}

// strictJSON refuses what encoding/json lets through in a body that
// decoded: bytes that are not UTF-8 (replaced by U+FFFD), a field given
// twice (the last would win), a field name in another case ("TITLE" fills
// title; every field of the API is lower-case snake_case), and a NUL or
// other control character in a string (only tab, newline and carriage
// return may be in free text).
func strictJSON(b []byte) error {
	if !utf8.Valid(b) || loneSurrogate(b) {
		return badRequest("body: not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	// Each open object's field names, and whether its next string is a
	// name; an array pushes nil.
	type scope struct {
		names  map[string]bool
		isName bool
	}
	var stack []*scope
	field := ""
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end: Decode has vouched for the syntax
		}
		top := (*scope)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &scope{names: map[string]bool{}, isName: true})
				continue
			case '[':
				stack = append(stack, nil)
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.isName {
				field = t
				switch {
				case top.names[t]:
					return badRequest(fmt.Sprintf("body: field %q is given twice", t))
				case !snakeCase(t):
					return badRequest(fmt.Sprintf("body: field %q: field names are lower-case snake_case", t))
				}
				top.names[t] = true
				top.isName = false
				continue
			}
			if strings.ContainsFunc(t, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f }) {
				return badRequest(fmt.Sprintf("body: field %q holds a NUL or another control character", field))
			}
		}
		if top := len(stack); top > 0 && stack[top-1] != nil {
			stack[top-1].isName = true // a value ended: a name comes next
		}
	}
}

// loneSurrogate reports a \uXXXX escape of half a UTF-16 surrogate pair
// without its other half, which encoding/json turns into U+FFFD: text
// that is not Unicode, written as an escape. b is JSON that decoded.
func loneSurrogate(b []byte) bool {
	hex4 := func(i int) (rune, bool) { // the code of a \uXXXX at b[i:]
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range b[i+2 : i+6] {
			switch {
			case '0' <= c && c <= '9':
				r = r<<4 | rune(c-'0')
			case 'a' <= c && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case 'A' <= c && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"':
			inString = !inString
		case inString && b[i] == '\\':
			r, ok := hex4(i)
			switch {
			case !ok:
				i++ // a one-letter escape: skip the letter
			case 0xD800 <= r && r < 0xDC00: // high: a low must follow
				if low, ok := hex4(i + 6); !ok || low < 0xDC00 || low > 0xDFFF {
					return true
				}
				i += 11
			case 0xDC00 <= r && r <= 0xDFFF: // a low on its own
				return true
			default:
				i += 5
			}
		}
	}
	return false
}

// snakeCase: 1 to 64 of a-z, 0-9 and _.
func snakeCase(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// errTrailing is data after the body's JSON object.
var errTrailing = errors.New("trailing data after the JSON object")

// refused is the answer to a body that did not decode: 413 when it is over
// MaxBody, which the rest of it may tell, else 400 saying what is wrong.
func refused(body io.Reader, err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge()
	}
	if _, rest := io.Copy(io.Discard, body); errors.As(rest, &tooBig) {
		return tooLarge()
	}
	return badRequest("body: " + jsonProblem(err))
}

func emptyBody(emptyOK bool) (bool, error) {
	if emptyOK {
		return true, nil
	}
	return false, badRequest("body: a JSON object is required")
}

// decodeBuffered is decodeBody for a body read whole first: one whose
// Content-Type needs parsing (parameters, other case), or is not JSON,
// which is refused unless the body is empty.
func decodeBuffered(r *http.Request, v any, emptyOK bool) (empty bool, err error) {
	b, err := readBody(r)
	if err != nil {
		return false, err
	}
	if len(trimJSONSpace(b)) == 0 {
		return emptyBody(emptyOK)
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return false, &statusError{http.StatusUnsupportedMediaType, apierror.CodeUnsupported, "body must be JSON (Content-Type: application/json)"}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false, badRequest("body: " + jsonProblem(err))
	}
	if len(trimJSONSpace(b[dec.InputOffset():])) != 0 {
		return false, badRequest("body: " + jsonProblem(errTrailing))
	}
	return false, strictJSON(b)
}

// trimJSONSpace trims the whitespace JSON allows between tokens.
func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// jsonProblem says what is wrong with a body in words a client can act on,
// without echoing the body back.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "must be a JSON object"
		}
		return fmt.Sprintf("field %q must be %s", typ.Field, kind(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "malformed JSON: unexpected end"
	case errors.Is(err, errTrailing):
		return "trailing data after the JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

func kind(k string) string {
	switch k {
	case "float64", "float32":
		return "a number"
	case "int", "int64", "int32":
		return "an integer"
	case "ptr", "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	}
	return "a " + k
}
