package openapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/contract/openapi"
	"github.com/plainview/serverless/shared/contract/routes"
)

// build builds a one-route document answering v, and returns it as plain
// JSON values.
func build(t *testing.T, v any) map[string]any {
	t.Helper()
	table := []routes.Route{{Method: http.MethodGet, Path: "/thing/{id}", Function: routes.FuncReads, Scope: routes.Read,
		Throttle: routes.ReadThrottle, Summary: "a thing"}}
	doc, err := openapi.Build(openapi.Info{Title: "t", Version: "1"}, table,
		map[string]openapi.Op{"GET /thing/{id}": {Responses: openapi.OK(v)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, doc)
}

func decode(t *testing.T, doc *openapi.Document) map[string]any {
	t.Helper()
	b, err := doc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// at walks a document by keys.
func at(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for i, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object", strings.Join(keys[:i], "."))
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("no %s", strings.Join(keys[:i+1], "."))
		}
	}
	return v
}

func schema(t *testing.T, doc map[string]any, name string) map[string]any {
	t.Helper()
	return at(t, doc, "components", "schemas", name).(map[string]any)
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

type inner struct {
	N int `json:"n"`
}

type base struct {
	ID    string `json:"id"`
	Shade string `json:"shade"`
}

type gauge struct {
	base
	Shade      float64             `json:"shade"` // hides base's
	Name       string              `json:"name"`
	Note       string              `json:"note,omitempty"`
	Zero       time.Time           `json:"zero,omitzero"`
	At         time.Time           `json:"at"`
	Seen       *time.Time          `json:"seen"`
	Reading    *float64            `json:"reading"`
	Inner      *inner              `json:"inner"`
	Anon       *struct{ A bool }   `json:"anon"`
	Data       json.RawMessage     `json:"data"`
	Tags       []string            `json:"tags"`
	Values     map[string]*float64 `json:"values"`
	Blob       []byte              `json:"blob"`
	Untagged   uint8
	Skipped    string `json:"-"`
	unexported string
}

// Schemas follow encoding/json: tag names, omitempty and omitzero
// optional, pointers nullable, time.Time a date-time string, RawMessage
// any value, embedded fields promoted (the shallower of one name wins),
// "-" and unexported fields left out, and nothing undeclared allowed.
func TestSchemasFollowEncodingJSON(t *testing.T) {
	doc := build(t, gauge{unexported: "not in JSON"})
	g := schema(t, doc, "Gauge")
	want := map[string]string{
		"id":       `{"type":"string"}`,
		"shade":    `{"format":"double","type":"number"}`,
		"name":     `{"type":"string"}`,
		"note":     `{"type":"string"}`,
		"zero":     `{"format":"date-time","type":"string"}`,
		"at":       `{"format":"date-time","type":"string"}`,
		"seen":     `{"format":"date-time","type":["string","null"]}`,
		"reading":  `{"format":"double","type":["number","null"]}`,
		"inner":    `{"anyOf":[{"$ref":"#/components/schemas/Inner"},{"type":"null"}]}`,
		"anon":     `{"additionalProperties":false,"properties":{"A":{"type":"boolean"}},"required":["A"],"type":["object","null"]}`,
		"data":     `{}`,
		"tags":     `{"items":{"type":"string"},"type":"array"}`,
		"values":   `{"additionalProperties":{"format":"double","type":["number","null"]},"type":"object"}`,
		"blob":     `{"contentEncoding":"base64","type":"string"}`,
		"Untagged": `{"format":"int32","type":"integer"}`,
	}
	props := g["properties"].(map[string]any)
	for name, w := range want {
		if got := asJSON(props[name]); got != w {
			t.Errorf("%s: %s, want %s", name, got, w)
		}
	}
	if len(props) != len(want) {
		t.Errorf("properties %v, want those of %v", keys(props), keys(want))
	}
	wantRequired := `["id","shade","name","at","seen","reading","inner","anon","data","tags","values","blob","Untagged"]`
	if got := asJSON(g["required"]); got != wantRequired {
		t.Errorf("required %s, want %s", got, wantRequired)
	}
	if g["additionalProperties"] != false {
		t.Errorf("additionalProperties = %v, want false", g["additionalProperties"])
	}
	if got := asJSON(schema(t, doc, "Inner")); got != `{"additionalProperties":false,"properties":{"n":{"format":"int64","type":"integer"}},"required":["n"],"type":"object"}` {
		t.Errorf("Inner = %s", got)
	}
}

type alarm struct {
	base
	Level string  `json:"level"`
	Cause *string `json:"cause"`
	Inner inner   `json:"inner"`
}

// The members table describes schemas and members, a promoted member by
// its own struct's name, and gives string members their enums (with null
// where the member is nullable).
func TestMembersDescribeSchemasAndGiveEnums(t *testing.T) {
	table := []routes.Route{{Method: http.MethodGet, Path: "/a", Function: routes.FuncReads, Scope: routes.Public, Throttle: routes.PublicThrottle, Summary: "a"}}
	doc := decode(t, must(openapi.Build(openapi.Info{}, table, map[string]openapi.Op{"GET /a": {Responses: openapi.OK(alarm{})}}, openapi.Members{
		"Alarm":       {Description: "an alarm"},
		"Alarm.level": {Description: "how loud", Enum: []string{"low", "high"}},
		"Alarm.cause": {Enum: []string{"heat"}},
		"Alarm.inner": {Description: "the inner one"},
		"Base.id":     {Description: "promoted from base"},
	})))
	a := schema(t, doc, "Alarm")
	if a["description"] != "an alarm" {
		t.Errorf("schema description %v", a["description"])
	}
	for member, want := range map[string]string{
		"level": `{"description":"how loud","enum":["low","high"],"type":"string"}`,
		"cause": `{"enum":["heat",null],"type":["string","null"]}`,
		"inner": `{"$ref":"#/components/schemas/Inner","description":"the inner one"}`,
		"id":    `{"description":"promoted from base","type":"string"}`,
		"shade": `{"type":"string"}`,
	} {
		if got := asJSON(at(t, a, "properties", member)); got != want {
			t.Errorf("%s: %s, want %s", member, got, want)
		}
	}

	for name, members := range map[string]openapi.Members{
		"a member of no schema": {"Alarm.volume": {Description: "x"}},
		"a schema not there":    {"Siren": {Description: "x"}},
		"an enum on a number":   {"Base.shade": {}, "Inner.n": {Enum: []string{"1"}}},
	} {
		if _, err := openapi.Build(openapi.Info{}, table, map[string]openapi.Op{"GET /a": {Responses: openapi.OK(alarm{})}}, members); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

type siren struct {
	Level  string  `json:"level"`
	Before *string `json:"before"`
}

type twoAlarms struct {
	Alarm alarm `json:"alarm"`
	Siren siren `json:"siren"`
}

// A named enum is a schema of its own that each member of its name refers
// to ($ref; anyOf with null where the member is nullable); one name with
// two lists of values, or the name of a struct's schema, is an error.
func TestNamedEnumsAreOneSchemaSharedByTheirMembers(t *testing.T) {
	table := []routes.Route{{Method: http.MethodGet, Path: "/a", Function: routes.FuncReads, Scope: routes.Public, Throttle: routes.PublicThrottle, Summary: "a"}}
	level := func(values ...string) openapi.Member {
		return openapi.Member{Description: "how loud", Enum: values, EnumName: "Level", EnumDescription: "a loudness"}
	}
	doc := decode(t, must(openapi.Build(openapi.Info{}, table, map[string]openapi.Op{"GET /a": {Responses: openapi.OK(twoAlarms{})}}, openapi.Members{
		"Alarm.level":  level("low", "high"),
		"Siren.level":  level("low", "high"),
		"Siren.before": level("low", "high"),
	})))
	if got := asJSON(schema(t, doc, "Level")); got != `{"description":"a loudness","enum":["low","high"],"type":"string"}` {
		t.Errorf("Level = %s", got)
	}
	for _, c := range []struct{ schema, member, want string }{
		{"Alarm", "level", `{"$ref":"#/components/schemas/Level","description":"how loud"}`},
		{"Siren", "level", `{"$ref":"#/components/schemas/Level","description":"how loud"}`},
		{"Siren", "before", `{"anyOf":[{"$ref":"#/components/schemas/Level"},{"type":"null"}],"description":"how loud"}`},
	} {
		if got := asJSON(at(t, schema(t, doc, c.schema), "properties", c.member)); got != c.want {
			t.Errorf("%s.%s = %s, want %s", c.schema, c.member, got, c.want)
		}
	}

	for name, members := range map[string]openapi.Members{
		"two lists under one name": {"Alarm.level": level("low", "high"), "Siren.level": level("low")},
		"a struct's name":          {"Alarm.level": {Enum: []string{"x"}, EnumName: "Siren"}},
	} {
		if _, err := openapi.Build(openapi.Info{}, table, map[string]openapi.Op{"GET /a": {Responses: openapi.OK(twoAlarms{})}}, members); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

type page[T any] struct {
	Items []T `json:"items"`
}

// A generic type is named with its arguments, and a property of a type
// refers to its component.
func TestGenericTypesAreNamedWithTheirArguments(t *testing.T) {
	doc := build(t, page[inner]{})
	p := schema(t, doc, "PageOfInner")
	if got := asJSON(at(t, p, "properties", "items", "items")); got != `{"$ref":"#/components/schemas/Inner"}` {
		t.Errorf("items: %s", got)
	}
}

type selfMarshal struct{}

func (selfMarshal) MarshalJSON() ([]byte, error) { return []byte(`1`), nil }

type withSelfMarshal struct {
	S selfMarshal `json:"s"`
}

// What reflection cannot describe truthfully is an error, not a guess.
func TestTypesReflectionCannotDescribeAreErrors(t *testing.T) {
	for name, v := range map[string]any{
		"a custom MarshalJSON":   withSelfMarshal{},
		"a func":                 func() {},
		"a map keyed by structs": map[inner]string{},
	} {
		table := []routes.Route{{Method: http.MethodGet, Path: "/x", Function: routes.FuncReads, Scope: routes.Public, Throttle: routes.PublicThrottle, Summary: "x"}}
		if _, err := openapi.Build(openapi.Info{}, table, map[string]openapi.Op{"GET /x": {Responses: openapi.OK(v)}}, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Two types of one name would be one schema: an error naming it.
func TestTwoTypesOfOneNameAreAnError(t *testing.T) {
	type inner struct{ X int } // not the package's inner
	type both struct {
		Local   inner      `json:"local"`
		Package outerInner `json:"package"`
	}
	table := []routes.Route{{Method: http.MethodGet, Path: "/a", Function: routes.FuncReads, Scope: routes.Public, Throttle: routes.PublicThrottle, Summary: "a"}}
	_, err := openapi.Build(openapi.Info{}, table, map[string]openapi.Op{"GET /a": {Responses: openapi.OK(both{})}}, nil)
	if err == nil || !strings.Contains(err.Error(), `"Inner"`) {
		t.Errorf("err = %v, want one naming the schema Inner", err)
	}
}

// outerInner is the package's inner, under a name the test function's own
// inner does not hide.
type outerInner = inner

// Every route needs an entry and every entry a route; the error names each.
func TestBuildNamesRoutesWithoutEntriesAndEntriesWithoutRoutes(t *testing.T) {
	table := []routes.Route{
		{Method: http.MethodGet, Path: "/a", Function: routes.FuncReads, Scope: routes.Public, Throttle: routes.PublicThrottle, Summary: "a"},
		{Method: http.MethodPost, Path: "/b/{id}/retire", Function: routes.FuncValves, Scope: routes.Admin, Throttle: routes.WriteThrottle, Summary: "b"},
	}
	_, err := openapi.Build(openapi.Info{}, table, map[string]openapi.Op{
		"GET /a":     {Responses: openapi.OK(inner{})},
		"GET /stale": {Responses: openapi.OK(inner{})},
	}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"POST /b/{id}/retire (function valves) has no entry", "entry for GET /stale, which is no route"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// What a route is decides its parameters, security and error answers.
func TestOperationsFollowTheRouteTable(t *testing.T) {
	table := []routes.Route{
		{Method: http.MethodGet, Path: "/", Function: routes.FuncReads, Scope: routes.Public, Throttle: routes.PublicThrottle, Summary: "root"},
		{Method: http.MethodPost, Path: "/valves/{id}/actuate", Function: routes.FuncValves, Scope: routes.ValvesActuate, Throttle: routes.ActuateThrottle, Summary: "actuate"},
	}
	doc := decode(t, must(openapi.Build(openapi.Info{Title: "t", Version: "1"}, table, map[string]openapi.Op{
		"GET /": {Query: openapi.Listing(), Responses: openapi.OK(inner{})},
		"POST /valves/{id}/actuate": {Body: inner{}, BodyOptional: true, Idempotent: true, Errors: []int{503},
			Responses: []openapi.Response{{Status: 202, Body: inner{}, Location: true}}},
	}, nil)))
	root := at(t, doc, "paths", "/", "get")
	if got := asJSON(at(t, root, "security")); got != `[]` {
		t.Errorf("public security %s", got)
	}
	if got := asJSON(at(t, root, "parameters")); !strings.Contains(got, `"name":"limit","required":false,"schema":{"maximum":200,"minimum":1,"type":"integer"}`) {
		t.Errorf("root parameters %s", got)
	}
	if got := keys(at(t, root, "responses").(map[string]any)); !sameSet(got, "200", "400", "429", "default") {
		t.Errorf("root responses %v", got)
	}
	act := at(t, doc, "paths", "/valves/{id}/actuate", "post")
	if got := at(t, act, "operationId"); got != "postValvesByIdActuate" {
		t.Errorf("operationId %v", got)
	}
	if got := asJSON(at(t, act, "security")); got != `[{"apiKey":["valves:actuate"]}]` {
		t.Errorf("security %s", got)
	}
	if got := keys(at(t, act, "responses").(map[string]any)); !sameSet(got, "202", "400", "401", "403", "404", "409", "413", "415", "422", "429", "503", "default") {
		t.Errorf("actuate responses %v", got)
	}
	if got := at(t, act, "responses", "202", "headers", "Location", "required"); got != true {
		t.Errorf("Location required = %v", got)
	}
	if got := at(t, act, "requestBody", "required"); got != false {
		t.Errorf("optional body required = %v", got)
	}
	if got := asJSON(at(t, act, "parameters")); !strings.Contains(got, `"in":"path","name":"id","required":true`) || !strings.Contains(got, `"Idempotency-Key"`) {
		t.Errorf("actuate parameters %s", got)
	}
	if got := at(t, doc, "components", "responses", "ServiceUnavailable", "headers", "Retry-After", "schema", "type"); got != "string" {
		t.Errorf("503 Retry-After %v", got)
	}
}

func must(d *openapi.Document, err error) *openapi.Document {
	if err != nil {
		panic(err)
	}
	return d
}

func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}
