// Command readmeroutes writes the README's route table from the route
// table of shared/contract/routes (`make generate` runs it). A test in
// shared/contract/routes fails while the committed README differs from
// what this writes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/plainview/serverless/shared/contract/routes"
)

func main() {
	path := flag.String("readme", "README.md", "the README to rewrite between its routes:begin and routes:end lines")
	flag.Parse()
	if err := run(*path); err != nil {
		fmt.Fprintln(os.Stderr, "readmeroutes:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s, err := routes.InReadme(string(b), routes.Table())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Printf("%s: %d routes\n", path, len(routes.Table()))
	return nil
}
