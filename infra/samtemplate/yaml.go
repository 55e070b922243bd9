package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The YAML this command writes is a small subset: block mappings in a
// fixed order, block sequences, scalars and CloudFormation's short-form
// tags (!Ref, !GetAtt, !Sub). Writing it here keeps a YAML library out of
// go.mod; the test compares the output byte for byte, and a string that is
// not plainly safe is written double-quoted, which YAML reads as JSON does.

// mapping is a block mapping whose keys keep their order.
type mapping []kv

type kv struct {
	k string
	v any
}

// sequence is a block sequence.
type sequence []any

// tagged is a scalar with a CloudFormation short-form tag: !Ref Api.
type tagged struct{ tag, value string }

func tag(t, v string) tagged { return tagged{t, v} }

// plain matches the strings written without quotes: nothing YAML could
// read as another type or as syntax.
var plain = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:/-]*$`)

// scalar writes a scalar value.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return str(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case tagged:
		return x.tag + " " + str(x.value)
	}
	panic(fmt.Sprintf("samtemplate: no YAML for %T", v)) // a programming error in build
}

func str(s string) string {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~":
		return quoteJSON(s)
	}
	if plain.MatchString(s) && !strings.HasSuffix(s, ":") {
		return s
	}
	return quoteJSON(s)
}

// quoteJSON is a double-quoted YAML scalar: JSON's escapes are YAML's.
func quoteJSON(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// emit writes m as a block mapping indented by indent spaces.
func emit(b *strings.Builder, m mapping, indent int) {
	pad := strings.Repeat(" ", indent)
	for _, e := range m {
		b.WriteString(pad + str(e.k) + ":")
		value(b, e.v, indent)
	}
}

// value writes the value of a key (or of a sequence item) whose line is
// already started.
func value(b *strings.Builder, v any, indent int) {
	switch x := v.(type) {
	case mapping:
		if len(x) == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteString("\n")
		emit(b, x, indent+2)
	case sequence:
		if len(x) == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteString("\n")
		pad := strings.Repeat(" ", indent+2)
		for _, item := range x {
			if m, ok := item.(mapping); ok && len(m) > 0 {
				// "- " takes the place of the indentation of the item's
				// first key; the other keys line up under it.
				var sub strings.Builder
				emit(&sub, m, indent+4)
				b.WriteString(pad + "- " + strings.TrimPrefix(sub.String(), pad+"  "))
				continue
			}
			b.WriteString(pad + "-")
			value(b, item, indent+2)
		}
	default:
		b.WriteString(" " + scalar(v) + "\n")
	}
}
