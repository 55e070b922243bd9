package cpuclock

import (
	"os"
	"testing"
	"time"
)

func TestParseStatReadsUserAndSystemTime(t *testing.T) {
	// A comm with a space and a ')' must not shift the fields.
	line := "4242 (java) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 40 0 100 0 0"
	if got := parseStat(line); got != 3*time.Second {
		t.Errorf("parseStat = %v, want 3s (300 ticks)", got)
	}
	for _, bad := range []string{"", "4242 java S 1", "4242 (java) S 1 2 3", "4242 (java) S 1 2 3 4 5 6 7 8 9 10 x 5 0"} {
		if got := parseStat(bad); got != 0 {
			t.Errorf("parseStat(%q) = %v, want 0", bad, got)
		}
	}
}

func TestReadCountsThisProcessAndAnother(t *testing.T) {
	before := Read(os.Getpid())
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
	}
	spent := Read(os.Getpid()).Sub(before)
	if spent.Self <= 0 || spent.Other <= 0 {
		t.Errorf("after a busy loop: %+v", spent)
	}
	if Read(0).Other != 0 {
		t.Error("no other process, yet a time for it")
	}
}
