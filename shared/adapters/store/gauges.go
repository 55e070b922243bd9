package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Gauges are the sizes of the sets operators watch on the dashboard: the
// timeout schedule reads them every minute and emits them as metrics.
type Gauges struct {
	OpenIncidents int // incidents not yet resolved
	ActiveLeaks   int // leak alerts not yet repaired
}

// Gauges counts the unresolved incidents and the active leaks: a Query of
// their sparse index partitions with Select COUNT, so DynamoDB returns no
// items, only how many it read.
func (s *Store) Gauges(ctx context.Context) (Gauges, error) {
	var g Gauges
	var err error
	if g.OpenIncidents, err = s.count(ctx, query{index: indexGSI2, sc: gsiScope(indexGSI2, unresolvedPartition)}, 0); err != nil {
		return Gauges{}, err
	}
	if g.ActiveLeaks, err = s.count(ctx, query{index: indexGSI2, sc: gsiScope(indexGSI2, activeAlertsPartition)}, 0); err != nil {
		return Gauges{}, err
	}
	return g, nil
}

// count adds up Count over every page of a query. DynamoDB stops a page
// after 1 MB read even when it returns no items, so one page is not the
// whole count; page > 0 makes smaller pages (the tests' way to get more
// than one).
func (s *Store) count(ctx context.Context, q query, page int) (int, error) {
	var start map[string]types.AttributeValue
	n := 0
	for {
		in := s.input(q, page, start)
		in.Select = types.SelectCount
		// The direction is irrelevant to a count; forward reads are the
		// default and the cheapest to reason about.
		in.ScanIndexForward = aws.Bool(true)
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("count %s: %w", q.sc.partition, err)
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		start = out.LastEvaluatedKey
	}
}
