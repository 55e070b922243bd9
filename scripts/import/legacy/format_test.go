package legacy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPythonIsoformatTimesAreUTCAndNothingElseIsATime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2025-03-04T10:15:30.123456": time.Date(2025, 3, 4, 10, 15, 30, 123456000, time.UTC),
		"2025-03-04T10:15:30":        time.Date(2025, 3, 4, 10, 15, 30, 0, time.UTC),
		"1970-01-01T00:00:00":        time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v UTC", in, got, err, want)
		}
	}
	for in, reason := range map[string]string{
		"2025-03-04T10:15:30+00:00":     "has a zone",
		"2025-03-04T10:15:30.123456Z":   "has a zone",
		"2025-03-04T10:15:30-0500":      "has a zone",
		"2025-03-04 10:15:30":           "not a timestamp",
		"2025-03-04T10:15:30.123":       "not a timestamp", // isoformat writes six digits or none
		"2025-03-04":                    "not a timestamp",
		"yesterday":                     "not a timestamp",
		"":                              "not a timestamp",
		"2025-13-04T10:15:30":           "not a date and time",
		"2025-02-30T10:15:30":           "not a date and time",
		"2025-03-04T24:00:00":           "not a date and time",
		"1969-12-31T23:59:59.999999":    "outside 1970 to 2199",
		"2200-01-01T00:00:00":           "outside 1970 to 2199",
		"２０２５-03-04T10:15:30":           "not a timestamp", // \d is ASCII only
		"2025-03-04T10:15:30.1234567":   "not a timestamp",
		" 2025-03-04T10:15:30":          "not a timestamp",
		"2025-03-04T10:15:30.123456\n":  "not a timestamp",
		"2025-03-04T10:15:30.123456+01": "not a timestamp",
	} {
		if _, err := ParseTime(in); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("ParseTime(%q): err = %v, want %q", in, err, reason)
		}
	}
}

