package legacy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/core/domain"
)

// addSamples seeds a fuzz target with the sample files, good and bad; the
// corpus in testdata/fuzz/<target> holds the smaller cases.
func addSamples(f *testing.F, prefix string) {
	paths, _ := filepath.Glob("testdata/" + prefix + "*.json")
	bad, _ := filepath.Glob("testdata/bad/" + prefix + "*.json")
	for _, p := range append(paths, bad...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkRefusal holds for any error of a parser: a refusal whose problems
// all point into the file.
func checkRefusal(t *testing.T, data []byte, err error) {
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("err = %v (%T), want a refusal", err, err)
	}
	if len(refused.Problems) == 0 || len(refused.Problems) > MaxProblems {
		t.Fatalf("%d problems", len(refused.Problems))
	}
	lines := 1 + bytes.Count(data, []byte{'\n'})
	for _, p := range refused.Problems {
		if p.File != "f.json" || p.Line < 1 || p.Line > lines || p.Col < 1 || p.Reason == "" {
			t.Fatalf("problem %s outside the file of %d lines", p, lines)
		}
	}
}

func validTime(t *testing.T, what string, tm interface{ IsZero() bool }) {
	if tm.IsZero() {
		t.Fatalf("%s is zero in an accepted file", what)
	}
}

func FuzzParseValves(f *testing.F) {
	addSamples(f, "valves")
	f.Fuzz(func(t *testing.T, data []byte) {
		valves, err := ParseValves("f.json", data)
		if err != nil {
			checkRefusal(t, data, err)
			return
		}
		again, _ := ParseValves("f.json", data)
		if !reflect.DeepEqual(valves, again) {
			t.Fatal("two parses of one file differ")
		}
		ids := map[string]bool{}
		for _, v := range valves {
			if !domain.ValidID(v.ID) || ids[v.ID] {
				t.Fatalf("valve id %q accepted", v.ID)
			}
			ids[v.ID] = true
			validTime(t, "updatedAt", v.UpdatedAt)
			if v.LastTorqueNm != nil && (*v.LastTorqueNm < 0 || *v.LastTorqueNm > MaxTorqueNm) {
				t.Fatalf("torque %v accepted", *v.LastTorqueNm)
			}
			seen := map[string]bool{}
			for _, a := range v.Actuations {
				rec := a.record()
				id := rec.Actuation.ID
				if a.ValveID != v.ID || a.CompletedAt.Before(a.RequestedAt) || a.Duration < 0 || a.Duration > MaxDurationSec ||
					a.RequestedAt.Location().String() != "UTC" || !domain.ValidID(id) || seen[id] || rec.Event.Asset != v.ID {
					t.Fatalf("actuation %+v accepted as %+v", a, rec)
				}
				seen[id] = true
			}
		}
	})
}

func FuzzParseIncidents(f *testing.F) {
	addSamples(f, "incidents")
	f.Fuzz(func(t *testing.T, data []byte) {
		incs, err := ParseIncidents("f.json", data)
		if err != nil {
			checkRefusal(t, data, err)
			return
		}
		again, _ := ParseIncidents("f.json", data)
		if !reflect.DeepEqual(incs, again) {
			t.Fatal("two parses of one file differ")
		}
		old := map[string]bool{}
		for _, in := range incs {
			rec, entries := in.record()
			if old[in.ID] || !domain.ValidID(rec.ID) || !domain.ValidSeverity(rec.Severity) || !domain.ValidIncidentStatus(rec.Status) ||
				strings.TrimSpace(rec.Title) == "" || (rec.Status == domain.IncidentResolved) != (rec.ResolvedAt != nil) ||
				rec.UpdatedAt.Before(rec.StartedAt) || len(entries) != len(in.Timeline) {
				t.Fatalf("incident %+v accepted as %+v", in, rec)
			}
			old[in.ID] = true
			validTime(t, "startedAt", rec.StartedAt)
			keys := map[string]bool{}
			for _, e := range entries {
				if keys[e.Key()] || e.Entry.Message == "" || e.Entry.Kind == "" || (e.Metadata != "" && !isObject(e.Metadata)) {
					t.Fatalf("entry %+v accepted", e)
				}
				keys[e.Key()] = true
			}
		}
	})
}

func isObject(s string) bool {
	n, err := parseTree([]byte(s))
	return err == nil && n.kind == kindObject
}
