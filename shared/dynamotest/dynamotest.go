// Package dynamotest gives tests a DynamoDB table to talk to over the wire:
// a minidyn server started for the test, or, when DYNAMODB_ENDPOINT is set,
// that server (DynamoDB Local, or the cloud with AWS credentials) with a
// table of the test's own.
package dynamotest

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	miniserver "github.com/truora/minidyn/server"

	"github.com/plainview/serverless/shared/store"
)

// Client returns a client for a DynamoDB-compatible server and the name of
// a table that belongs to this test alone; the table does not exist yet.
func Client(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	table := "plainview-test-" + rand.Text()[:10]
	if endpoint := os.Getenv("DYNAMODB_ENDPOINT"); endpoint != "" {
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			t.Fatalf("aws config: %v", err)
		}
		c := store.NewClient(cfg, endpoint)
		t.Cleanup(func() {
			_, _ = c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		})
		return c, table
	}
	srv := httptest.NewServer(miniserver.NewServer())
	t.Cleanup(srv.Close)
	return store.NewClient(store.LocalConfig(), srv.URL), table
}

// Store returns a store over a new, created table.
func Store(t testing.TB) *store.Store {
	t.Helper()
	db, table := Client(t)
	s := store.New(db, table, nil)
	if err := s.CreateTable(context.Background()); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return s
}
