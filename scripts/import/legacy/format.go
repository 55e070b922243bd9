// Package legacy reads the files of the first Plainview backend (a Python
// process with a JSON-file store: valves.json and incidents.json), maps
// their records onto ours, and imports them: a plan of what would change,
// then, when asked, the writes. docs/import.md is the user's guide and the
// mapping table.
package legacy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/incidents"
)

// Valve is one valve of valves.json, as the old service kept it.
type Valve struct {
	ID                string
	Off               int // where its key starts in the file
	LastTorqueNm      *float64
	LastActuationTime *time.Time
	UpdatedAt         time.Time
	Actuations        []Actuation
}

// Actuation is one entry of a valve's "actuations" list. The old service
// only ran torque tests, and ran them to the end before answering.
type Actuation struct {
	Off         int
	ValveID     string
	RequestedAt time.Time
	CompletedAt time.Time
	TorqueNm    *float64
	Success     bool
	Duration    float64 // seconds
}

// Incident is one incident of incidents.json.
type Incident struct {
	Off        int
	ID         string
	Title      string
	Severity   string
	Status     string
	StartedAt  time.Time
	ResolvedAt *time.Time
	RootCause  string
	Resolution string
	AlertIDs   []string
	Timeline   []Entry
}

// Entry is one entry of an incident's timeline.
type Entry struct {
	Off         int
	Timestamp   time.Time
	Type        string
	Title       string
	Description string
	Metadata    string // compact JSON of the object; "" when there was none
}

// Limits of the values the old files may hold. Lengths follow what the API
// takes from a person (incidents.MaxTitle, MaxText), torque what devices
// may report (ingest); an imported record must be one the service could
// have made.
const (
	MaxFileBytes   = 256 << 20
	MaxTorqueNm    = 100_000
	MaxDurationSec = 24 * 60 * 60
	MaxLegacyID    = 256
	MaxEntryType   = 64
	// MaxMetadata bounds an entry's metadata, kept on its item: DynamoDB
	// refuses items over 400 KB, and a transaction over 4 MB, which must
	// show here, before any write, not halfway through the import.
	MaxMetadata = 16 << 10
)

// timestamp is the shape of Python's datetime.isoformat() for a naive
// datetime: seconds, or seconds and exactly six digits of microseconds.
var timestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$`)

// zoned is a timestamp of the right shape followed by a zone.
var zoned = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$`)

// Oldest and newest times an old file may hold: ids made from a time
// need it after 1970, and the id's 14 hex digits of microseconds hold
// times up to 2284.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ParseTime reads one of the old files' times: naive, and UTC by the old
// service's convention ("2025-03-04T10:15:30.123456" or
// "2025-03-04T10:15:30").
func ParseTime(s string) (time.Time, error) {
	if !timestamp.MatchString(s) {
		if zoned.MatchString(s) {
			return time.Time{}, fmt.Errorf("timestamp %q has a zone; the old files hold zone-less UTC times (YYYY-MM-DDTHH:MM:SS[.ffffff])", s)
		}
		return time.Time{}, fmt.Errorf("%q is not a timestamp of the old files (YYYY-MM-DDTHH:MM:SS[.ffffff], UTC)", clip(s))
	}
	layout := "2006-01-02T15:04:05"
	if len(s) > len(layout) {
		layout += ".000000"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is not a date and time: %s", s, strings.TrimPrefix(err.Error(), "parsing time "))
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, fmt.Errorf("timestamp %q is outside 1970 to 2199", s)
	}
	return t, nil
}

// clip shortens a value quoted in a reason.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:40]) + "..."
}

// member is a field an object of the old format may have.
type member struct {
	name     string
	optional bool // may be absent (absent and null read the same)
}

// object checks that n is an object with only the members listed and all
// the required ones; false when it is not an object at all.
func (ps *problems) object(n *node, what string, members ...member) bool {
	if n.kind != kindObject {
		ps.add(n.off, "%s must be an object, not %s", what, n.kind)
		return false
	}
	for _, f := range n.fields {
		if !slices.ContainsFunc(members, func(m member) bool { return m.name == f.name }) {
			ps.add(f.off, "%s has an unknown field %q (the import would lose it)", what, f.name)
		}
	}
	for _, m := range members {
		if !m.optional && n.get(m.name) == nil {
			ps.add(n.off, "%s has no %q", what, m.name)
		}
	}
	return true
}

