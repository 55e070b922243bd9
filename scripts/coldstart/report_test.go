package main

import (
	"strings"
	"testing"
	"time"
)

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

func TestMedianIsTheMiddleValue(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{ms(7)}, ms(7)},
		{[]time.Duration{ms(9), ms(1), ms(5)}, ms(5)},
		// An even count: the mean of the two middle values.
		{[]time.Duration{ms(4), ms(1), ms(10), ms(2)}, ms(3)},
		{[]time.Duration{ms(2), ms(3)}, ms(2.5)},
		// One slow outlier moves the max, not the median.
		{[]time.Duration{ms(3), ms(3), ms(3), ms(3), ms(90)}, ms(3)},
	} {
		in := append([]time.Duration(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("median reordered its argument: %v, was %v", c.in, in)
				break
			}
		}
	}
}

func TestSummarizeKeepsMediansAndPeaks(t *testing.T) {
	r := summarize("reads", 9<<20, []sample{
		{init: ms(12), invoke: ms(4), rssKB: 20000, initCalls: 0, outcome: "200"},
		{init: ms(10), invoke: ms(6), rssKB: 21000, initCalls: 1, outcome: "200"},
		{init: ms(30), invoke: ms(5), rssKB: 19000, initCalls: 0, outcome: "200"},
	})
	want := row{name: "reads", binaryBytes: 9 << 20, runs: 3, initP50: ms(12), initMax: ms(30),
		invokeP50: ms(5), invokeMax: ms(6), rssMaxKB: 21000, initCalls: 1, outcome: "200"}
	if r != want {
		t.Errorf("summarize:\n got %+v\nwant %+v", r, want)
	}
	if empty := summarize("none", 1, nil); empty.runs != 0 || empty.initP50 != 0 {
		t.Errorf("summarize of no samples = %+v", empty)
	}
}

func TestTheReportComparesEachInitWithTheFloor(t *testing.T) {
	rows := []row{
		{name: "hello", binaryBytes: 5 << 20, runs: 10, initP50: ms(4), initMax: ms(6), invokeP50: ms(0.25), invokeMax: ms(0.5), rssMaxKB: 8 * 1024, outcome: "hello"},
		{name: "reads", binaryBytes: 15 << 19, runs: 10, initP50: ms(6), initMax: ms(9), invokeP50: ms(3), invokeMax: ms(4), rssMaxKB: 20 * 1024, outcome: "200"},
		{name: "slow", binaryBytes: 20 << 20, runs: 10, initP50: ms(6.2), initMax: ms(7), invokeP50: ms(1), invokeMax: ms(1), initCalls: 2, outcome: "202"},
	}
	var b strings.Builder
	if err := writeReport(&b, rows, "hello", 2*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header, a rule and three rows, got:\n%s", b.String())
	}
	cells := func(line string) []string {
		var out []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			out = append(out, strings.TrimSpace(c))
		}
		return out
	}
	header := cells(lines[0])
	if header[0] != "function" || header[len(header)-1] != "goal ≤ +2.0 ms" {
		t.Errorf("header %q", header)
	}
	for i, want := range [][]string{
		{"hello", "5.0 MiB", "4.0 ms", "6.0 ms", "0.2 ms", "0.5 ms", "8.0 MiB", "0", "hello", "+0.0 ms", "(floor)"},
		{"reads", "7.5 MiB", "6.0 ms", "9.0 ms", "3.0 ms", "4.0 ms", "20.0 MiB", "0", "200", "+2.0 ms", "met"},
		{"slow", "20.0 MiB", "6.2 ms", "7.0 ms", "1.0 ms", "1.0 ms", "-", "2", "202", "+2.2 ms", "MISSED"},
	} {
		got := cells(lines[2+i])
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %d:\n got %q\nwant %q", i, got, want)
		}
	}
	// Every line is as wide as the header, so the columns line up.
	for _, l := range lines {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Errorf("line %q is not as wide as the header", l)
		}
	}
}

func TestTheReportNeedsAMeasuredFloor(t *testing.T) {
	rows := []row{{name: "reads", initP50: ms(6)}, {name: "hello"}}
	if err := writeReport(&strings.Builder{}, rows, "hello", 2*time.Millisecond); err == nil {
		t.Error("a floor with no measured init was accepted")
	}
	if err := writeReport(&strings.Builder{}, rows[:1], "hello", 2*time.Millisecond); err == nil {
		t.Error("a report without its floor was accepted")
	}
}
