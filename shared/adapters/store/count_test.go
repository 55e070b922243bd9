package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// queries records the Query calls a store makes through the real client.
type queries struct {
	store.API
	inputs []*dynamodb.QueryInput
}

func (q *queries) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	q.inputs = append(q.inputs, in)
	return q.API.Query(ctx, in, opts...)
}

// A count adds up every page, and asks DynamoDB for counts, not items.
func TestCountAddsUpEveryPage(t *testing.T) {
	db, table := dynamotest.Client(t)
	rec := &queries{API: db}
	s := store.New(rec, table, nil)
	ctx := t.Context()
	if err := s.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range 5 {
		var tx store.Tx
		tx.PutAlert(domain.Alert{ID: domain.NewID("leak", now.Add(time.Duration(i)*time.Second)), Section: "A-North",
			Severity: domain.LeakMinor, Status: domain.AlertActive, CreatedAt: now.Add(time.Duration(i) * time.Second)})
		if err := s.Commit(ctx, &tx); err != nil {
			t.Fatal(err)
		}
	}

	rec.inputs = nil
	n, err := store.CountActiveAlerts(ctx, s, 2)
	if err != nil || n != 5 {
		t.Fatalf("count = %d, %v; want 5", n, err)
	}
	if len(rec.inputs) < 3 {
		t.Errorf("%d queries for 5 items in pages of 2, want at least 3", len(rec.inputs))
	}
	for _, in := range rec.inputs {
		if in.Select != types.SelectCount {
			t.Errorf("query with Select %q, want COUNT", in.Select)
		}
	}
}
