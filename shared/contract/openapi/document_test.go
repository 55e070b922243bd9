package openapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/contract/routes"
)

// apiDocument is the API's document as JSON, or the test's failure with
// what to do about it.
func apiDocument(t *testing.T) []byte {
	t.Helper()
	doc, err := httpapi.OpenAPI()
	if err != nil {
		t.Fatalf("%v\n\nAdd an entry for each route named above to openAPISpecs in shared/api/httpapi/openapi.go "+
			"(its comment shows one), then run `make generate`.", err)
	}
	b, err := doc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every route of the table is in the document, with its summary.
func TestEveryRouteIsInTheDocument(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Summary string `json:"summary"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(apiDocument(t), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range routes.Table() {
		op, ok := doc.Paths[r.Path][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("%s %s is not in the document", r.Method, r.Path)
			continue
		}
		if op.Summary != r.Summary {
			t.Errorf("%s %s: summary %q, want %q", r.Method, r.Path, op.Summary, r.Summary)
		}
	}
	for _, item := range doc.Paths {
		n += len(item)
	}
	if n != len(routes.Table()) {
		t.Errorf("the document has %d operations, the table %d routes", n, len(routes.Table()))
	}
}

// The document is valid OpenAPI 3.1, as libopenapi-validator checks it
// against the specification's schema.
func TestTheDocumentIsValidOpenAPI31(t *testing.T) {
	doc, err := libopenapi.NewDocument(apiDocument(t))
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("version %s, want 3.1", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	ok, verrs := v.ValidateDocument()
	for _, e := range verrs {
		t.Errorf("%s: %s", e.Message, e.Reason)
		for _, se := range e.SchemaValidationErrors {
			t.Errorf("  %s at %s (%s)", se.Reason, se.FieldPath, se.KeywordLocation)
		}
	}
	if !ok && len(verrs) == 0 {
		t.Error("invalid, with no reason given")
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Errorf("model: %v", err)
	}
}

// Every schema of the document and every member of one says what it is
// (a generated client turns these into its comments), so a field added to
// an answer needs an entry in openAPIMembers of shared/api/httpapi.
func TestEverySchemaAndMemberIsDescribed(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Description string                     `json:"description"`
				Properties  map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(apiDocument(t), &doc); err != nil {
		t.Fatal(err)
	}
	described := 0
	for name, s := range doc.Components.Schemas {
		if s.Description == "" {
			t.Errorf("schema %s has no description: add an entry %q to openAPIMembers", name, name)
		}
		for member, raw := range s.Properties {
			var p struct {
				Description string `json:"description"`
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			if p.Description == "" {
				t.Errorf("%s.%s has no description: add an entry to openAPIMembers (keyed by the Go type that declares it)", name, member)
				continue
			}
			described++
		}
	}
	if described == 0 {
		t.Fatal("no member is described")
	}
}
