package legacy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
)

// Source marks what the import writes, in every event's data, so the
// event log tells imported history from the service's own.
const Source = "legacy"

// FailureReason is the reason of an imported failed actuation: the old
// service recorded that it failed, not why.
const FailureReason = "unknown"

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		// The length first, so ("ab","c") and ("a","bc") differ.
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ActuationID is the id an imported actuation gets: shaped like ours
// (domain.NewID: the time in microseconds as 14 hex digits, so the history
// sorts by time), with a hash of the valve id and the requested time in
// place of the random part, so a second import finds the same id.
func ActuationID(valveID string, requested time.Time) string {
	return fmt.Sprintf("act-%014x%s", requested.UnixMicro(), digest(valveID, requested.UTC().Format(time.RFC3339Nano))[:16])
}

// IncidentID is the id an imported incident gets: the old one when it is
// an id by docs/API.md's rule, otherwise one derived from it alone (the old id
// is kept on the record as legacy_id).
func IncidentID(old string) string {
	if domain.ValidID(old) {
		return old
	}
	return "inc-legacy-" + digest(old)[:24]
}

// record is the actuation as ours: a torque test (the only command the
// old service had) that succeeded or failed.
func (a Actuation) record() store.ImportedActuation {
	id := ActuationID(a.ValveID, a.RequestedAt)
	ms := int64(math.Round(a.Duration * 1000))
	done := a.CompletedAt
	rec := domain.Actuation{
		ID: id, ValveID: a.ValveID, Command: domain.CommandTorqueTest, State: domain.ActuationSucceeded,
		RequestedAt: a.RequestedAt, Deadline: a.RequestedAt.Add(domain.ActuationTimeout),
		CompletedAt: &done, TorqueNm: a.TorqueNm, DurationMs: &ms,
	}
	typ := domain.EventActuationCompleted
	data := map[string]any{"actuation_id": id, "torque_nm": a.TorqueNm, "duration_ms": ms, "imported_from": Source}
	if !a.Success {
		rec.State, rec.Reason = domain.ActuationFailed, FailureReason
		typ, data["reason"] = domain.EventActuationFailed, FailureReason
	}
	return store.ImportedActuation{Actuation: rec, Event: domain.NewEvent(typ, a.ValveID, "", done, data)}
}

// record is the incident as ours, with its timeline.
func (in Incident) record() (domain.Incident, []store.ImportedEntry) {
	rec := domain.Incident{
		ID: IncidentID(in.ID), Title: in.Title, Severity: in.Severity, Status: in.Status,
		AffectedModules: []string{}, RootCause: in.RootCause, Resolution: in.Resolution,
		StartedAt: in.StartedAt, UpdatedAt: in.StartedAt, ResolvedAt: in.ResolvedAt, Version: 1,
	}
	if in.ResolvedAt != nil && in.ResolvedAt.After(rec.UpdatedAt) {
		rec.UpdatedAt = *in.ResolvedAt
	}
	var entries []store.ImportedEntry
	seq := map[int64]int{} // millisecond → entries of the incident in it so far
	for _, e := range in.Timeline {
		if e.Timestamp.After(rec.UpdatedAt) {
			rec.UpdatedAt = e.Timestamp
		}
		ms := e.Timestamp.UnixMilli()
		entries = append(entries, store.ImportedEntry{
			Entry:    domain.TimelineEntry{At: e.Timestamp, Kind: e.Type, Message: message(e.Title, e.Description)},
			Seq:      seq[ms],
			Hash:     digest(e.Timestamp.Format(time.RFC3339Nano), e.Type, e.Title, e.Description, e.Metadata)[:8],
			Metadata: e.Metadata,
		})
		seq[ms]++
	}
	return rec, entries
}

// message is an old entry's title and description as our one message.
func message(title, description string) string {
	title, description = strings.TrimSpace(title), strings.TrimSpace(description)
	switch {
	case description == "":
		return title
	case title == "":
		return description
	}
	return title + ": " + description
}
