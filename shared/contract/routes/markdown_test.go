package routes

import (
	"os"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/core/domain"
)

// The README's API reference is the table, rendered by `make generate`: a
// route added to the table and not regenerated fails here.
func TestTheReadmeListsEveryRoute(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := InReadme(string(b), Table())
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if string(b) != want {
		t.Errorf("README.md's route table is out of date with the route table: run `make generate` and commit it")
	}
}

// InReadme replaces what stands between the markers, and only that; a
// README without them is an error, not a README left as it was.
func TestInReadme(t *testing.T) {
	table := []Route{{Method: "GET", Path: "/livez", Function: "reads", Scope: Public, Summary: "liveness",
		Throttle: Throttle{RatePerSecond: 100, Burst: 200}}}
	rendered := Markdown(table)
	for _, tc := range []struct {
		name, readme, want string
	}{
		{"stale table", "# R\n<!-- routes:begin -->\n| old |\n<!-- routes:end -->\ntail\n",
			"# R\n<!-- routes:begin -->\n" + rendered + "<!-- routes:end -->\ntail\n"},
		{"empty table", "<!-- routes:begin -->\n<!-- routes:end -->",
			"<!-- routes:begin -->\n" + rendered + "<!-- routes:end -->"},
		{"an end marker before the begin one is not the end", "<!-- routes:end -->\n<!-- routes:begin -->\nx\n<!-- routes:end -->",
			"<!-- routes:end -->\n<!-- routes:begin -->\n" + rendered + "<!-- routes:end -->"},
	} {
		got, err := InReadme(tc.readme, table)
		if err != nil || got != tc.want {
			t.Errorf("%s: InReadme = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	for _, readme := range []string{"", "<!-- routes:begin -->\n| x |\n", "| x |\n<!-- routes:end -->", "<!-- routes:begin --> | x |<!-- routes:end -->"} {
		if got, err := InReadme(readme, table); err == nil {
			t.Errorf("InReadme(%q) = %q, want an error", readme, got)
		}
	}
}

// docs/API.md, the contract in words, has a row for every route of the
// table and none for a route the table lacks, and names every event type.
func TestTheAPIContractDescribesEveryRoute(t *testing.T) {
	b, err := os.ReadFile("../../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	want := map[string]bool{}
	for _, r := range Table() {
		row := "| " + r.Method + " | `" + r.Path + "` |"
		want[row] = true
		if !strings.Contains(doc, row) {
			t.Errorf("docs/API.md has no row %q", row)
		}
	}
	for _, typ := range domain.EventTypes {
		if !strings.Contains(doc, "`"+typ+"`") {
			t.Errorf("docs/API.md does not name the event type %s", typ)
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		rest, ok := strings.CutPrefix(line, "| ")
		method, rest, ok2 := strings.Cut(rest, " | `")
		path, _, ok3 := strings.Cut(rest, "` |")
		if !ok || !ok2 || !ok3 || (method != "GET" && method != "POST") {
			continue
		}
		if row := "| " + method + " | `" + path + "` |"; !want[row] {
			t.Errorf("docs/API.md describes %q, which the route table does not have", row)
		}
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
