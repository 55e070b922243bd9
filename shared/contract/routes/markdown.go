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
