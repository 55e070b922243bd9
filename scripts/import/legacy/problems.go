package legacy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one reason a file is refused, and where in the file it is.
type Problem struct {
	File      string
	Line, Col int
	Reason    string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Reason)
}

// MaxProblems is how many problems a refusal lists; past that it counts
// them. Nobody reads a thousand lines, and the first ones show the pattern.
const MaxProblems = 50

// RefusedError is a refusal of the input: every problem found, in file
// order. Nothing is written when the input is refused.
type RefusedError struct {
	Problems []Problem
	More     int // problems found past MaxProblems
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refused: %d problem(s), nothing written", len(e.Problems)+e.More)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", e.More)
	}
	return b.String()
}

// problems collects the refusals of one file.
type problems struct {
	file string
	data []byte
	list []Problem
	more int
}

func (ps *problems) add(off int, format string, args ...any) {
	if len(ps.list) == MaxProblems {
		ps.more++
		return
	}
	line, col := lineCol(ps.data, off)
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Col: col, Reason: fmt.Sprintf(format, args...)})
}

// err is the refusal, or nil when there was nothing to refuse.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	// In file order, whatever order the checks ran in.
	slices.SortStableFunc(ps.list, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return &RefusedError{Problems: ps.list, More: ps.more}
}

// joinRefusals merges the refusals of several files into one; errors
// that are not refusals are returned as they are.
func joinRefusals(errs ...error) error {
	var all RefusedError
	for _, err := range errs {
		if err == nil {
			continue
		}
		r, ok := err.(*RefusedError)
		if !ok {
			return err
		}
		for _, p := range r.Problems {
			if len(all.Problems) == MaxProblems {
				all.More++
				continue
			}
			all.Problems = append(all.Problems, p)
		}
		all.More += r.More
	}
	if len(all.Problems) == 0 {
		return nil
	}
	return &all
}
