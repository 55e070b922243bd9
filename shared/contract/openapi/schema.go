package openapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"
)

// schemas turns Go types into JSON Schema (2020-12, as OpenAPI 3.1 has it)
// the way encoding/json writes them: each named struct once, as a
// component, referred to by $ref.
type schemas struct {
	components *Object
	// names maps each struct type to its component name, and back, so two
	// types of one name are an error instead of one silently winning.
	names map[reflect.Type]string
	types map[string]reflect.Type
	// members documents schemas and their members; used records which
	// entries were met, so an entry naming nothing is an error.
	members Members
	used    map[string]bool
}

func newSchemas(members Members) *schemas {
	return &schemas{components: &Object{}, names: map[reflect.Type]string{}, types: map[string]reflect.Type{},
		members: members, used: map[string]bool{}}
}

// member returns the entry of key, noting it was used.
func (s *schemas) member(key string) (Member, bool) {
	m, ok := s.members[key]
	if ok {
		s.used[key] = true
	}
	return m, ok
}

// of returns the schema of values of type t as encoding/json marshals
// them: a nil pointer is null, so pointers are nullable.
func (s *schemas) of(t reflect.Type) (*Object, error) {
	marshaler, textMarshaler := reflect.TypeFor[json.Marshaler](), reflect.TypeFor[encoding.TextMarshaler]()
	switch {
	case t == reflect.TypeFor[time.Time]():
		return obj("type", "string", "format", "date-time"), nil
	case t == reflect.TypeFor[json.RawMessage]():
		return &Object{}, nil // any JSON value
	case t.Kind() == reflect.Pointer:
		inner, err := s.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return nullable(inner), nil
	case t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler),
		t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler):
		// Its JSON is whatever its method writes, which reflection
		// cannot see: a rule for it belongs above.
		return nil, fmt.Errorf("%s marshals itself: the schema builder needs a rule for it", t)
	}
	switch t.Kind() {
	case reflect.Bool:
		return obj("type", "boolean"), nil
	// Formats give generated clients the Go type's width: without one,
	// a generator picks its own (oapi-codegen: float32 for every number).
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return obj("type", "integer", "format", "int32"), nil
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return obj("type", "integer", "format", "int64"), nil
	case reflect.Float32:
		return obj("type", "number", "format", "float"), nil
	case reflect.Float64:
		return obj("type", "number", "format", "double"), nil
	case reflect.String:
		return obj("type", "string"), nil
	case reflect.Interface:
		return &Object{}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return obj("type", "string", "contentEncoding", "base64"), nil
		}
		items, err := s.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return obj("type", "array", "items", items), nil
	case reflect.Map:
		switch t.Key().Kind() {
		case reflect.String, reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		default:
			return nil, fmt.Errorf("%s: map keys of kind %s do not marshal as JSON object keys", t, t.Key().Kind())
		}
		values, err := s.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return obj("type", "object", "additionalProperties", values), nil
	case reflect.Struct:
		if t.Name() == "" {
			return s.object(t)
		}
		return s.ref(t)
	}
	return nil, fmt.Errorf("%s: kind %s has no JSON form", t, t.Kind())
}

// ref returns a $ref to t's component, adding the component first.
func (s *schemas) ref(t reflect.Type) (*Object, error) {
	name, ok := s.names[t]
	if !ok {
		name = componentName(t)
		if other, taken := s.types[name]; taken {
			return nil, fmt.Errorf("%s and %s would both be the schema %q: rename one", other, t, name)
		}
		if _, enum := s.components.Get(name); enum {
			return nil, fmt.Errorf("%s would be the schema %q, an enum's name: rename one", t, name)
		}
		s.names[t], s.types[name] = name, t
		s.components.Set(name, nil) // placeholder: a type may refer to itself
		o, err := s.object(t)
		if err != nil {
			return nil, err
		}
		if m, ok := s.member(ownerName(t)); ok {
			if len(m.Enum) > 0 {
				return nil, fmt.Errorf("%s: an enum is for a string member, not an object", ownerName(t))
			}
			o = described(o, m.Description)
		}
		s.components.Set(name, o)
	}
	return obj("$ref", "#/components/schemas/"+name), nil
}

// componentName is a type's name as a schema: exported, and for a generic
// type with its arguments ("listing[x/domain.Event]" is ListingOfEvent).
func componentName(t reflect.Type) string {
	name := t.Name()
	base, args, generic := strings.Cut(name, "[")
	if !generic {
		return upperFirst(name)
	}
	var b strings.Builder
	b.WriteString(upperFirst(base) + "Of")
	// Each argument is a qualified name, "github.com/x/domain.Event":
	// the part after the last dot names it.
	for _, arg := range strings.FieldsFunc(args, func(r rune) bool { return r == ',' || r == '[' || r == ']' }) {
		b.WriteString(upperFirst(arg[strings.LastIndex(arg, ".")+1:]))
	}
	return b.String()
}

