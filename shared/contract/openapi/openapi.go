// Package openapi builds the API's OpenAPI 3.1 document from the route
// table and, per route, what the table does not say: the query, the body,
// and the answers with their Go types. Schemas come from those types by
// reflection over their json tags, so a field added to a type is in the
// document at once, and a type the document does not describe fails the
// contract tests.
//
// It uses nothing but the standard library: the reads function serves the
// document, and its binary must stay small.
package openapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/routes"
)

// Version is the OpenAPI version of the document.
const Version = "3.1.0"

// Info is the document's info object.
type Info struct {
	Title       string
	Version     string
	Description string
}

// Op is what the document says of one route beyond the route table.
type Op struct {
	// Query lists the query parameters; a route takes no others.
	Query []Param
	// Headers lists the request headers the route reads, beyond those of
	// every route (X-API-Key, Idempotency-Key).
	Headers []Param
	// Body is a value of the request body's type; nil: the route takes no
	// body. BodyOptional: the body may be left out.
	Body         any
	BodyOptional bool
	// Idempotent: the route takes an Idempotency-Key (and may answer 409
	// while one is in progress, 422 when it was used with another body).
	Idempotent bool
	// Responses are the route's answers other than the errors.
	Responses []Response
	// Errors are the error statuses of the route beyond those every route
	// of its kind has (see errorStatuses).
	Errors []int
}

// Param is a query parameter.
type Param struct {
	Name        string
	Description string
	Schema      Schema
	Required    bool
}

// Response is one answer of a route.
type Response struct {
	Status int
	// Body is a value of the body's type, or OneOf values of several.
	Body any
	// Location: the answer has a Location header naming what it made.
	Location bool
	// Link: the answer is one page of a listing, and while more pages
	// follow a Link header names the next (rel="next").
	Link bool
	// EventStream, when set, describes the same answer as server-sent
	// events (text/event-stream), for a client that accepts them.
	EventStream string
}

// OneOf is a body that is one of several types.
type OneOf []any

// Schema is a JSON Schema written by hand, for query parameters.
type Schema map[string]any

// Limit is the page size of a listing.
func Limit() Param {
	return Param{Name: "limit", Description: "page size, 1 to 200 (default 50)", Schema: Schema{"type": "integer", "minimum": 1, "maximum": 200}}
}

// Cursor is the cursor of a listing.
func Cursor() Param {
	return Param{Name: "cursor", Description: "the next_cursor of the previous page", Schema: Schema{"type": "string", "minLength": 1}}
}

// Listing is the query of a plain listing: limit and cursor.
func Listing() []Param { return []Param{Limit(), Cursor()} }

// OK is a route whose only answer is a 200 with a body of v's type.
func OK(v any) []Response { return []Response{{Status: http.StatusOK, Body: v}} }

// errorEnvelope is the error shape of apierror, as the document shows it.
type errorEnvelope struct {
	Error apierror.Error `json:"error"`
}

// Members documents the schemas: keyed by a struct's schema name without
// type arguments ("Incident", "Listing"), the schema itself; by that name,
// a dot and a JSON member name ("Incident.severity"), one member wherever
// it appears, promoted into another struct included.
type Members map[string]Member

// Member is what the document says of a schema or a member beyond its Go
// type.
type Member struct {
	Description string
	// Enum lists the values of a string member.
	Enum []string
	// EnumName, with Enum, makes the values a schema of that name that
	// the member refers to: members of one name share it, so a generated
	// client has one type for them (IncidentSeverity, not one per field).
	// EnumDescription describes that schema.
	EnumName, EnumDescription string
}

// Document is a built OpenAPI document.
type Document struct {
	root *Object
}

// MarshalJSON writes the document.
func (d *Document) MarshalJSON() ([]byte, error) { return d.root.MarshalJSON() }

// Key is how a route's entry is found: "GET /valves/{id}".
func Key(r routes.Route) string { return r.Method + " " + r.Path }

