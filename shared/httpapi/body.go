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

	"github.com/plainview/serverless/shared/apierror"
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
// (400). An empty body is allowed when emptyOK, and reported.
func decodeBody(r *http.Request, v any, emptyOK bool) (empty bool, err error) {
	b, err := readBody(r)
	if err != nil {
		return false, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if emptyOK {
			return true, nil
		}
		return false, badRequest("body: a JSON object is required")
	}
	// The usual header needs no parsing; anything else (parameters,
	// other case) does.
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return false, &statusError{http.StatusUnsupportedMediaType, apierror.CodeUnsupported, "body must be JSON (Content-Type: application/json)"}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false, badRequest("body: " + jsonProblem(err))
	}
	// Only JSON whitespace may follow the object.
	if len(bytes.Trim(b[dec.InputOffset():], " \t\r\n")) != 0 {
		return false, badRequest("body: trailing data after the JSON object")
	}
	return false, nil
}

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
