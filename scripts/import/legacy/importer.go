package legacy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
)

// Store is what an import needs of the table.
type Store interface {
	Valve(ctx context.Context, id string) (domain.Valve, error)
	ActuationIDs(ctx context.Context, valveID string) (map[string]bool, error)
	ImportActuations(ctx context.Context, acts []store.ImportedActuation) error
	SetLastActuation(ctx context.Context, l store.LastActuation) error
	IncidentRecord(ctx context.Context, id string) (store.IncidentOnRecord, error)
	ImportIncident(ctx context.Context, imp store.ImportedIncident) error
}

// Importer plans and applies imports of the old backend's files.
type Importer struct {
	store Store
}

// New returns an importer writing to st.
func New(st Store) *Importer { return &Importer{store: st} }

// File is one of the old files: its name, for the problems, and its text.
type File struct {
	Name string
	Data []byte
}

// Files are the files to import; a nil one is not imported.
type Files struct {
	Valves, Incidents *File
}

// Options change what the plan does with what it cannot import.
type Options struct {
	// SkipUnknownValves reports valves that are not in the inventory and
	// imports the rest, instead of refusing the import.
	SkipUnknownValves bool
}

// Plan is what an import would change; Apply writes it.
type Plan struct {
	Valves    []ValvePlan
	Skipped   []Problem // unknown valves left out (Options.SkipUnknownValves)
	Incidents []IncidentPlan
}

// ValvePlan is what the import changes on one valve.
type ValvePlan struct {
	ID      string
	Add     []store.ImportedActuation // actuations not recorded yet
	Present int                       // actuations recorded already
	// Last is the valve's newer last actuation, nil when ours is as new.
	Last *store.LastActuation
	// Ours and Theirs are the last actuation times before the import:
	// ours and the file's.
	Ours, Theirs *time.Time
}

// IncidentPlan is what the import changes on one incident.
type IncidentPlan struct {
	ID, LegacyID string
	Status       string
	// Write is what to write: the incident with its timeline, or the
	// timeline entries an incident already here lacks; nil for nothing.
	Write *store.ImportedIncident
	// Present: the incident was imported before.
	Present bool
	// Differs names the fields where the incident here differs from the
	// file's; ours are kept (it may have been worked on since).
	Differs []string
}

// Summary counts a plan's changes.
type Summary struct {
	ValvesUpdated, ValvesSkipped           int
	ActuationsAdded, ActuationsPresent     int
	LastActuationsRaised                   int
	IncidentsAdded, IncidentsUnchanged     int
	IncidentsKept, IncidentsWithNewEntries int
	TimelineEntriesAdded                   int
}

// Summary counts what the plan changes.
func (p *Plan) Summary() Summary {
	var s Summary
	s.ValvesSkipped = len(p.Skipped)
	for _, v := range p.Valves {
		if len(v.Add) > 0 || v.Last != nil {
			s.ValvesUpdated++
		}
		s.ActuationsAdded += len(v.Add)
		s.ActuationsPresent += v.Present
		if v.Last != nil {
			s.LastActuationsRaised++
		}
	}
	for _, in := range p.Incidents {
		switch {
		case !in.Present:
			s.IncidentsAdded++
		case len(in.Differs) > 0:
			s.IncidentsKept++
		default:
			s.IncidentsUnchanged++
		}
		if in.Write != nil {
			s.TimelineEntriesAdded += len(in.Write.Timeline)
			if in.Present {
				s.IncidentsWithNewEntries++
			}
		}
	}
	return s
}

// Empty reports whether applying the plan would write nothing.
func (p *Plan) Empty() bool {
	s := p.Summary()
	return s.ValvesUpdated == 0 && s.IncidentsAdded == 0 && s.TimelineEntriesAdded == 0
}