// Field readers: each checks the type and records a problem at the value
// when it is wrong. A missing member was reported by object already.

func (ps *problems) str(n *node, name string, nullable bool) (string, bool) {
	if n == nil || (nullable && n.kind == kindNull) {
		return "", n != nil || nullable
	}
	if n.kind != kindString {
		ps.add(n.off, "%q must be a string%s, not %s", name, orNull(nullable), n.kind)
		return "", false
	}
	return n.str, true
}

func (ps *problems) text(n *node, name string, nullable bool, maxLen int) string {
	s, ok := ps.str(n, name, nullable)
	if ok && utf8.RuneCountInString(s) > maxLen {
		ps.add(n.off, "%q is longer than %d characters", name, maxLen)
	}
	return s
}

func (ps *problems) time(n *node, name string, nullable bool) *time.Time {
	s, ok := ps.str(n, name, nullable)
	if !ok || n == nil || n.kind == kindNull {
		return nil
	}
	t, err := ParseTime(s)
	if err != nil {
		ps.add(n.off, "%q: %v", name, err)
		return nil
	}
	return &t
}

func (ps *problems) number(n *node, name string, nullable bool, lo, hi float64) *float64 {
	if n == nil || (nullable && n.kind == kindNull) {
		return nil
	}
	if n.kind != kindNumber {
		ps.add(n.off, "%q must be a number%s, not %s", name, orNull(nullable), n.kind)
		return nil
	}
	f, err := n.float()
	if err == nil && (f < lo || f > hi || math.IsNaN(f)) {
		err = fmt.Errorf("%s is outside %g to %g", n.num, lo, hi)
	}
	if err != nil {
		ps.add(n.off, "%q: %v", name, err)
		return nil
	}
	return &f
}

func orNull(nullable bool) string {
	if nullable {
		return " or null"
	}
	return ""
}

