package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEMFNamesAreTheFunctions' holds the EMF metric names the stack alarms
// on and graphs to the code that emits them: each must be a string
// literal in the non-test Go files of its emitter, so a metric renamed in
// one place and not the other fails here rather than leaving an alarm
// that never fires.
func TestEMFNamesAreTheFunctions(t *testing.T) {
	for name, dir := range map[string]string{
		emfActuationTimeouts: "../shared/lambda/timeoutsfunc",
		emfOpenIncidents:     "../shared/lambda/timeoutsfunc",
		emfActiveLeaks:       "../shared/lambda/timeoutsfunc",
		emfKeyStoreFailures:  "../functions/authorizer",
		emfDeadLetters:       "../shared/core/ingest",
	} {
		if !stringLiterals(t, dir)[name] {
			t.Errorf("the stack uses EMF metric %q, which %s never names", name, dir)
		}
	}
}

// stringLiterals returns the string literals of a package's non-test files.
func stringLiterals(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil {
					out[v] = true
				}
			}
			return true
		})
	}
	return out
}
