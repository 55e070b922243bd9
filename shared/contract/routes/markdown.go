package routes

import (
	"fmt"
	"strings"
)

// Markdown renders the table as the README's API reference, so the
// reference is generated from the table and a test keeps it so.
func Markdown(table []Route) string {
	var b strings.Builder
	b.WriteString("| method | path | function | scope | rate/s | burst | |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range table {
		scope := string(r.Scope)
		if r.Scope == Public {
			scope = "public"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %g | %d | %s |\n",
			r.Method, r.Path, r.Function, scope, r.Throttle.RatePerSecond, r.Throttle.Burst, r.Summary)
	}
	return b.String()
}

// The README's route table stands between these two lines.
const (
	readmeBegin = "<!-- routes:begin -->\n"
	readmeEnd   = "<!-- routes:end -->"
)

// InReadme returns readme with its route table, the text between the
// routes:begin and routes:end lines, replaced by Markdown(table): `make
// generate` writes the README with it, and a test fails while the
// committed README differs from what it returns.
func InReadme(readme string, table []Route) (string, error) {
	i := strings.Index(readme, readmeBegin)
	if i < 0 {
		return "", fmt.Errorf("no %q line", strings.TrimSpace(readmeBegin))
	}
	j := strings.Index(readme[i:], readmeEnd)
	if j < 0 {
		return "", fmt.Errorf("no %q line after %q", readmeEnd, strings.TrimSpace(readmeBegin))
	}
	j += i
	return readme[:i+len(readmeBegin)] + Markdown(table) + readme[j:], nil
}
