// Command openapi writes openapi.yaml, the API's OpenAPI 3.1 document,
// from the route table and the spec table of shared/api/httpapi (`make
// openapi`). A test in shared/contract/openapi fails while the committed file
// differs from what this writes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/plainview/serverless/scripts/openapi/openapifile"
)

func main() {
	out := flag.String("o", "openapi.yaml", "the file to write")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	b, err := openapifile.Render()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Printf("%s: %d bytes\n", path, len(b))
	return nil
}
