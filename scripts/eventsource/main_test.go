package main

import (
	"strings"
	"testing"
)

// The check needs a key to write with; without one it says so before it
// starts anything.
func TestRunNeedsAKey(t *testing.T) {
	err := run(nil, func(string) string { return "" }, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "-key") {
		t.Errorf("run without a key: %v, want the -key error", err)
	}
}