func TestTheSampleFilesParse(t *testing.T) {
	valves, err := ParseValves("valves.json", readFile(t, "testdata/valves.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(valves) != 3 || valves[0].ID != "v-101" || valves[1].ID != "v-102" || valves[2].ID != "v-103" {
		t.Fatalf("valves = %+v", valves)
	}
	failed := valves[0].Actuations[1]
	if failed.Success || *failed.TorqueNm != 131 || failed.Duration != 3.25 ||
		!failed.RequestedAt.Equal(time.Date(2025, 3, 4, 9, 59, 58, 120000, time.UTC)) {
		t.Errorf("failed actuation = %+v", failed)
	}
	if a := valves[1].Actuations[1]; a.TorqueNm != nil || a.Success {
		t.Errorf("a failed actuation without torque: %+v", a)
	}
	if v := valves[2]; v.LastTorqueNm != nil || v.LastActuationTime != nil || len(v.Actuations) != 0 {
		t.Errorf("a valve never actuated: %+v", v)
	}

	incs, err := ParseIncidents("incidents.json", readFile(t, "testdata/incidents.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 4 {
		t.Fatalf("incidents = %+v", incs)
	}
	first := incs[0]
	if first.Status != "resolved" || first.ResolvedAt == nil || first.RootCause != "Seized stem packing" ||
		len(first.AlertIDs) != 2 || len(first.Timeline) != 4 {
		t.Errorf("first = %+v", first)
	}
	if m := first.Timeline[0].Metadata; m != `{"valve_id":"v-101","torque_nm":131.0}` {
		t.Errorf("metadata kept as compact JSON, numbers as written: %s", m)
	}
	if first.Timeline[2].Metadata != "" || incs[3].Timeline[0].Metadata != "" {
		t.Errorf("empty and null metadata are no metadata: %+v", first.Timeline[2])
	}
	if second := incs[1]; second.ResolvedAt != nil || second.RootCause != "" || second.Status != "investigating" {
		t.Errorf("nulls read as nothing: %+v", second)
	}
}

// position is where the needle's nth occurrence (from 1) starts in data.
func position(t *testing.T, data []byte, needle string, nth int) (line, col int) {
	t.Helper()
	off := -1
	for range nth {
		i := bytes.Index(data[off+1:], []byte(needle))
		if i < 0 {
			t.Fatalf("%q occurs fewer than %d times", needle, nth)
		}
		off += 1 + i
	}
	return lineCol(data, off)
}

func TestMalformedFilesAreRefusedWithTheLineColumnAndReason(t *testing.T) {
	for _, c := range []struct {
		file   string
		needle string // the problem is where its nth occurrence starts
		nth    int
		reason string
	}{
		{"valves-syntax.json", `"lastActuationTime"`, 1, "not valid JSON: invalid character '\"' after object key:value pair"},
		{"valves-wrong-type.json", `"131.0"`, 1, `"torque_nm" must be a number or null, not a string`},
		{"valves-garbage-time.json", `"yesterday at noon"`, 1, `"requested_at": "yesterday at noon" is not a timestamp of the old files`},
		{"valves-zone.json", `"2025-02-20T14:02:11Z"`, 1, `has a zone`},
		{"valves-other-valve.json", `"v-103"`, 1, `valve_id "v-103" is not the valve it is listed under ("v-102")`},
		{"incidents-severity.json", `"high"`, 1, `severity "high" is not one of info, warning, critical`},
		{"incidents-status.json", `"closed"`, 1, `status "closed" is not one of active, acknowledged, investigating, resolved`},
		{"incidents-zone.json", `"2025-03-05T06:12:44+00:00"`, 1, `"startedAt": timestamp "2025-03-05T06:12:44+00:00" has a zone`},
		{"incidents-duplicate.json", `"inc-2025-001"`, 2, `duplicate incident id "inc-2025-001" (the first is at line 2)`},
		{"incidents-unknown-field.json", `"owner"`, 1, `unknown field "owner"`},
		{"incidents-resolved-without-time.json", `"resolved"`, 1, `status is resolved but resolvedAt is null`},
		{"incidents-timeline-type.json", `{}`, 2, `"timeline" must be a list, not an object`},
	} {
		t.Run(c.file, func(t *testing.T) {
			data := readFile(t, filepath.Join("testdata/bad", c.file))
			parse := ParseIncidents
			if strings.HasPrefix(c.file, "valves") {
				parse = func(name string, data []byte) ([]Incident, error) { _, err := ParseValves(name, data); return nil, err }
			}
			_, err := parse(c.file, data)
			var refused *RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("err = %v, want a refusal", err)
			}
			line, col := position(t, data, c.needle, c.nth)
			want := Problem{File: c.file, Line: line, Col: col}
			if len(refused.Problems) != 1 {
				t.Fatalf("problems = %v, want one at %d:%d", refused.Problems, line, col)
			}
			got := refused.Problems[0]
			if got.File != want.File || got.Line != want.Line || got.Col != want.Col || !strings.Contains(got.Reason, c.reason) {
				t.Errorf("problem = %s\nwant at %d:%d: ...%s...", got, line, col, c.reason)
			}
			if !strings.Contains(err.Error(), got.String()) {
				t.Errorf("the error must name the problem: %v", err)
			}
		})
	}
}

func TestATruncatedFileIsRefusedAtItsEnd(t *testing.T) {
	data := readFile(t, "testdata/bad/incidents-truncated.json")
	_, err := ParseIncidents("x.json", data)
	var refused *RefusedError
	if !errors.As(err, &refused) || len(refused.Problems) != 1 {
		t.Fatalf("err = %v", err)
	}
	line, col := lineCol(data, len(data))
	if p := refused.Problems[0]; p.Line != line || p.Col != col || !strings.Contains(p.Reason, "ends in the middle") {
		t.Errorf("problem = %s, want at %d:%d", p, line, col)
	}
}

func TestEveryProblemOfAFileIsListed(t *testing.T) {
	data := []byte(`{
  "v 1": {"lastTorqueNm": -1, "lastActuationTime": null, "updatedAt": "2025-01-01T00:00:00", "actuations": [
    {"valve_id": "v 1", "requested_at": "2025-01-02T00:00:00", "torque_nm": 1e400, "completed_at": "2025-01-01T00:00:00", "success": "yes", "duration": -2}
  ]},
  "v-2": {"lastActuationTime": null, "updatedAt": "2025-01-01T00:00:00", "actuations": {}}
}`)
	_, err := ParseValves("v.json", data)
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, p := range refused.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`v.json:2:3: valve id "v 1" is not an id (letters, digits, - and _, 1 to 64 characters)`,
		`v.json:2:27: "lastTorqueNm": -1 is outside 0 to 100000`,
		`v.json:3:77: "torque_nm": number 1e400 is out of range`,
		`v.json:3:100: completed_at is before requested_at`,
		`v.json:3:134: "success" must be true or false, not a string`,
		`v.json:3:153: "duration": -2 is outside 0 to 86400`,
		`v.json:5:10: valve "v-2" has no "lastTorqueNm"`,
		`v.json:5:88: "actuations" must be a list, not an object`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStructuralRefusals(t *testing.T) {
	for in, reason := range map[string]string{
		``:                           "ends in the middle",
		`[]`:                         "valves file must be an object",
		`{} {}`:                      "unexpected data after the end",
		`{"v-1": {}, "v-1": {}}`:     `duplicate key "v-1" (first at line 1)`,
		`{"v-1": NaN}`:               "not valid JSON: invalid character 'N'",
		`{"v-1": []}`:                `valve "v-1" must be an object, not a list`,
		"\ufeff{}":                   "not valid JSON",
		strings.Repeat("[", 100):     "nested more than 64 deep",
		`{"v-1": {"x": 1, "x": 2}}`:  `duplicate key "x"`,
		`{"":{}}`:                    `valve id "" is not an id`,
		`{"v-1": {"actuations": 1}}`: `"actuations" must be a list`,
	} {
		_, err := ParseValves("f", []byte(in))
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("ParseValves(%.30q): err = %v, want %q", in, err, reason)
		}
	}
	for in, reason := range map[string]string{
		`{}`:   "incidents file must be a list of incidents",
		`[1]`:  "incident must be an object, not a number",
		`[{}]`: `incident has no "id"`,
		`[{"id": "", "title": " ", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00"}]`:                                                                                                                                           "non-empty string",
		`[{"id": "a", "title": " ", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00"}]`:                                                                                                                                          `"title" is empty`,
		`[{"id": "a", "title": "t", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00", "alertIds": ["x", "x"]}]`:                                                                                                                  `alert id "x" is listed twice`,
		`[{"id": "a", "title": "t", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00", "alertIds": ["a b"]}]`:                                                                                                                     `alert id "a b" is not an id`,
		`[{"id": "a", "title": "t", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00", "resolvedAt": "2025-01-02T00:00:00"}]`:                                                                                                     "resolvedAt is set but status is active",
		`[{"id": "a", "title": "t", "severity": "info", "status": "resolved", "startedAt": "2025-01-01T00:00:00", "resolvedAt": "2024-01-02T00:00:00"}]`:                                                                                                   "resolvedAt is before startedAt",
		`[{"id": "a", "title": "t", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00", "timeline": [{"timestamp": "2025-01-01T00:00:00", "type": "", "title": "x"}]}]`:                                                            `"type" must be a non-empty word`,
		`[{"id": "a", "title": "t", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00", "timeline": [{"timestamp": "2025-01-01T00:00:00", "type": "n", "title": ""}]}]`:                                                            "neither a title nor a description",
		`[{"id": "a", "title": "t", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00", "timeline": [{"timestamp": "2025-01-01T00:00:00", "type": "n", "title": "x", "metadata": [1]}]}]`:                                          `"metadata" must be an object or null`,
		`[{"id": "a", "title": "` + strings.Repeat("t", 201) + `", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00"}]`:                                                                                                           `"title" is longer than 200 characters`,
		`[{"id": "a", "title": "t", "severity": "info", "status": "active", "startedAt": "2025-01-01T00:00:00", "timeline": [{"timestamp": "2025-01-01T00:00:00", "type": "n", "title": "x", "metadata": {"k": "` + strings.Repeat("m", 16<<10) + `"}}]}]`: `"metadata" is larger than 16 KiB`,
		`[{"id": "a", "title": "t", "severity": "Critical", "status": "active", "startedAt": "2025-01-01T00:00:00"}]`:                                                                                                                                      `severity "Critical" is not one of`,
	} {
		_, err := ParseIncidents("f", []byte(in))
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("ParseIncidents(%.60q): err = %v, want %q", in, err, reason)
		}
	}
}

func TestARefusalListsAtMostMaxProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range MaxProblems + 7 {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("1")
	}
	b.WriteString("]")
	_, err := ParseIncidents("f", []byte(b.String()))
	var refused *RefusedError
	if !errors.As(err, &refused) || len(refused.Problems) != MaxProblems || refused.More != 7 {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "57 problem(s)") || !strings.Contains(err.Error(), "and 7 more") {
		t.Errorf("message: %v", err)
	}
}

func TestColumnsCountCharactersNotBytes(t *testing.T) {
	data := []byte("[{\"id\": \"é\", \"x\": 1}]")
	_, err := ParseIncidents("f", data)
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatal(err)
	}
	for _, p := range refused.Problems {
		if strings.Contains(p.Reason, `unknown field "x"`) && (p.Line != 1 || p.Col != 14) {
			t.Errorf("problem = %s, want column 14 (the é is one character)", p)
		}
	}
}
