package openapifile_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/plainview/serverless/scripts/openapi/openapifile"
)

// The committed openapi.yaml is what the code builds: a route, a field or
// a spec entry changed in Go and not regenerated fails here.
func TestOpenAPIYAMLIsUpToDate(t *testing.T) {
	want, err := openapifile.Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../../openapi.yaml")
	if err != nil {
		t.Fatalf("%v: run `make generate`", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("openapi.yaml is out of date with the route table and the types of shared/api/httpapi: run `make generate` and commit it")
	}
}
