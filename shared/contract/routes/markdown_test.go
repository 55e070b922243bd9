package routes

import (
	"os"
	"strings"
	"testing"
)

// The README's API reference is the table, rendered: a route added to the
// table and not to the README (or the other way) fails here.
func TestTheReadmeListsEveryRoute(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
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

// events/README.md describes every sample event, and every function (each
// folder of functions/) has at least one.
func TestTheEventsReadmeDescribesEverySample(t *testing.T) {
	b, err := os.ReadFile("../../../events/README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	functions, err := os.ReadDir("../../../functions")
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range functions {
		if !fn.IsDir() {
			continue
		}
		if !strings.Contains(readme, "**"+fn.Name()+"**") {
			t.Errorf("events/README.md does not name the function %s", fn.Name())
		}
		samples, err := os.ReadDir("../../../events/" + fn.Name())
		if err != nil || len(samples) == 0 {
			t.Errorf("events/%s: no sample event for the function %s", fn.Name(), fn.Name())
			continue
		}
		for _, s := range samples {
			if name := fn.Name() + "/" + s.Name(); !strings.Contains(readme, "**"+name+"**") {
				t.Errorf("events/README.md does not describe %s", name)
			}
		}
	}
}
