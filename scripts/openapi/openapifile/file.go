// Package openapifile renders openapi.yaml, the committed form of the API's
// OpenAPI document, for the generator (scripts/openapi) and the test that
// keeps the file up to date. It is apart from package openapi so that the
// functions, which serve the document as JSON, do not link a YAML library.
package openapifile

import (
	"fmt"

	"github.com/plainview/serverless/shared/api/httpapi"
)

// header starts the file: it is generated, and says how.
const header = "# The Plainview API's OpenAPI document, generated from shared/contract/routes and\n" +
	"# the spec table of shared/api/httpapi/openapi.go: do not edit; run `make generate`.\n"

// Render returns the contents of openapi.yaml.
func Render() ([]byte, error) {
	doc, err := httpapi.OpenAPI()
	if err != nil {
		return nil, err
	}
	b, err := doc.JSON()
	if err != nil {
		return nil, err
	}
	y, err := yamlOf(b)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return append([]byte(header), y...), nil
}
