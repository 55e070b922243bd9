package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// Tx collects the writes of one transaction: a change and the events it
// causes land together or not at all. The zero value is ready to use.
type Tx struct {
	items []types.TransactWriteItem
	err   error
}

func (tx *Tx) putNew(v any) {
	if tx.err != nil {
		return
	}
	item, err := marshal(v)
	if err != nil {
		tx.err = err
		return
	}
	tx.items = append(tx.items, types.TransactWriteItem{Put: &types.Put{
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}})
}

// PutEvent records an event in the log.
func (tx *Tx) PutEvent(e domain.Event) {
	it := eventItem{
		keys: keys{
			PK: eventsPartition, SK: e.ID,
			GSI2SK: e.ID,
		},
		Event: e,
	}
	_, it.GSI2PK = eventIndex(domain.EventFilter{Type: e.Type})
	if e.Asset != "" {
		_, it.GSI1PK = eventIndex(domain.EventFilter{Asset: e.Asset})
		_, it.GSI3PK = eventIndex(domain.EventFilter{Asset: e.Asset, Type: e.Type})
		it.GSI1SK, it.GSI3SK = e.ID, e.ID
	}
	tx.putNew(it)
}

// PutIncident records a new incident, unresolved, and counts it.
func (tx *Tx) PutIncident(in domain.Incident) {
	sk := sortTime(in.StartedAt) + "#" + in.ID
	it := incidentItem{
		keys:     keys{PK: incidentPK(in.ID), SK: metaSK, GSI1PK: incidentsPartition, GSI1SK: sk},
		Incident: in,
	}
	if in.Status != domain.IncidentResolved {
		it.GSI2PK, it.GSI2SK = unresolvedPartition, sk
	}
	tx.putNew(it)
	tx.items = append(tx.items, types.TransactWriteItem{Update: &types.Update{
		Key:                       key(statsPK, incidentsSK),
		UpdateExpression:          aws.String("ADD #total :one"),
		ExpressionAttributeNames:  map[string]string{"#total": "total"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
	}})
}

// PutTimeline adds an entry to an incident's timeline; seq orders entries
// written in the same millisecond by one writer, and a random tail keeps
// entries of two writers in the same millisecond apart.
func (tx *Tx) PutTimeline(incidentID string, seq int, e domain.TimelineEntry) {
	tx.putNew(timelineItem{
		keys:          keys{PK: incidentPK(incidentID), SK: fmt.Sprintf("%s%s#%04d#%s", timelinePrefix, sortTime(e.At), seq, rand.Text()[:8])},
		TimelineEntry: e,
	})
}

// update adds a conditional UpdateItem to the transaction.
func (tx *Tx) update(pk, sk, expr, cond string, names map[string]string, values map[string]types.AttributeValue) {
	u := &types.Update{Key: key(pk, sk), UpdateExpression: aws.String(expr), ExpressionAttributeNames: names}
	if len(values) > 0 {
		u.ExpressionAttributeValues = values
	}
	if cond != "" {
		u.ConditionExpression = aws.String(cond)
	}
	tx.items = append(tx.items, types.TransactWriteItem{Update: u})
}

// PutAlert records a new alert; an alert with the same id makes the
// transaction fail with domain.ErrConflict, which deduplicates repeated reports.
func (tx *Tx) PutAlert(a domain.Alert) {
	sk := sortTime(a.CreatedAt) + "#" + a.ID
	it := alertItem{keys: keys{PK: "ALERT#" + a.ID, SK: metaSK, GSI1PK: alertsPartition, GSI1SK: sk}, Alert: a}
	if a.Active() {
		it.GSI2PK, it.GSI2SK = activeAlertsPartition, sk
	}
	tx.putNew(it)
}

// PutActuation records a new actuation of a valve.
func (tx *Tx) PutActuation(a domain.Actuation) {
	it := actuationItem{
		keys: keys{
			PK: valvePK(a.ValveID), SK: actuationPrefix + a.ID,
			// While open it is in the set the timeout schedule reads,
			// ordered by deadline.
			GSI2PK: openActuationsPartition, GSI2SK: sortTime(a.Deadline) + "#" + a.ValveID + "#" + a.ID,
		},
		Actuation:  a,
		DeadlineAt: a.Deadline,
	}
	if a.Params != (domain.ActuationParams{}) {
		it.Params = &a.Params
	}
	tx.putNew(it)
}

// Commit writes the transaction. A failed condition is domain.ErrConflict.
func (s *Store) Commit(ctx context.Context, tx *Tx) error {
	if tx.err != nil {
		return tx.err
	}
	if len(tx.items) == 0 {
		return nil
	}
	for i := range tx.items {
		switch {
		case tx.items[i].Put != nil:
			tx.items[i].Put.TableName = aws.String(s.table)
		case tx.items[i].Update != nil:
			tx.items[i].Update.TableName = aws.String(s.table)
		}
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx.items})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		for _, r := range cancelled.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return fmt.Errorf("%w: %s", domain.ErrConflict, aws.ToString(r.Message))
			}
		}
	}
	if err != nil {
		return fmt.Errorf("transact write: %w", err)
	}
	return nil
}

// transactionConflict reports whether err is a transaction cancelled
// because another was writing one of its items at the same time: the
// same transaction may pass when tried again.
func transactionConflict(err error) bool {
	var cancelled *types.TransactionCanceledException
	if !errors.As(err, &cancelled) {
		return false
	}
	for _, r := range cancelled.CancellationReasons {
		if aws.ToString(r.Code) == "TransactionConflict" {
			return true
		}
	}
	return false
}
