package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// Latest records a device's newest readings on its valve or section, and
// when it was last seen; older readings than those already there change
// nothing. It answers the valve as it is afterwards (zero for a section)
// and the status its readings were last recorded in (RecordValveStatus),
// from the update's own answer: no second read.
func (s *Store) Latest(ctx context.Context, d domain.Device, at time.Time, values map[string]float64) (domain.Valve, domain.ValveStatus, error) {
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
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(pk, metaSK),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String("attribute_exists(pk) AND (attribute_not_exists(#seen) OR #seen <= :at)"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           vals,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	item := map[string]types.AttributeValue(nil)
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		item = failed.Item
	case err != nil:
		return domain.Valve{}, "", fmt.Errorf("latest readings of %s: %w", d.ID, err)
	default:
		item = out.Attributes
	}
	if d.Kind != domain.DeviceValve || len(item) == 0 {
		return domain.Valve{}, "", nil
	}
	var it struct {
		valveItem
		ReadingStatus domain.ValveStatus `json:"reading_status"`
	}
	if err := unmarshal(item, &it); err != nil {
		return domain.Valve{}, "", fmt.Errorf("latest readings of %s: %w", d.ID, err)
	}
	return it.valve(), it.ReadingStatus, nil
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

type deadLetterItem struct {
	keys
	domain.DeadLetter
}

const deadLettersPartition = "DEADLETTERS"

// PutDeadLetter keeps a message that could not be ingested.
func (s *Store) PutDeadLetter(ctx context.Context, d domain.DeadLetter) error {
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
func (s *Store) DeadLetters(ctx context.Context, page domain.Page) ([]domain.DeadLetter, string, error) {
	items, next, err := queryPage[deadLetterItem](ctx, s, query{sc: tableScope(deadLettersPartition)}, page)
	if err != nil {
		return nil, "", err
	}
	out := make([]domain.DeadLetter, len(items))
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