// ownerName is how the members table names a struct type: its schema
// name without type arguments ("Listing" for listing[domain.Event]), so
// one entry documents every instance; "" for an anonymous struct.
func ownerName(t reflect.Type) string {
	base, _, _ := strings.Cut(t.Name(), "[")
	return upperFirst(base)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// field is one member of a struct's JSON object.
type field struct {
	name     string
	typ      reflect.Type
	optional bool
	depth    int
	// owner is the struct that declares the field, as ownerName names it:
	// a promoted field keeps its own struct's documentation.
	owner string
}

// object is the schema of a struct: its fields as encoding/json sees them,
// required unless omitempty or omitzero, and nothing else allowed, so a
// field the code adds and the document lacks fails validation.
func (s *schemas) object(t reflect.Type) (*Object, error) {
	fields, err := jsonFields(t, 0)
	if err != nil {
		return nil, err
	}
	props := &Object{}
	var required []any
	for _, f := range fields {
		schema, err := s.of(f.typ)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, f.name, err)
		}
		if f.owner != "" {
			key := f.owner + "." + f.name
			if m, ok := s.member(key); ok {
				if schema, err = s.documented(schema, m); err != nil {
					return nil, fmt.Errorf("%s: %w", key, err)
				}
			}
		}
		props.Set(f.name, schema)
		if !f.optional {
			required = append(required, f.name)
		}
	}
	o := obj("type", "object", "properties", props)
	if len(required) > 0 {
		o.Set("required", required)
	}
	o.Set("additionalProperties", false)
	return o, nil
}

// jsonFields lists a struct's JSON members as encoding/json does: exported
// fields by their tag name, "-" left out, untagged embedded structs'
// fields promoted, a shallower field hiding a deeper one of the same name.
// Two of one name at the same depth, which encoding/json silently drops,
// are an error here.
func jsonFields(t reflect.Type, depth int) ([]field, error) {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				inner, err := jsonFields(et, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, inner...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		optional := false
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "omitempty", "omitzero":
				optional = true
			case "string":
				return nil, fmt.Errorf("%s.%s: the ,string option is not supported", t, sf.Name)
			}
		}
		out = append(out, field{name: name, typ: ft, optional: optional, depth: depth, owner: ownerName(t)})
	}
	if depth > 0 {
		return out, nil
	}
	return dominant(t, out)
}

// dominant keeps, for each name, the shallowest field.
func dominant(t reflect.Type, fields []field) ([]field, error) {
	best := map[string]int{}
	for i, f := range fields {
		j, seen := best[f.name]
		switch {
		case !seen || f.depth < fields[j].depth:
			best[f.name] = i
		case f.depth == fields[j].depth:
			return nil, fmt.Errorf("%s: two fields named %q at the same depth; encoding/json would drop both", t, f.name)
		}
	}
	var out []field
	for i, f := range fields {
		if best[f.name] == i {
			out = append(out, f)
		}
	}
	return out, nil
}

// nullable lets a schema also be null: a type array where the schema has
// one type, anyOf around a $ref. A schema of any value already allows null.
func nullable(s *Object) *Object {
	if len(s.keys) == 0 {
		return s
	}
	if typ, ok := s.Get("type"); ok {
		if name, ok := typ.(string); ok {
			out := &Object{}
			for _, k := range s.keys {
				out.Set(k, s.vals[k])
			}
			return out.Set("type", []any{name, "null"})
		}
		return s // already a type array, which only nullable builds
	}
	return obj("anyOf", []any{s, obj("type", "null")})
}

// documented adds a member's description and enum to its schema: the enum
// on a string (with null too where the member is nullable), or a $ref to
// the named enum's schema; the description beside everything, a $ref
// included (OpenAPI 3.1 allows it).
func (s *schemas) documented(schema *Object, m Member) (*Object, error) {
	out := &Object{}
	for _, k := range schema.keys {
		out.Set(k, schema.vals[k])
	}
	if m.EnumName != "" {
		ref, err := s.namedEnum(m.EnumName, m.EnumDescription, m.Enum)
		if err != nil {
			return nil, err
		}
		switch typ, _ := out.Get("type"); {
		case typ == "string":
			out = ref
		case asJSONString(typ) == `["string","null"]`:
			out = obj("anyOf", []any{ref, obj("type", "null")})
		default:
			return nil, fmt.Errorf("an enum is for a string member, not %v", typ)
		}
		return described(out, m.Description), nil
	}
	if len(m.Enum) > 0 {
		values := make([]any, 0, len(m.Enum)+1)
		for _, v := range m.Enum {
			values = append(values, v)
		}
		switch typ, _ := out.Get("type"); {
		case typ == "string":
		case asJSONString(typ) == `["string","null"]`:
			values = append(values, nil)
		default:
			return nil, fmt.Errorf("an enum is for a string member, not %v", typ)
		}
		out.Set("enum", values)
	}
	return described(out, m.Description), nil
}

// described sets a schema's description, if there is one.
func described(schema *Object, description string) *Object {
	if description != "" {
		schema.Set("description", description)
	}
	return schema
}

func asJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// namedEnum returns a $ref to the enum schema name, adding it first; one
// name with other values is an error, as is a name a struct has.
func (s *schemas) namedEnum(name, description string, values []string) (*Object, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("enum %s has no values", name)
	}
	if t, taken := s.types[name]; taken {
		return nil, fmt.Errorf("enum %s: %s has that schema name", name, t)
	}
	list := make([]any, len(values))
	for i, v := range values {
		list[i] = v
	}
	if have, ok := s.components.Get(name); ok {
		if got, _ := have.(*Object).Get("enum"); asJSONString(got) != asJSONString(list) {
			return nil, fmt.Errorf("enum %s is given two lists of values: %v and %v", name, got, list)
		}
	} else {
		s.components.Set(name, described(obj("type", "string", "enum", list), description))
	}
	return obj("$ref", "#/components/schemas/"+name), nil
}