// ParseValves reads valves.json: an object mapping valve id to the
// valve's record. Every problem is reported with its line and column,
// and any problem refuses the file.
func ParseValves(file string, data []byte) ([]Valve, error) {
	ps := &problems{file: file, data: data}
	root, err := parse(ps, data)
	if err != nil {
		return nil, err
	}
	if root.kind != kindObject {
		ps.add(root.off, "valves file must be an object mapping valve id to valve, not %s", root.kind)
		return nil, ps.err()
	}
	var out []Valve
	for _, f := range root.fields {
		v := Valve{ID: f.name, Off: f.off}
		if !domain.ValidID(f.name) {
			ps.add(f.off, "valve id %q is not an id (letters, digits, - and _, 1 to 64 characters)", clip(f.name))
		}
		what := fmt.Sprintf("valve %q", clip(f.name))
		n := f.val
		if !ps.object(n, what, member{name: "lastTorqueNm"}, member{name: "lastActuationTime"}, member{name: "updatedAt"}, member{name: "actuations"}) {
			continue
		}
		v.LastTorqueNm = ps.number(n.get("lastTorqueNm"), "lastTorqueNm", true, 0, MaxTorqueNm)
		v.LastActuationTime = ps.time(n.get("lastActuationTime"), "lastActuationTime", true)
		if t := ps.time(n.get("updatedAt"), "updatedAt", false); t != nil {
			v.UpdatedAt = *t
		}
		v.Actuations = ps.actuations(n.get("actuations"), f.name)
		out = append(out, v)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (ps *problems) actuations(n *node, valveID string) []Actuation {
	if n == nil {
		return nil
	}
	if n.kind != kindArray {
		ps.add(n.off, "\"actuations\" must be a list, not %s", n.kind)
		return nil
	}
	var out []Actuation
	first := map[time.Time]int{} // requested_at → offset of the first actuation
	for _, it := range n.items {
		if !ps.object(it, "actuation", member{name: "valve_id"}, member{name: "requested_at"}, member{name: "torque_nm"},
			member{name: "completed_at"}, member{name: "success"}, member{name: "duration"}) {
			continue
		}
		a := Actuation{Off: it.off}
		if id, ok := ps.str(it.get("valve_id"), "valve_id", false); ok && it.get("valve_id") != nil {
			a.ValveID = id
			if id != valveID {
				ps.add(it.get("valve_id").off, "actuation's valve_id %q is not the valve it is listed under (%q)", clip(id), clip(valveID))
			}
		}
		req := ps.time(it.get("requested_at"), "requested_at", false)
		done := ps.time(it.get("completed_at"), "completed_at", false)
		if req != nil {
			a.RequestedAt = *req
			if prev, dup := first[*req]; dup {
				l, _ := lineCol(ps.data, prev)
				ps.add(it.get("requested_at").off, "a second actuation of valve %q requested at the same time (the first is at line %d)", clip(valveID), l)
			}
			first[*req] = it.off
		}
		if done != nil {
			a.CompletedAt = *done
		}
		if req != nil && done != nil && done.Before(*req) {
			ps.add(it.get("completed_at").off, "completed_at is before requested_at")
		}
		a.TorqueNm = ps.number(it.get("torque_nm"), "torque_nm", true, 0, MaxTorqueNm)
		if s := it.get("success"); s != nil {
			if s.kind != kindBool {
				ps.add(s.off, "\"success\" must be true or false, not %s", s.kind)
			}
			a.Success = s.b
		}
		if d := ps.number(it.get("duration"), "duration", false, 0, MaxDurationSec); d != nil {
			a.Duration = *d
		}
		out = append(out, a)
	}
	return out
}

// ParseIncidents reads incidents.json: a list of incidents. Every problem
// is reported with its line and column, and any problem refuses the file.
func ParseIncidents(file string, data []byte) ([]Incident, error) {
	ps := &problems{file: file, data: data}
	root, err := parse(ps, data)
	if err != nil {
		return nil, err
	}
	if root.kind != kindArray {
		ps.add(root.off, "incidents file must be a list of incidents, not %s", root.kind)
		return nil, ps.err()
	}
	var out []Incident
	first := map[string]int{} // id → offset of the first incident with it
	for _, n := range root.items {
		if !ps.object(n, "incident", member{name: "id"}, member{name: "title"}, member{name: "severity"}, member{name: "status"},
			member{name: "startedAt"}, member{name: "resolvedAt", optional: true}, member{name: "rootCause", optional: true},
			member{name: "resolution", optional: true}, member{name: "alertIds", optional: true}, member{name: "timeline", optional: true}) {
			continue
		}
		in := Incident{Off: n.off}
		if idn := n.get("id"); idn != nil {
			if id, ok := ps.str(idn, "id", false); ok {
				in.ID = id
				switch {
				case id == "" || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl):
					ps.add(idn.off, "incident id must be a non-empty string of printable characters")
				case len(id) > MaxLegacyID:
					ps.add(idn.off, "incident id is longer than %d bytes", MaxLegacyID)
				default:
					if prev, dup := first[id]; dup {
						l, _ := lineCol(data, prev)
						ps.add(idn.off, "duplicate incident id %q (the first is at line %d)", clip(id), l)
					}
					first[id] = n.off
				}
			}
		}
		in.Title = strings.TrimSpace(ps.text(n.get("title"), "title", false, incidents.MaxTitle))
		if t := n.get("title"); t != nil && t.kind == kindString && in.Title == "" {
			ps.add(t.off, "\"title\" is empty")
		}
		if s, ok := ps.str(n.get("severity"), "severity", false); ok && n.get("severity") != nil {
			if in.Severity, ok = Severity(s); !ok {
				ps.add(n.get("severity").off, "severity %q is not one of info, warning, critical", clip(s))
			}
		}
		if s, ok := ps.str(n.get("status"), "status", false); ok && n.get("status") != nil {
			if in.Status, ok = Status(s); !ok {
				ps.add(n.get("status").off, "status %q is not one of active, acknowledged, investigating, resolved", clip(s))
			}
		}
		started := ps.time(n.get("startedAt"), "startedAt", false)
		if started != nil {
			in.StartedAt = *started
		}
		in.ResolvedAt = ps.time(n.get("resolvedAt"), "resolvedAt", true)
		in.RootCause = ps.text(n.get("rootCause"), "rootCause", true, incidents.MaxText)
		in.Resolution = ps.text(n.get("resolution"), "resolution", true, incidents.MaxText)
		in.AlertIDs = ps.alertIDs(n.get("alertIds"))
		in.Timeline = ps.timeline(n.get("timeline"))
		ps.consistent(n, in)
		out = append(out, in)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// consistent checks what one field says against another: a resolved
// incident has its resolution time, an unresolved one none, and nothing
// is resolved before it started.
func (ps *problems) consistent(n *node, in Incident) {
	rn := n.get("resolvedAt")
	switch {
	case in.Status == domain.IncidentResolved && in.ResolvedAt == nil && (rn == nil || rn.kind == kindNull):
		ps.add(n.get("status").off, "status is resolved but resolvedAt is null")
	case in.Status != "" && in.Status != domain.IncidentResolved && in.ResolvedAt != nil:
		ps.add(rn.off, "resolvedAt is set but status is %s (only a resolved incident has a resolution time)", in.Status)
	case in.ResolvedAt != nil && !in.StartedAt.IsZero() && in.ResolvedAt.Before(in.StartedAt):
		ps.add(rn.off, "resolvedAt is before startedAt")
	}
}

func (ps *problems) alertIDs(n *node) []string {
	if n == nil || n.kind == kindNull {
		return nil
	}
	if n.kind != kindArray {
		ps.add(n.off, "\"alertIds\" must be a list of alert ids, not %s", n.kind)
		return nil
	}
	var out []string
	for _, it := range n.items {
		s, ok := ps.str(it, "alertIds", false)
		switch {
		case !ok:
		case !domain.ValidID(s):
			ps.add(it.off, "alert id %q is not an id (letters, digits, - and _, 1 to 64 characters)", clip(s))
		case slices.Contains(out, s):
			ps.add(it.off, "alert id %q is listed twice", s)
		default:
			out = append(out, s)
		}
	}
	return out
}

func (ps *problems) timeline(n *node) []Entry {
	if n == nil || n.kind == kindNull {
		return nil
	}
	if n.kind != kindArray {
		ps.add(n.off, "\"timeline\" must be a list, not %s", n.kind)
		return nil
	}
	var out []Entry
	for _, it := range n.items {
		if !ps.object(it, "timeline entry", member{name: "timestamp"}, member{name: "type"}, member{name: "title"},
			member{name: "description", optional: true}, member{name: "metadata", optional: true}) {
			continue
		}
		e := Entry{Off: it.off}
		if t := ps.time(it.get("timestamp"), "timestamp", false); t != nil {
			e.Timestamp = *t
		}
		e.Type = ps.text(it.get("type"), "type", false, MaxEntryType)
		if tn := it.get("type"); tn != nil && tn.kind == kindString && (e.Type == "" || strings.ContainsFunc(e.Type, unicode.IsControl)) {
			ps.add(tn.off, "\"type\" must be a non-empty word")
		}
		e.Title = ps.text(it.get("title"), "title", false, incidents.MaxText)
		e.Description = ps.text(it.get("description"), "description", true, incidents.MaxText)
		if tn := it.get("title"); tn != nil && tn.kind == kindString && strings.TrimSpace(e.Title) == "" && strings.TrimSpace(e.Description) == "" {
			ps.add(tn.off, "timeline entry has neither a title nor a description")
		}
		if m := it.get("metadata"); m != nil && m.kind != kindNull {
			if m.kind != kindObject {
				ps.add(m.off, "\"metadata\" must be an object or null, not %s", m.kind)
			} else {
				var b bytes.Buffer
				_ = json.Compact(&b, ps.data[m.off:m.end]) // the decoder read it as valid JSON
				// Bad UTF-8 can only sit inside strings here; replacing it
				// keeps the JSON valid, and DynamoDB stores only UTF-8.
				meta := bytes.ToValidUTF8(b.Bytes(), []byte("\uFFFD"))
				switch {
				case len(meta) > MaxMetadata:
					ps.add(m.off, "\"metadata\" is larger than %d KiB", MaxMetadata>>10)
				case string(meta) != "{}":
					e.Metadata = string(meta)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// parse reads the JSON of a file; a syntax error is the file's only
// problem, since nothing after it can be read.
func parse(ps *problems, data []byte) (*node, error) {
	if len(data) > MaxFileBytes {
		ps.add(0, "file is larger than %d MiB", MaxFileBytes>>20)
		return nil, ps.err()
	}
	root, err := parseTree(data)
	if err != nil {
		e, ok := err.(*errAt)
		if !ok {
			return nil, err
		}
		ps.add(e.off, "%s", e.reason)
		return nil, ps.err()
	}
	return root, nil
}

// Severity maps an old severity onto ours. The old service already spoke
// docs/API.md's words; anything else is refused rather than guessed.
func Severity(old string) (string, bool) {
	if domain.ValidSeverity(old) {
		return old, true
	}
	return "", false
}

// Status maps an old incident status onto ours, as Severity does.
func Status(old string) (string, bool) {
	if domain.ValidIncidentStatus(old) {
		return old, true
	}
	return "", false
}
