package routes

import (
	"os"
	"strings"
	"testing"
)

// The README's API reference is the table, rendered: a route added to the
// table and not to the README (or the other way) fails here.
func TestTheReadmeListsEveryRoute(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- routes:begin -->\n", "<!-- routes:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q section", begin, end)
	}
	got := s[i+len(begin) : j]
	if want := Markdown(Table()); got != want {
		t.Errorf("README.md's route table is out of date; it should read:\n%s", want)
	}
}
