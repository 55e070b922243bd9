package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// query is one Query of a listing: a partition of the table or an index,
// optionally narrowed on the sort key and filtered.
type query struct {
	index   string // "" for the table
	sc      scope
	sortKey string // optional condition on the sort key, e.g. "#sk > :from"
	filter  string // optional FilterExpression
	names   map[string]string
	values  map[string]types.AttributeValue
	forward bool // oldest first; listings are newest first by default
}

func (s *Store) input(q query, limit int, start map[string]types.AttributeValue) *dynamodb.QueryInput {
	names := map[string]string{"#pk": q.sc.hashAttr}
	values := map[string]types.AttributeValue{":pk": str(q.sc.partition)}
	for k, v := range q.names {
		names[k] = v
	}
	for k, v := range q.values {
		values[k] = v
	}
	cond := "#pk = :pk"
	if q.sortKey != "" {
		cond += " AND " + q.sortKey
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(q.forward),
		ExclusiveStartKey:         start,
	}
	if q.index != "" {
		in.IndexName = aws.String(q.index)
	}
	if q.filter != "" {
		in.FilterExpression = aws.String(q.filter)
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(limit))
	}
	return in
}

// queryPage reads one page of at most page.Limit items (fewer when a filter
// drops some) and returns the cursor of the next one.
func queryPage[T any](ctx context.Context, s *Store, q query, page domain.Page) ([]T, string, error) {
	start, err := decodeCursor(q.sc, page.Cursor)
	if err != nil {
		return nil, "", err
	}
	out, err := s.db.Query(ctx, s.input(q, page.Limit, start))
	if err != nil {
		return nil, "", fmt.Errorf("query %s: %w", q.sc.partition, err)
	}
	items, err := decodeAll[T](out.Items)
	if err != nil {
		return nil, "", err
	}
	next, err := encodeCursor(q.sc, out.LastEvaluatedKey)
	return items, next, err
}

// queryAll reads every item of a query, page after page, stopping once it
// has max items when max > 0. It serves the bounded sets: the inventory,
// the unresolved incidents, the active leaks.
func queryAll[T any](ctx context.Context, s *Store, q query, max int) ([]T, error) {
	var all []T
	var start map[string]types.AttributeValue
	for {
		limit := 0
		if max > 0 {
			limit = max - len(all)
		}
		out, err := s.db.Query(ctx, s.input(q, limit, start))
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.sc.partition, err)
		}
		items, err := decodeAll[T](out.Items)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if len(out.LastEvaluatedKey) == 0 || (max > 0 && len(all) >= max) {
			return all, nil
		}
		start = out.LastEvaluatedKey
	}
}

func decodeAll[T any](items []map[string]types.AttributeValue) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, it := range items {
		var v T
		if err := unmarshal(it, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
