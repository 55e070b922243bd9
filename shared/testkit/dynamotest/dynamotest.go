// Package dynamotest gives tests a DynamoDB table to talk to over the wire:
// AWS's DynamoDB Local, one in-memory instance per test binary, started on
// first use and stopped by Main; or, when DYNAMODB_ENDPOINT is set, that
// server (a DynamoDB Local of your own, or the cloud with AWS credentials).
// Each test gets a table of its own, deleted at its end.
//
// A package whose tests use it runs them through Main:
//
//	func TestMain(m *testing.M) { dynamotest.Main(m) }
package dynamotest

import (
	"context"
	"crypto/rand"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/local/dynamolocal"
)

// shared is the test binary's DynamoDB Local. It is the one package-level
// variable here on purpose: a JVM takes seconds to start, so the tests of
// a binary share one, each with its own tables.
var shared struct {
	once sync.Once
	srv  *dynamolocal.Server
	err  error
}

// Main runs the tests, then stops the DynamoDB Local they started, and
// exits with their result.
func Main(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Close()
	}
	os.Exit(code)
}

// Endpoint returns the URL of the DynamoDB the tests use, starting the
// binary's DynamoDB Local on first use, and the AWS configuration to reach
// it with.
func Endpoint(t testing.TB) (string, aws.Config) {
	t.Helper()
	if endpoint := os.Getenv("DYNAMODB_ENDPOINT"); endpoint != "" {
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			t.Fatalf("aws config: %v", err)
		}
		return endpoint, cfg
	}
	shared.once.Do(func() {
		shared.srv, shared.err = dynamolocal.Start(context.Background(), dynamolocal.Options{Addr: "127.0.0.1:0"})
	})
	if shared.err != nil {
		t.Fatalf("DynamoDB Local: %v", shared.err)
	}
	return shared.srv.URL, store.LocalConfig()
}

// TableName returns a table name no other test uses.
func TableName() string {
	return "plainview-test-" + rand.Text()[:10]
}

// Client returns a client for the tests' DynamoDB and the name of a table
// that belongs to this test alone; the table does not exist yet, and is
// deleted when the test ends.
func Client(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	endpoint, cfg := Endpoint(t)
	c := store.NewClient(cfg, endpoint)
	table := TableName()
	DeleteAtEnd(t, c, table)
	return c, table
}

// DeleteAtEnd deletes table when the test ends, so that a binary's tests
// do not pile their tables up in one in-memory server.
func DeleteAtEnd(t testing.TB, c *dynamodb.Client, table string) {
	t.Cleanup(func() {
		_, _ = c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
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