// Build makes the document of table with ops, which must hold exactly one
// entry per route, under the route's Key, and members, whose entries must
// each name a schema or member of the document. A route without an entry,
// an entry without a route, or a members entry naming nothing is an error
// naming each.
func Build(info Info, table []routes.Route, ops map[string]Op, members Members) (*Document, error) {
	var problems []string
	inTable := map[string]bool{}
	for _, r := range table {
		inTable[Key(r)] = true
		if _, ok := ops[Key(r)]; !ok {
			problems = append(problems, fmt.Sprintf("route %s (function %s) has no entry in the OpenAPI spec table", Key(r), r.Function))
		}
	}
	for k := range ops {
		if !inTable[k] {
			problems = append(problems, fmt.Sprintf("the OpenAPI spec table has an entry for %s, which is no route of the table", k))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, fmt.Errorf("openapi: %s", strings.Join(problems, "; "))
	}

	s := newSchemas(members)
	errorSchema, err := s.of(reflect.TypeFor[errorEnvelope]())
	if err != nil {
		return nil, err
	}
	paths := &Object{}
	ids := map[string]string{}
	errorStatus := map[int]bool{}
	for _, r := range table {
		op, err := operation(s, r, ops[Key(r)], errorStatus)
		if err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", Key(r), err)
		}
		id, _ := op.Get("operationId")
		if other, dup := ids[id.(string)]; dup {
			return nil, fmt.Errorf("openapi: %s and %s have the same operationId %s", other, Key(r), id)
		}
		ids[id.(string)] = Key(r)
		item, _ := paths.Get(r.Path)
		if item == nil {
			item = &Object{}
			paths.Set(r.Path, item)
		}
		item.(*Object).Set(strings.ToLower(r.Method), op)
	}

	var unused []string
	for k := range members {
		if !s.used[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		return nil, fmt.Errorf("openapi: the members table documents %s, which the document does not have", strings.Join(unused, ", "))
	}

	// The error answers are components, each once, in status order.
	errorResponses := obj("OtherError", errorResponse("any other error", 0, errorSchema))
	for _, status := range slices.Sorted(maps.Keys(errorStatus)) {
		errorResponses.Set(errorName(status), errorResponse(http.StatusText(status), status, errorSchema))
	}
	infoObj := obj("title", info.Title, "version", info.Version)
	if info.Description != "" {
		infoObj.Set("description", info.Description)
	}
	return &Document{root: obj(
		"openapi", Version,
		"info", infoObj,
		"paths", paths,
		"components", obj(
			"schemas", s.components,
			"responses", errorResponses,
			"securitySchemes", obj("apiKey", obj(
				"type", "apiKey", "in", "header", "name", "X-API-Key",
				"description", "pv_<key_id>_<secret>; the requirement lists the scope the key needs (admin holds all)",
			)),
		),
	)}, nil
}

func operation(s *schemas, r routes.Route, op Op, errorStatus map[int]bool) (*Object, error) {
	o := obj("operationId", operationID(r), "summary", r.Summary, "tags", []any{tag(r)})
	var params []any
	for _, name := range pathParams(r.Path) {
		params = append(params, obj("name", name, "in", "path", "required", true, "schema", obj("type", "string")))
	}
	for _, p := range op.Query {
		schema := &Object{}
		for _, k := range slices.Sorted(maps.Keys(p.Schema)) {
			schema.Set(k, p.Schema[k])
		}
		param := obj("name", p.Name, "in", "query")
		if p.Description != "" {
			param.Set("description", p.Description)
		}
		param.Set("required", p.Required).Set("schema", schema)
		params = append(params, param)
	}
	for _, p := range op.Headers {
		schema := &Object{}
		for _, k := range slices.Sorted(maps.Keys(p.Schema)) {
			schema.Set(k, p.Schema[k])
		}
		params = append(params, obj("name", p.Name, "in", "header", "description", p.Description,
			"required", p.Required, "schema", schema))
	}
	if op.Idempotent {
		params = append(params, obj("name", "Idempotency-Key", "in", "header", "required", false,
			"description", "the first accepted answer to this key is replayed for 24 hours",
			"schema", obj("type", "string", "minLength", 1, "maxLength", 255)))
	}
	if len(params) > 0 {
		o.Set("parameters", params)
	}
	if op.Body != nil {
		schema, err := s.of(reflect.TypeOf(op.Body))
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		o.Set("requestBody", obj("required", !op.BodyOptional, "content", obj("application/json", obj("schema", schema))))
	}
	responses := &Object{}
	for _, resp := range op.Responses {
		out, err := response(s, resp, op.Idempotent)
		if err != nil {
			return nil, fmt.Errorf("response %d: %w", resp.Status, err)
		}
		responses.Set(fmt.Sprint(resp.Status), out)
	}
	for _, status := range errorStatuses(r, op) {
		if _, taken := responses.Get(fmt.Sprint(status)); taken {
			return nil, fmt.Errorf("status %d is both an answer and an error", status)
		}
		errorStatus[status] = true
		responses.Set(fmt.Sprint(status), obj("$ref", "#/components/responses/"+errorName(status)))
	}
	responses.Set("default", obj("$ref", "#/components/responses/OtherError"))
	o.Set("responses", responses)
	o.Set("security", security(r.Scope))
	o.Set("x-rate-limit", obj("rate_per_second", r.Throttle.RatePerSecond, "burst", r.Throttle.Burst))
	return o, nil
}

func response(s *schemas, resp Response, idempotent bool) (*Object, error) {
	out := obj("description", http.StatusText(resp.Status))
	headers := &Object{}
	if resp.Location {
		headers.Set("Location", obj("description", "the path of what the request made", "required", true,
			"schema", obj("type", "string", "format", "uri-reference")))
	}
	if resp.Link {
		headers.Set("Link", obj("description", `while more pages follow: <?...&cursor=...>; rel="next", the next page's query (a reference relative to the request; the cursor is opaque)`,
			"schema", obj("type", "string")))
	}
	if idempotent {
		headers.Set("Idempotent-Replayed", obj("description", "true when this is the kept answer to an earlier request with the same Idempotency-Key",
			"schema", obj("type", "string", "enum", []any{"true"})))
	}
	if len(headers.keys) > 0 {
		out.Set("headers", headers)
	}
	if resp.Body == nil {
		return out, nil
	}
	var schema *Object
	if alts, ok := resp.Body.(OneOf); ok {
		var list []any
		for _, v := range alts {
			alt, err := s.of(reflect.TypeOf(v))
			if err != nil {
				return nil, err
			}
			list = append(list, alt)
		}
		schema = obj("oneOf", list)
	} else {
		var err error
		if schema, err = s.of(reflect.TypeOf(resp.Body)); err != nil {
			return nil, err
		}
	}
	content := obj("application/json", obj("schema", schema))
	if resp.EventStream != "" {
		content.Set("text/event-stream", obj("schema", obj("type", "string", "description", resp.EventStream)))
	}
	return out.Set("content", content), nil
}

// errorName is the component name of an error answer: its status text,
// "TooManyRequests".
func errorName(status int) string {
	return strings.NewReplacer(" ", "", "-", "").Replace(http.StatusText(status))
}

// errorResponse is an answer in the error shape; 429 and 503 say when to
// retry.
func errorResponse(description string, status int, schema *Object) *Object {
	out := obj("description", description)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		out.Set("headers", obj("Retry-After", obj("description", "seconds to wait before retrying", "schema", obj("type", "string"))))
	}
	return out.Set("content", obj("application/json", obj("schema", schema)))
}

