package store

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/leaks"
)

func num(n float64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatFloat(n, 'f', -1, 64)}
}

func timeValue(t time.Time) types.AttributeValue { return str(t.UTC().Format(time.RFC3339Nano)) }

// stillOpen is the condition "the actuation is still under way" (its
// #state one of domain.OpenActuationStates), with its values put in values.
func stillOpen(values map[string]types.AttributeValue) string {
	return isOneOf("#state", "open", domain.OpenActuationStates, values)
}

// StartActuation records a new actuation as the valve's open one, with its
// event, in one transaction. The valve must have no open actuation, or
// exactly the one closing names, which ends in the same transaction. A
// valve that changed meanwhile makes it ErrConflict, and nothing is written.
func (s *Store) StartActuation(ctx context.Context, a domain.Actuation, requested domain.Event, closing *actuation.Closing) error {
	var tx Tx
	names := map[string]string{"#open": "open_actuation", "#deadline": "open_deadline"}
	values := map[string]types.AttributeValue{":id": str(a.ID), ":deadline": timeValue(a.Deadline)}
	cond := "attribute_exists(pk) AND (attribute_not_exists(#open) OR #open = :none)"
	values[":none"] = str("")
	if closing != nil {
		delete(values, ":none")
		cond = "#open = :old"
		values[":old"] = str(closing.ActuationID)
	}
	// A valve retired after the caller read it takes no command.
	cond += " AND attribute_not_exists(retired_at)"
	tx.update(valvePK(a.ValveID), metaSK, "SET #open = :id, #deadline = :deadline", cond, names, values)
	tx.PutActuation(a)
	tx.PutEvent(requested)
	if closing != nil {
		tx.closeActuation(*closing)
		tx.PutEvent(closing.Event)
	}
	return s.Commit(ctx, &tx)
}

func (tx *Tx) closeActuation(c actuation.Closing) {
	values := map[string]types.AttributeValue{":to": str(c.State), ":reason": str(c.Reason), ":at": timeValue(c.At)}
	tx.update(valvePK(c.ValveID), actuationPrefix+c.ActuationID,
		"SET #state = :to, #reason = :reason, #completed = :at REMOVE #set, #setsk", stillOpen(values),
		map[string]string{"#state": "state", "#reason": "reason", "#completed": "completed_at", "#set": attrGSI2PK, "#setsk": attrGSI2SK},
		values)
}

// The gsi2 partition of the open actuations, by deadline. An actuation
// that ends leaves the index: its gsi2 keys are removed, so the index
// holds (and costs) only what the timeouts function reads. (Tables of
// earlier releases filed ended ones under CLOSED_ACTUATIONS; nothing
// reads that partition.)
const openActuationsPartition = "OPEN_ACTUATIONS"

// MoveActuation applies a transition and its event in one transaction; an
// actuation in another state than From makes it ErrConflict.
func (s *Store) MoveActuation(ctx context.Context, t actuation.Transition) error {
	var tx Tx
	names := map[string]string{"#state": "state"}
	values := map[string]types.AttributeValue{":to": str(t.To)}
	expr := "SET #state = :to"
	cond := isOneOf("#state", "from", t.From, values)
	if t.Reason != "" {
		names["#reason"], values[":reason"] = "reason", str(t.Reason)
		expr += ", #reason = :reason"
	}
	if t.Final {
		names["#completed"], values[":at"] = "completed_at", timeValue(t.At)
		names["#set"], names["#setsk"] = attrGSI2PK, attrGSI2SK
		expr += ", #completed = :at REMOVE #set, #setsk"
	}
	tx.update(valvePK(t.ValveID), actuationPrefix+t.ActuationID, expr, cond, names, values)
	if t.Final {
		tx.update(valvePK(t.ValveID), metaSK, "REMOVE #open", "#open = :id",
			map[string]string{"#open": "open_actuation"},
			map[string]types.AttributeValue{":id": str(t.ActuationID)})
	}
	tx.PutEvent(t.Event)
	return s.Commit(ctx, &tx)
}

// CreateIncident records a new incident with its first timeline entry and
// its event.
func (s *Store) CreateIncident(ctx context.Context, in domain.Incident, entry domain.TimelineEntry, ev domain.Event) error {
	var tx Tx
	tx.PutIncident(in)
	tx.PutTimeline(in.ID, 0, entry)
	tx.PutEvent(ev)
	return s.Commit(ctx, &tx)
}

