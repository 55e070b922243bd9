package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/domain"
)

// Reading is one telemetry message of a device: the values it reported at
// one time. ID is derived from the message, so a message delivered twice
// is stored once.
type Reading struct {
	ID     string             `json:"id"`
	Device string             `json:"device"`
	Asset  string             `json:"asset"`
	At     time.Time          `json:"at"`
	Values map[string]float64 `json:"values"`
}

type readingItem struct {
	keys
	Reading
	ExpiresAt int64 `json:"expires_at"`
}

const readingsPartition = "READINGS"

func readingSK(r Reading) string { return fmt.Sprintf("%013d#%s", r.At.UnixMilli(), r.ID) }

// PutReadings stores readings with their TTL, in batches of 25 (the
// BatchWriteItem limit), retrying what DynamoDB leaves unprocessed.
func (s *Store) PutReadings(ctx context.Context, readings []Reading, ttl time.Duration) error {
	readings = uniqueReadings(readings)
	now := s.now()
	for i := 0; i < len(readings); i += 25 {
		var reqs []types.WriteRequest
		for _, r := range readings[i:min(i+25, len(readings))] {
			item, err := marshal(readingItem{
				keys: keys{
					PK: readingsPartition + "#" + r.Device, SK: readingSK(r),
					GSI1PK: readingsPartition, GSI1SK: fmt.Sprintf("%013d#%s#%s", r.At.UnixMilli(), r.Device, r.ID),
				},
				Reading:   r,
				ExpiresAt: now.Add(ttl).Unix(),
			})
			if err != nil {
				return err
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return err
		}
	}
	return nil
}

// uniqueReadings drops repeats of a reading's key, keeping the first:
// DynamoDB refuses a BatchWriteItem that names one key twice (minidyn does
// not, so only this guards it), and a QoS 1 resend next to its original in
// one queue batch is the same reading.
func uniqueReadings(readings []Reading) []Reading {
	seen := make(map[string]bool, len(readings))
	out := readings[:0:0]
	for _, r := range readings {
		k := r.Device + "\x00" + readingSK(r)
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	pending := map[string][]types.WriteRequest{s.table: reqs}
	for attempt := 0; len(pending[s.table]) > 0; attempt++ {
		if attempt == 5 {
			return fmt.Errorf("batch write: %d items still unprocessed", len(pending[s.table]))
		}
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
			}
		}
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return fmt.Errorf("batch write: %w", err)
		}
		pending = out.UnprocessedItems
	}
	return nil
}

// Readings returns a page of readings, newest first: one device's, or
// every device's, between from and to (inclusive).
func (s *Store) Readings(ctx context.Context, device string, from, to time.Time, page domain.Page) ([]Reading, string, error) {
	lo, hi := fmt.Sprintf("%013d", from.UnixMilli()), fmt.Sprintf("%013d~", to.UnixMilli())
	q := query{sortKey: "#sk BETWEEN :lo AND :hi", values: map[string]types.AttributeValue{":lo": str(lo), ":hi": str(hi)}}
	if device != "" {
		q.sc = tableScope(readingsPartition + "#" + device)
		q.names = map[string]string{"#sk": attrSK}
	} else {
		q.index, q.sc = indexGSI1, gsiScope(indexGSI1, readingsPartition)
		q.names = map[string]string{"#sk": attrGSI1SK}
	}
	items, next, err := queryPage[readingItem](ctx, s, q, page)
	if err != nil {
		return nil, "", err
	}
	now := s.now().Unix()
	out := make([]Reading, 0, len(items))
	for _, it := range items {
		if it.ExpiresAt > now { // DynamoDB deletes expired items lazily
			out = append(out, it.Reading)
		}
	}
	return out, next, nil
}

// Latest records a device's newest readings on its valve or section, and
// when it was last seen; older readings than those already there change
// nothing. It answers the valve as it is afterwards (zero for a section).
func (s *Store) Latest(ctx context.Context, d domain.Device, at time.Time, values map[string]float64) (domain.Valve, error) {
	names := map[string]string{"#seen": "last_seen"}
	vals := map[string]types.AttributeValue{":at": timeValue(at)}
	expr := "SET #seen = :at"
	attrs := map[string]string{"temperature_c": "temperature_c", "pressure_pa": "pressure_pa"}
	pk := valvePK(d.Asset)
	if d.Kind == domain.DeviceGauge {
		attrs = map[string]string{"kpa": "pressure_kpa"}
		pk = sectionPK(d.Asset)
	}
	i := 0
	for metric, attr := range attrs {
		v, ok := values[metric]
		if !ok {
			continue
		}
		n, k := fmt.Sprintf("#a%d", i), fmt.Sprintf(":v%d", i)
		names[n], vals[k] = attr, num(v)
		expr += fmt.Sprintf(", %s = %s", n, k)
		i++
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(pk, metaSK),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(pk) AND (attribute_not_exists(#seen) OR #seen <= :at)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return domain.Valve{}, fmt.Errorf("latest readings of %s: %w", d.ID, err)
	}
	if d.Kind != domain.DeviceValve {
		return domain.Valve{}, nil
	}
	return s.Valve(ctx, d.Asset)
}

// RecordValveStatus notes the status a valve's readings put it in and
// reports whether that is a change: one alert per change of condition,
// not one per message.
func (s *Store) RecordValveStatus(ctx context.Context, valveID string, status domain.ValveStatus) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(valvePK(valveID), metaSK),
		UpdateExpression:          aws.String("SET #status = :st"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND (attribute_not_exists(#status) OR #status <> :st)"),
		ExpressionAttributeNames:  map[string]string{"#status": "reading_status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":st": str(string(status))},
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("valve status of %s: %w", valveID, err)
	}
	return true, nil
}

// DeadLetter is a device message that could not be ingested, kept with the
// reason so it can be looked at and redriven after a fix.
type DeadLetter struct {
	ID         string    `json:"id"`
	Reason     string    `json:"reason"`
	Topic      string    `json:"topic"`
	ClientID   string    `json:"client_id"`
	Payload    string    `json:"payload"` // base64, as the rule delivered it
	ReceivedMs int64     `json:"received_ms"`
	At         time.Time `json:"at"`
	Redriven   bool      `json:"redriven"`
}

type deadLetterItem struct {
	keys
	DeadLetter
}

const deadLettersPartition = "DEADLETTERS"

// PutDeadLetter keeps a message that could not be ingested.
func (s *Store) PutDeadLetter(ctx context.Context, d DeadLetter) error {
	item, err := marshal(deadLetterItem{keys: keys{PK: deadLettersPartition, SK: d.ID}, DeadLetter: d})
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

// DeadLetters returns a page of dead letters, newest first.
func (s *Store) DeadLetters(ctx context.Context, page domain.Page) ([]DeadLetter, string, error) {
	items, next, err := queryPage[deadLetterItem](ctx, s, query{sc: tableScope(deadLettersPartition)}, page)
	if err != nil {
		return nil, "", err
	}
	out := make([]DeadLetter, len(items))
	for i, it := range items {
		out[i] = it.DeadLetter
	}
	return out, next, nil
}

// MarkRedriven records that a dead letter was ingested after all.
func (s *Store) MarkRedriven(ctx context.Context, id string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(deadLettersPartition, id),
		UpdateExpression:          aws.String("SET #r = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#r": "redriven"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return domain.ErrNotFound
	}
	return err
}
