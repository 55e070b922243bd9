package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// sample is one cold start of one function, as Lambda reports it.
type sample struct {
	init      time.Duration // process start to its first GET /next
	invoke    time.Duration // the first event handed out to its answer posted
	rssKB     int64         // peak resident memory (VmHWM); 0 when unknown
	initCalls int           // network calls the process made before its first GET /next
	outcome   string        // what the first invocation answered, e.g. "200"
}

// row is one function's line of the report: its samples summarized.
type row struct {
	name                 string
	binaryBytes          int64
	runs                 int
	initP50, initMax     time.Duration
	invokeP50, invokeMax time.Duration
	rssMaxKB             int64 // the highest of the runs: Lambda's "Max Memory Used"
	initCalls            int   // the most any run made
	outcome              string
}

// summarize folds one function's samples into its row. Every sample
// answered the same outcome (the harness checks each), so the first one
// names it.
func summarize(name string, binaryBytes int64, samples []sample) row {
	r := row{name: name, binaryBytes: binaryBytes, runs: len(samples)}
	if len(samples) == 0 {
		return r
	}
	inits := make([]time.Duration, len(samples))
	invokes := make([]time.Duration, len(samples))
	for i, s := range samples {
		inits[i], invokes[i] = s.init, s.invoke
		r.rssMaxKB = max(r.rssMaxKB, s.rssKB)
		r.initCalls = max(r.initCalls, s.initCalls)
	}
	r.initP50, r.initMax = median(inits), slices.Max(inits)
	r.invokeP50, r.invokeMax = median(invokes), slices.Max(invokes)
	r.outcome = samples[0].outcome
	return r
}

// median is the middle value, or the mean of the two middle ones when
// there is an even number; 0 for none. ds is not reordered.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return s[m-1] + (s[m]-s[m-1])/2
}

// writeReport prints the rows as a Markdown table, each function's median
// init beside the floor's (the row named floor) and the goal: at most
// goal above the floor's, measured in the same run.
func writeReport(w io.Writer, rows []row, floor string, goal time.Duration) error {
	var base time.Duration
	for _, r := range rows {
		if r.name == floor {
			base = r.initP50
		}
	}
	if base <= 0 {
		return fmt.Errorf("report: no measured floor %q among the rows", floor)
	}
	table := [][]string{{"function", "binary", "init p50", "init max", "1st invoke p50", "1st invoke max",
		"peak RSS", "init calls", "answer", "init − floor", "goal ≤ +" + millis(goal)}}
	for _, r := range rows {
		over := r.initP50 - base
		verdict := "met"
		if over > goal {
			verdict = "MISSED"
		}
		if r.name == floor {
			verdict = "(floor)"
		}
		table = append(table, []string{
			r.name, mebibytes(r.binaryBytes),
			millis(r.initP50), millis(r.initMax), millis(r.invokeP50), millis(r.invokeMax),
			rss(r.rssMaxKB), fmt.Sprint(r.initCalls), r.outcome,
			signedMillis(over), verdict,
		})
	}
	return writeMarkdown(w, table)
}

// writeMarkdown prints a table whose first line is the header, columns
// padded so it reads in a terminal as well as rendered.
func writeMarkdown(w io.Writer, table [][]string) error {
	widths := make([]int, len(table[0]))
	for _, line := range table {
		for i, cell := range line {
			widths[i] = max(widths[i], len([]rune(cell)), 3)
		}
	}
	var b strings.Builder
	put := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", widths[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	put(table[0])
	rule := make([]string, len(widths))
	for i, n := range widths {
		rule[i] = strings.Repeat("-", n)
	}
	put(rule)
	for _, line := range table[1:] {
		put(line)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// millis prints a duration in milliseconds to a tenth, the unit and
// precision of Lambda's REPORT lines.
func millis(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// signedMillis prints a difference in milliseconds with its sign.
func signedMillis(d time.Duration) string {
	if d < 0 {
		return "−" + millis(-d)
	}
	return "+" + millis(d)
}

// mebibytes prints a size in MiB to a tenth.
func mebibytes(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// rss prints a peak resident size given in KiB, or "-" when unknown.
func rss(kb int64) string {
	if kb <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
}
