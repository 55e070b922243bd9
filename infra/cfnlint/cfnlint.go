// Package cfnlint runs AWS's CloudFormation linter (cfn-lint, a Python
// program with the resource schemas of every region) over a template in a
// test. A finding fails the test unless its rule is ignored with a written
// reason. cfn-lint is installed with pip (.ci/run does it where missing);
// a machine without it fails the test, saying so: a check that cannot run
// is not skipped.
package cfnlint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Ignore maps a cfn-lint rule id (W3037...) to why the finding does not
// apply to our template. An empty reason is refused.
type Ignore map[string]string

// finding is one entry of cfn-lint's JSON output.
type finding struct {
	Rule struct {
		ID string `json:"Id"`
	} `json:"Rule"`
	Level    string `json:"Level"`
	Message  string `json:"Message"`
	Location struct {
		Path  []any `json:"Path"`
		Start struct {
			Line int `json:"LineNumber"`
		} `json:"Start"`
	} `json:"Location"`
}

// Check lints the template at path and fails t for every finding
// (an error or a warning; informational notes are cfn-lint's style advice) whose rule is not in ignore.
func Check(t testing.TB, path string, ignore Ignore) {
	t.Helper()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatalf("cfn-lint is not on PATH: install it (pip install cfn-lint; .ci/run does): %v", err)
	}
	args := []string{"--format", "json"}
	var ids []string
	for id, reason := range ignore {
		if strings.TrimSpace(reason) == "" {
			t.Errorf("cfn-lint rule %s is ignored without a reason", id)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) > 0 {
		args = append(args, "--ignore-checks", strings.Join(ids, ","))
	}
	out, err := exec.Command(bin, append(args, "--", path)...).Output()
	// cfn-lint's exit status is a bit mask of the levels it found; the
	// JSON says the same in full, so only a failure to run counts here.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() < 32) {
		t.Fatalf("cfn-lint %s: %v", path, err)
	}
	var found []finding
	if err := json.Unmarshal(out, &found); err != nil {
		t.Fatalf("cfn-lint %s: the output is no JSON list of findings: %v\n%s", path, err, out)
	}
	for _, f := range found {
		t.Errorf("cfn-lint %s: %s %s at %s (line %d): %s", path, f.Level, f.Rule.ID, render(f.Location.Path), f.Location.Start.Line, f.Message)
	}
}

func render(path []any) string {
	var parts []string
	for _, p := range path {
		parts = append(parts, fmt.Sprint(p))
	}
	return strings.Join(parts, "/")
}