// Plan reads the files, checks every record, and compares them with what
// the table holds. Any problem in the files, an unknown valve (unless
// skipped) or an incident id the service already uses for an incident of
// its own refuses the import with a *RefusedError; nothing is written
// either way.
func (im *Importer) Plan(ctx context.Context, f Files, opt Options) (*Plan, error) {
	if f.Valves == nil && f.Incidents == nil {
		return nil, errors.New("nothing to import: give a valves file, an incidents file, or both")
	}
	var (
		valves []Valve
		incs   []Incident
		verr   error
		ierr   error
	)
	if f.Valves != nil {
		valves, verr = ParseValves(f.Valves.Name, f.Valves.Data)
	}
	if f.Incidents != nil {
		incs, ierr = ParseIncidents(f.Incidents.Name, f.Incidents.Data)
	}
	if err := joinRefusals(verr, ierr); err != nil {
		return nil, err
	}
	p := &Plan{}
	var vps, ips *problems
	if f.Valves != nil {
		vps = &problems{file: f.Valves.Name, data: f.Valves.Data}
		if err := im.planValves(ctx, p, valves, vps, opt); err != nil {
			return nil, err
		}
	}
	if f.Incidents != nil {
		ips = &problems{file: f.Incidents.Name, data: f.Incidents.Data}
		if err := im.planIncidents(ctx, p, incs, ips); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, ps := range []*problems{vps, ips} {
		if ps != nil {
			errs = append(errs, ps.err())
		}
	}
	if err := joinRefusals(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func (im *Importer) planValves(ctx context.Context, p *Plan, valves []Valve, ps *problems, opt Options) error {
	for _, v := range valves {
		ours, err := im.store.Valve(ctx, v.ID)
		if errors.Is(err, domain.ErrNotFound) {
			const why = "valve %q is not in the inventory: the import adds history to known valves and creates none (add the valve first, or run with -skip-unknown-valves to leave it out)"
			if opt.SkipUnknownValves {
				line, col := lineCol(ps.data, v.Off)
				p.Skipped = append(p.Skipped, Problem{File: ps.file, Line: line, Col: col, Reason: fmt.Sprintf("valve %q is not in the inventory: left out", v.ID)})
			} else {
				ps.add(v.Off, why, v.ID)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("read valve %s: %w", v.ID, err)
		}
		have, err := im.store.ActuationIDs(ctx, v.ID)
		if err != nil {
			return err
		}
		vp := ValvePlan{ID: v.ID, Ours: ours.LastActuationTime, Theirs: v.LastActuationTime}
		for _, a := range v.Actuations {
			rec := a.record()
			if have[rec.Actuation.ID] {
				vp.Present++
				continue
			}
			vp.Add = append(vp.Add, rec)
		}
		if t := v.LastActuationTime; t != nil && (ours.LastActuationTime == nil || t.After(*ours.LastActuationTime)) {
			vp.Last = &store.LastActuation{ValveID: v.ID, Seen: ours.LastActuationTime, At: *t, TorqueNm: v.LastTorqueNm}
		}
		p.Valves = append(p.Valves, vp)
	}
	return nil
}

func (im *Importer) planIncidents(ctx context.Context, p *Plan, incs []Incident, ps *problems) error {
	taken := map[string]Incident{} // our id → the old incident that maps to it
	for _, in := range incs {
		rec, entries := in.record()
		if other, dup := taken[rec.ID]; dup {
			l, _ := lineCol(ps.data, other.Off)
			ps.add(in.Off, "incident %q would get the id %q, as does %q at line %d", clip(in.ID), rec.ID, clip(other.ID), l)
			continue
		}
		taken[rec.ID] = in
		have, err := im.store.IncidentRecord(ctx, rec.ID)
		if err != nil {
			return err
		}
		ip := IncidentPlan{ID: rec.ID, LegacyID: in.ID, Status: rec.Status, Present: have.Found}
		if have.Found && have.LegacyID != in.ID {
			ps.add(in.Off, "incident id %q is taken by an incident that was not imported from the old files", clip(rec.ID))
			continue
		}
		var missing []store.ImportedEntry
		for _, e := range entries {
			if !have.TimelineKeys[e.Key()] {
				missing = append(missing, e)
			}
		}
		switch {
		case !have.Found:
			ip.Write = &store.ImportedIncident{
				Incident: rec, New: true, LegacyID: in.ID, AlertIDs: in.AlertIDs, Timeline: missing,
				Event: domain.NewEvent(domain.EventIncidentCreated, rec.ID, "", rec.StartedAt, map[string]any{
					"incident_id": rec.ID, "title": rec.Title, "severity": rec.Severity, "status": rec.Status,
					"legacy_id": in.ID, "alert_ids": nonNil(in.AlertIDs), "timeline_entries": len(entries), "imported_from": Source,
				}),
			}
		case len(missing) > 0:
			latest := missing[0].Entry.At
			for _, e := range missing {
				if e.Entry.At.After(latest) {
					latest = e.Entry.At
				}
			}
			ip.Write = &store.ImportedIncident{
				Incident: have.Incident, Timeline: missing,
				Event: domain.NewEvent(domain.EventIncidentUpdated, rec.ID, "", latest, map[string]any{
					"incident_id": rec.ID, "timeline_entries_added": len(missing), "imported_from": Source,
				}),
			}
		}
		if have.Found {
			ip.Differs = differences(have.Incident, rec)
		}
		p.Incidents = append(p.Incidents, ip)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// differences names the fields the file's incident would set otherwise
// than ours holds them.
func differences(ours, theirs domain.Incident) []string {
	var d []string
	add := func(name string, same bool) {
		if !same {
			d = append(d, name)
		}
	}
	add("title", ours.Title == theirs.Title)
	add("severity", ours.Severity == theirs.Severity)
	add("status", ours.Status == theirs.Status)
	add("root_cause", ours.RootCause == theirs.RootCause)
	add("resolution", ours.Resolution == theirs.Resolution)
	add("started_at", ours.StartedAt.Equal(theirs.StartedAt))
	add("resolved_at", (ours.ResolvedAt == nil) == (theirs.ResolvedAt == nil) &&
		(ours.ResolvedAt == nil || ours.ResolvedAt.Equal(*theirs.ResolvedAt)))
	return d
}

// Apply writes the plan: per valve its actuations, then its last
// actuation; then the incidents. It stops at the first failure; every
// write is conditional and keyed by content, so running the import again
// plans and writes only what is still missing.
func (im *Importer) Apply(ctx context.Context, p *Plan) error {
	for _, v := range p.Valves {
		if len(v.Add) > 0 {
			if err := im.store.ImportActuations(ctx, v.Add); err != nil {
				return err
			}
		}
		if v.Last != nil {
			if err := im.store.SetLastActuation(ctx, *v.Last); err != nil {
				return err
			}
		}
	}
	for _, in := range p.Incidents {
		if in.Write != nil {
			if err := im.store.ImportIncident(ctx, *in.Write); err != nil {
				return err
			}
		}
	}
	return nil
}

// Report writes the plan for a person: each valve and incident with what
// would change, then the totals.
func (p *Plan) Report(w io.Writer) {
	for _, v := range p.Valves {
		var ok, failed int
		for _, a := range v.Add {
			if a.Actuation.State == domain.ActuationSucceeded {
				ok++
			} else {
				failed++
			}
		}
		fmt.Fprintf(w, "valve %s: %d actuation(s) to add (%d succeeded, %d failed), %d already here; ", v.ID, len(v.Add), ok, failed, v.Present)
		switch {
		case v.Last != nil:
			fmt.Fprintf(w, "last actuation %s → %s", timeOrNone(v.Ours), timeOrNone(&v.Last.At))
			if v.Last.TorqueNm != nil {
				fmt.Fprintf(w, " (torque %g Nm)", *v.Last.TorqueNm)
			}
			fmt.Fprintln(w)
		case v.Theirs == nil:
			fmt.Fprintln(w, "the file has no last actuation")
		default:
			fmt.Fprintf(w, "last actuation kept: ours %s, the file's %s\n", timeOrNone(v.Ours), timeOrNone(v.Theirs))
		}
	}
	for _, s := range p.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
	for _, in := range p.Incidents {
		name := in.ID
		if in.LegacyID != in.ID {
			name = fmt.Sprintf("%s (was %q)", in.ID, in.LegacyID)
		}
		entries := 0
		if in.Write != nil {
			entries = len(in.Write.Timeline)
		}
		switch {
		case !in.Present:
			fmt.Fprintf(w, "incident %s: to add, %s, with %d timeline entr%s\n", name, in.Status, entries, plural(entries, "y", "ies"))
		case len(in.Differs) > 0:
			fmt.Fprintf(w, "incident %s: here already and differs in %v: ours kept; %d timeline entr%s to add\n", name, in.Differs, entries, plural(entries, "y", "ies"))
		default:
			fmt.Fprintf(w, "incident %s: unchanged; %d timeline entr%s to add\n", name, entries, plural(entries, "y", "ies"))
		}
	}
	s := p.Summary()
	fmt.Fprintf(w, "valves updated: %d (skipped: %d); actuations added: %d (already here: %d); last actuations raised: %d\n",
		s.ValvesUpdated, s.ValvesSkipped, s.ActuationsAdded, s.ActuationsPresent, s.LastActuationsRaised)
	fmt.Fprintf(w, "incidents added: %d, unchanged: %d, differing (ours kept): %d; timeline entries added: %d\n",
		s.IncidentsAdded, s.IncidentsUnchanged, s.IncidentsKept, s.TimelineEntriesAdded)
}

func timeOrNone(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
