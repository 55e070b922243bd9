package main

import (
	"regexp"
	"strings"
	"testing"
)

// A short run against the local stack: every event arrives, and the report
// gives its figures.
func TestRunReportsTheLatencyOfEveryEvent(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"-n", "5", "-gap", "20ms", "-poll", "50ms", "-settle", "100ms"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`5 events .*\n  min \S+  median \S+  p99 \S+  max \S+\n$`).MatchString(out.String()) {
		t.Errorf("report = %q", out.String())
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-gap", "0s"}, {"-x"}} {
		if err := run(args, &strings.Builder{}); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}