// errorStatuses are the errors a route can answer, from what it is: every
// route refuses a query it does not take (400) and may be throttled (429);
// a path parameter can name nothing (404); a key can be missing or lack
// the scope (401, 403); a body can be too large or not JSON (413, 415); an
// Idempotency-Key can be in use (409) or reused with another body (422).
// Anything else (500, 502, 503 of a dependency) is the default answer.
func errorStatuses(r routes.Route, op Op) []int {
	out := []int{http.StatusBadRequest}
	if r.Scope != routes.Public {
		out = append(out, http.StatusUnauthorized, http.StatusForbidden)
	}
	if len(pathParams(r.Path)) > 0 {
		out = append(out, http.StatusNotFound)
	}
	if op.Idempotent {
		out = append(out, http.StatusConflict)
	}
	if op.Body != nil {
		out = append(out, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	if op.Idempotent {
		out = append(out, http.StatusUnprocessableEntity)
	}
	out = append(out, http.StatusTooManyRequests)
	out = append(out, op.Errors...)
	slices.Sort(out)
	return slices.Compact(out)
}

// security is the key a route needs: none on a public route; on a read
// route one with the read scope only where the deployment requires keys
// for reads (hence the empty alternative); else one with the route's
// scope.
func security(scope routes.Scope) []any {
	switch scope {
	case routes.Public:
		return []any{}
	case routes.Read:
		return []any{obj("apiKey", []any{string(scope)}), &Object{}}
	}
	return []any{obj("apiKey", []any{string(scope)})}
}

func pathParams(path string) []string {
	var out []string
	for seg := range strings.SplitSeq(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

// operationID names an operation after its method and path:
// GET /valves/{id}/health is getValvesByIdHealth, GET / getRoot.
func operationID(r routes.Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.Method))
	if r.Path == "/" {
		b.WriteString("Root")
	}
	for seg := range strings.SplitSeq(r.Path, "/") {
		if strings.HasPrefix(seg, "{") {
			b.WriteString("By")
			seg = strings.Trim(seg, "{}")
		}
		for word := range strings.FieldsFuncSeq(seg, func(c rune) bool { return c == '_' || c == '-' || c == '.' }) {
			b.WriteString(upperFirst(word))
		}
	}
	return b.String()
}

// tag groups operations: public routes under "service", others by their
// first path segment.
func tag(r routes.Route) string {
	if r.Scope == routes.Public {
		return "service"
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
	return first
}

// JSON is the document as compact JSON, as GET /openapi.json serves it.
func (d *Document) JSON() ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("openapi: marshal: %w", err)
	}
	return b, nil
}
