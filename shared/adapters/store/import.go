package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// The writes of an import of the old backend's records (docs/import.md).
// Every item is written with a condition that it is new, in a transaction
// with its event, and the keys are derived from the records, not drawn at
// random: after a partial failure, the importer reads again what is there
// and writes only the rest.

// maxTxItems is DynamoDB's limit of items in one TransactWriteItems.
const maxTxItems = 100

// ImportedActuation is an ended actuation brought over from elsewhere,
// with its event.
type ImportedActuation struct {
	Actuation domain.Actuation
	Event     domain.Event
}

// ActuationIDs returns the ids of every actuation recorded for a valve. It
// reads keys only, page after page.
func (s *Store) ActuationIDs(ctx context.Context, valveID string) (map[string]bool, error) {
	ids := map[string]bool{}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :act)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(valvePK(valveID)), ":act": str(actuationPrefix)},
		ProjectionExpression:      aws.String("#pk, #sk"),
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query actuations of %s: %w", valveID, err)
		}
		for _, item := range out.Items {
			var k keys
			if err := unmarshal(item, &k); err != nil {
				return nil, err
			}
			ids[strings.TrimPrefix(k.SK, actuationPrefix)] = true
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ids, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ImportActuations records ended actuations with their events, as many to
// a transaction as fit. They go straight to the closed set: nothing waits
// for them, and the valve's open actuation is not touched. An actuation
// that exists already makes its transaction ErrConflict and writes none
// of it.
func (s *Store) ImportActuations(ctx context.Context, acts []ImportedActuation) error {
	const perTx = maxTxItems / 2 // an actuation and its event
	for i := 0; i < len(acts); i += perTx {
		var tx Tx
		for _, a := range acts[i:min(i+perTx, len(acts))] {
			tx.putEndedActuation(a.Actuation)
			tx.PutEvent(a.Event)
		}
		if err := s.Commit(ctx, &tx); err != nil {
			return fmt.Errorf("import actuations of %s: %w", acts[i].Actuation.ValveID, err)
		}
	}
	return nil
}

func (tx *Tx) putEndedActuation(a domain.Actuation) {
	it := actuationItem{
		keys:       keys{PK: valvePK(a.ValveID), SK: actuationPrefix + a.ID},
		Actuation:  a,
		DeadlineAt: a.Deadline,
	}
	if a.Params != (domain.ActuationParams{}) {
		it.Params = &a.Params
	}
	tx.putNew(it)
}

// LastActuation is a newer last actuation for a valve's record.
type LastActuation struct {
	ValveID string
	// Seen is the valve's last_actuation_time when it was read (nil: it
	// had none); the write happens only if it is still that, so an
	// actuation that ends meanwhile is never overwritten by an older one.
	Seen     *time.Time
	At       time.Time
	TorqueNm *float64 // nil leaves last_torque_nm as it is
}

// SetLastActuation writes a valve's last actuation time and torque if the
// valve is as it was read; otherwise ErrConflict, and nothing changes.
func (s *Store) SetLastActuation(ctx context.Context, l LastActuation) error {
	names := map[string]string{"#acted": "last_actuation_time"}
	values := map[string]types.AttributeValue{":at": timeValue(l.At)}
	expr := "SET #acted = :at"
	cond := "attribute_exists(pk) AND attribute_not_exists(#acted)"
	if l.Seen != nil {
		// The attribute is compared as it is stored (RFC 3339 with
		// nanoseconds, trailing zeros dropped): the same time always has
		// the same text.
		cond = "#acted = :seen"
		values[":seen"] = timeValue(*l.Seen)
	}
	if l.TorqueNm != nil {
		names["#torque"], values[":torque"] = "last_torque_nm", num(*l.TorqueNm)
		expr += ", #torque = :torque"
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(valvePK(l.ValveID), metaSK),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("%w: valve %s changed since it was read", domain.ErrConflict, l.ValveID)
	}
	if err != nil {
		return fmt.Errorf("set last actuation of %s: %w", l.ValveID, err)
	}
	return nil
}

// ImportedEntry is a timeline entry brought over from elsewhere. Its sort
// key is made of its time, Seq (its place among the incident's entries of
// the same millisecond) and Hash (of its content), so importing it again
// finds the same item.
type ImportedEntry struct {
	Entry    domain.TimelineEntry
	Seq      int
	Hash     string // a few hex digits
	Metadata string // JSON kept as it came; "" for none
}

// Key is the entry's sort key within its incident's partition.
func (e ImportedEntry) Key() string {
	return fmt.Sprintf("%s%s#%04d#%s", timelinePrefix, sortTime(e.Entry.At), e.Seq, e.Hash)
}

// ImportedIncident is an incident brought over from elsewhere, or only
// the timeline entries it lacks when it is there already.
type ImportedIncident struct {
	Incident domain.Incident
	New      bool     // write the incident itself; otherwise only Timeline
	LegacyID string   // the id it had before, kept on the item
	AlertIDs []string // the alerts it listed, kept on the item
	Timeline []ImportedEntry
	Event    domain.Event
}

type importedIncidentItem struct {
	incidentItem
	LegacyID string   `json:"legacy_id,omitempty"`
	AlertIDs []string `json:"alert_ids,omitempty"`
}

type importedTimelineItem struct {
	timelineItem
	Metadata string `json:"metadata,omitempty"`
}

// IncidentOnRecord is what the table holds of one incident.
type IncidentOnRecord struct {
	Found    bool
	Incident domain.Incident
	LegacyID string
	// TimelineKeys are the sort keys of its timeline entries, the ones
	// ImportedEntry.Key makes.
	TimelineKeys map[string]bool
}

// IncidentRecord reads an incident and the keys of its timeline entries,
// page after page. Entries without the incident (a partial import) are
// returned too, with Found false.
func (s *Store) IncidentRecord(ctx context.Context, id string) (IncidentOnRecord, error) {
	rec := IncidentOnRecord{TimelineKeys: map[string]bool{}}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(incidentPK(id))},
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return rec, fmt.Errorf("query incident %s: %w", id, err)
		}
		for _, item := range out.Items {
			var k keys
			if err := unmarshal(item, &k); err != nil {
				return rec, err
			}
			switch {
			case k.SK == metaSK:
				var it importedIncidentItem
				if err := unmarshal(item, &it); err != nil {
					return rec, err
				}
				rec.Found, rec.Incident, rec.LegacyID = true, it.incident(), it.LegacyID
			case strings.HasPrefix(k.SK, timelinePrefix):
				rec.TimelineKeys[k.SK] = true
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return rec, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ImportIncident writes an imported incident. The timeline entries go
// first, as many to a transaction as fit, and the last transaction holds
// the incident itself (when New), its counts and its event: until it
// lands the incident does not exist for any read, and a run after a
// failure writes the entries still missing and then the incident. An item
// that exists already makes its transaction ErrConflict.
func (s *Store) ImportIncident(ctx context.Context, imp ImportedIncident) error {
	in := imp.Incident
	last := 1 // the event
	if imp.New {
		last += 2 // the incident and its counts
	}
	entries := imp.Timeline
	for len(entries) > maxTxItems-last {
		var tx Tx
		for _, e := range entries[:maxTxItems] {
			tx.putImportedEntry(in.ID, e)
		}
		if err := s.Commit(ctx, &tx); err != nil {
			return fmt.Errorf("import timeline of incident %s: %w", in.ID, err)
		}
		entries = entries[maxTxItems:]
	}
	var tx Tx
	if imp.New {
		sk := sortTime(in.StartedAt) + "#" + in.ID
		it := importedIncidentItem{
			incidentItem: incidentItem{keys: keys{PK: incidentPK(in.ID), SK: metaSK, GSI1PK: incidentsPartition, GSI1SK: sk}, Incident: in},
			LegacyID:     imp.LegacyID,
			AlertIDs:     imp.AlertIDs,
		}
		// Only an unresolved incident is in gsi2, as UpdateIncident
		// leaves it when the service resolves one.
		if in.Status != domain.IncidentResolved {
			it.GSI2PK, it.GSI2SK = unresolvedPartition, sk
		}
		tx.putNew(it)
		tx.countIncident(in)
	}
	for _, e := range entries {
		tx.putImportedEntry(in.ID, e)
	}
	tx.PutEvent(imp.Event)
	if err := s.Commit(ctx, &tx); err != nil {
		return fmt.Errorf("import incident %s: %w", in.ID, err)
	}
	return nil
}

func (tx *Tx) putImportedEntry(incidentID string, e ImportedEntry) {
	tx.putNew(importedTimelineItem{
		timelineItem: timelineItem{keys: keys{PK: incidentPK(incidentID), SK: e.Key()}, TimelineEntry: e.Entry},
		Metadata:     e.Metadata,
	})
}

// countIncident adds an incident to the running totals: one more, and,
// when it is resolved, its time to resolution.
func (tx *Tx) countIncident(in domain.Incident) {
	names := map[string]string{"#total": "total"}
	values := map[string]types.AttributeValue{":one": num(1)}
	expr := "ADD #total :one"
	if in.Status == domain.IncidentResolved && in.ResolvedAt != nil {
		names["#resolved"], names["#minutes"] = "resolved", "resolution_minutes_total"
		values[":minutes"] = num(in.ResolvedAt.Sub(in.StartedAt).Minutes())
		expr += ", #resolved :one, #minutes :minutes"
	}
	tx.update(statsPK, incidentsSK, expr, "", names, values)
}