// UpdateIncident replaces an incident's fields with after's, if it is
// still at before's version, adding timeline entries and the event. A
// resolution leaves the unresolved index and counts towards the averages.
func (s *Store) UpdateIncident(ctx context.Context, before, after domain.Incident, entries []domain.TimelineEntry, ev domain.Event) error {
	var tx Tx
	names := map[string]string{
		"#status": "status", "#root": "root_cause", "#resolution": "resolution",
		"#updated": "updated_at", "#version": "version",
	}
	values := map[string]types.AttributeValue{
		":status": str(after.Status), ":root": str(after.RootCause), ":resolution": str(after.Resolution),
		":updated": timeValue(after.UpdatedAt), ":version": num(float64(after.Version)), ":was": num(float64(before.Version)),
	}
	expr := "SET #status = :status, #root = :root, #resolution = :resolution, #updated = :updated, #version = :version"
	resolving := after.Status == domain.IncidentResolved && before.Status != domain.IncidentResolved
	if resolving && after.ResolvedAt != nil {
		// Out of the unresolved set: out of gsi2 altogether.
		names["#resolved"], names["#set"], names["#setsk"] = "resolved_at", attrGSI2PK, attrGSI2SK
		values[":resolved"] = timeValue(*after.ResolvedAt)
		expr += ", #resolved = :resolved REMOVE #set, #setsk"
	}
	tx.update(incidentPK(before.ID), metaSK, expr, "attribute_exists(pk) AND #version = :was", names, values)
	if resolving && after.ResolvedAt != nil {
		minutes := after.ResolvedAt.Sub(before.StartedAt).Minutes()
		tx.update(statsPK, incidentsSK, "ADD #resolved :one, #minutes :minutes", "",
			map[string]string{"#resolved": "resolved", "#minutes": "resolution_minutes_total"},
			map[string]types.AttributeValue{":one": num(1), ":minutes": num(minutes)})
	}
	for i, e := range entries {
		tx.PutTimeline(before.ID, i, e)
	}
	tx.PutEvent(ev)
	return s.Commit(ctx, &tx)
}

const correlationSK = "CORRELATION"

// CorrelationVersion counts the leaks recorded so far. Read it before the
// unresolved incidents a leak is correlated with, and hand it to
// RecordLeak.
func (s *Store) CorrelationVersion(ctx context.Context) (int, error) {
	var it struct {
		keys
		Version int `json:"version"`
	}
	err := s.get(ctx, statsPK, correlationSK, &it)
	if errors.Is(err, domain.ErrNotFound) {
		return 0, nil
	}
	return it.Version, err
}

// RecordLeak writes a leak report. An alert id seen before, or an incident
// to join that was resolved meanwhile, makes it ErrConflict.
func (s *Store) RecordLeak(ctx context.Context, l leaks.Leak) error {
	var tx Tx
	tx.update(statsPK, correlationSK, "SET #v = :next", "attribute_not_exists(#v) OR #v = :cur",
		map[string]string{"#v": "version"},
		map[string]types.AttributeValue{":next": num(float64(l.Correlation + 1)), ":cur": num(float64(l.Correlation))})
	tx.PutAlert(l.Alert)
	if l.NewIncident {
		tx.PutIncident(l.Incident)
	} else {
		names := map[string]string{"#updated": "updated_at", "#status": "status"}
		values := map[string]types.AttributeValue{":at": timeValue(l.Alert.CreatedAt), ":resolved": str(domain.IncidentResolved)}
		expr := "SET #updated = :at"
		if l.Escalate != "" {
			names["#sev"], values[":sev"] = "severity", str(l.Escalate)
			expr += ", #sev = :sev"
		}
		tx.update(incidentPK(l.Incident.ID), metaSK, expr, "attribute_exists(pk) AND #status <> :resolved", names, values)
	}
	for i, e := range l.Timeline {
		tx.PutTimeline(l.Incident.ID, i, e)
	}
	tx.update(sectionPK(l.Alert.Section), metaSK, "SET #last = :inc", "attribute_exists(pk)",
		map[string]string{"#last": "last_incident"}, map[string]types.AttributeValue{":inc": str(l.Incident.ID)})
	for _, e := range l.Events {
		tx.PutEvent(e)
	}
	return s.Commit(ctx, &tx)
}

// ChangeAlert applies an alert's change with its event; an alert in
// another status makes it ErrConflict. A repaired alert leaves the set of
// active ones.
func (s *Store) ChangeAlert(ctx context.Context, c leaks.AlertChange) error {
	var tx Tx
	names := map[string]string{"#status": "status"}
	values := map[string]types.AttributeValue{":to": str(c.To), ":at": timeValue(c.At)}
	expr := "SET #status = :to"
	switch c.To {
	case domain.AlertAcknowledged:
		names["#ackAt"], names["#ackBy"] = "acknowledged_at", "acknowledged_by"
		values[":by"] = str(c.AcknowledgedBy)
		expr += ", #ackAt = :at, #ackBy = :by"
	case domain.AlertRepaired:
		// Out of the active set (see UpdateIncident on REMOVE).
		names["#resolved"], names["#set"] = "resolved_at", attrGSI2PK
		values[":closed"] = str(repairedAlertsPartition)
		expr += ", #resolved = :at, #set = :closed"
	}
	tx.update("ALERT#"+c.AlertID, metaSK, expr, isOneOf("#status", "from", c.From, values), names, values)
	tx.PutEvent(c.Event)
	return s.Commit(ctx, &tx)
}
