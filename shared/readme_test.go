package shared_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The README's layout table names every package of shared/ and scripts/,
// so a newcomer finds each one there.
func TestTheREADMELayoutTableListsEveryPackage(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(b), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no ## Layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z0-9_/.-]+?)/?`").FindAllStringSubmatch(layout, -1) {
		listed[m[1]] = true
	}
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "../shared/...", "../scripts/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root = strings.TrimSuffix(root, "/shared") + "/"
	dirs := strings.Fields(string(out))
	if len(dirs) < 30 {
		t.Fatalf("go list gave %d packages, want the 30 or more of shared/ and scripts/", len(dirs))
	}
	for _, dir := range dirs {
		if rel := strings.TrimPrefix(dir, root); !listed[rel] {
			t.Errorf("README.md's layout table does not list %s", rel)
		}
	}
}
