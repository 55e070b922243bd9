package legacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// node is one JSON value with the byte offset it starts at, so every
// refusal can name the line and column of the value it is about. The
// standard decoder forgets positions once a value is decoded into a struct;
// walking the tokens keeps them.
type node struct {
	off, end int // [off, end) is the value's text
	kind     kind
	str      string      // a string
	num      json.Number // a number
	b        bool        // a boolean
	fields   []field     // an object's members, in file order
	items    []*node     // an array's elements
}

type field struct {
	name string
	off  int // where the member's name starts
	val  *node
}

type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "a list", "an object"}[k]
}

// maxDepth bounds nesting: the old files nest five deep; metadata is free
// form, and a pathological file must not exhaust the stack.
const maxDepth = 64

// errAt is a refusal at a byte offset of the file.
type errAt struct {
	off    int
	reason string
}

func (e *errAt) Error() string { return e.reason }

func at(off int, format string, args ...any) *errAt {
	return &errAt{off: off, reason: fmt.Sprintf(format, args...)}
}

// parseTree reads one JSON value that must be all of data (whitespace
// aside). A syntax error comes back as *errAt at the offset the decoder
// reports.
func parseTree(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := readValue(dec, data, 0)
	if err != nil {
		return nil, err
	}
	off := skipSpace(data, int(dec.InputOffset()))
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, syntaxErr(err, data)
		}
		return nil, at(off, "unexpected data after the end of the JSON value")
	}
	return n, nil
}

// skipSpace moves off past whitespace and the separators ':' and ',',
// none of which can start a value: what is left is where the next token
// starts. (The decoder's InputOffset is the end of the previous token.)
func skipSpace(data []byte, off int) int {
	for off < len(data) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ':', ',':
			off++
		default:
			return off
		}
	}
	return off
}

// syntaxErr places a syntax error. The decoder's offsets are not
// positions in the file once Token has been used (its scanner skips the
// bytes Token consumes), so the file is scanned again in one piece, as
// Unmarshal does, whose offset counts the bytes read up to and including
// the bad one.
func syntaxErr(err error, data []byte) error {
	var se *json.SyntaxError
	if errors.As(json.Unmarshal(data, new(json.RawMessage)), &se) {
		off := int(se.Offset)
		if off < len(data) || !strings.HasPrefix(se.Error(), "unexpected end") {
			off-- // point at the bad byte itself
		}
		reason := se.Error()
		if strings.HasPrefix(reason, "unexpected end") {
			reason = "the file ends in the middle of a value"
		}
		return at(max(off, 0), "not valid JSON: %s", reason)
	}
	return at(len(data), "not valid JSON: %s", err.Error())
}

func readValue(dec *json.Decoder, data []byte, depth int) (*node, error) {
	off := skipSpace(data, int(dec.InputOffset()))
	if depth > maxDepth {
		return nil, at(off, "nested more than %d deep", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxErr(err, data)
	}
	n := &node{off: off}
	switch t := tok.(type) {
	case nil:
		n.kind = kindNull
	case bool:
		n.kind, n.b = kindBool, t
	case json.Number:
		n.kind, n.num = kindNumber, t
	case string:
		n.kind, n.str = kindString, t
	case json.Delim:
		switch t {
		case '{':
			n.kind = kindObject
			seen := map[string]int{}
			for dec.More() {
				koff := skipSpace(data, int(dec.InputOffset()))
				k, err := dec.Token()
				if err != nil {
					return nil, syntaxErr(err, data)
				}
				name, _ := k.(string) // More and Token guarantee a string key
				if first, dup := seen[name]; dup {
					l, _ := lineCol(data, first)
					return nil, at(koff, "duplicate key %q (first at line %d)", name, l)
				}
				seen[name] = koff
				v, err := readValue(dec, data, depth+1)
				if err != nil {
					return nil, err
				}
				n.fields = append(n.fields, field{name: name, off: koff, val: v})
			}
		case '[':
			n.kind = kindArray
			for dec.More() {
				v, err := readValue(dec, data, depth+1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, v)
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, syntaxErr(err, data)
		}
	}
	n.end = int(dec.InputOffset())
	return n, nil
}

// lineCol turns a byte offset into a 1-based line and column; the column
// counts characters, as editors do.
func lineCol(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCount(before[start:])
}

// get returns the member called name, or nil.
func (n *node) get(name string) *node {
	for _, f := range n.fields {
		if f.name == name {
			return f.val
		}
	}
	return nil
}

// float reads a number as a float64; JSON numbers past float64's range
// (1e400) are refused rather than turned into infinity.
func (n *node) float() (float64, error) {
	f, err := strconv.ParseFloat(string(n.num), 64)
	if err != nil {
		return 0, fmt.Errorf("number %s is out of range", n.num)
	}
	return f, nil
}
