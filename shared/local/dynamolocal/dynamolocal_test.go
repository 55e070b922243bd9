package dynamolocal_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/local/dynamolocal"
)

func start(t *testing.T, o dynamolocal.Options) (*dynamolocal.Server, *dynamodb.Client) {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	s, err := dynamolocal.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, store.NewClient(store.LocalConfig(), s.URL)
}

func createTable(t *testing.T, db *dynamodb.Client, name string) {
	t.Helper()
	_, err := db.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, db *dynamodb.Client, table, pk string) {
	t.Helper()
	_, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{
		Put: &types.Put{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk},
			"m":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
			"l":  &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
}

func keys(t *testing.T, db *dynamodb.Client, table string) map[string]bool {
	t.Helper()
	out, err := db.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, it := range out.Items {
		got[it["pk"].(*types.AttributeValueMemberS).Value] = true
		if _, ok := it["m"].(*types.AttributeValueMemberM); !ok {
			t.Errorf("item %v: the empty map came back as %T", it["pk"], it["m"])
		}
		if _, ok := it["l"].(*types.AttributeValueMemberL); !ok {
			t.Errorf("item %v: the empty list came back as %T", it["pk"], it["l"])
		}
	}
	return got
}

// A write DynamoDB Local answered is on disk once it is stopped, even at
// once (SIGTERM, as Close and a dead parent send it), and the empty
// collections in it come back as they went in.
func TestAnAnsweredWriteOutlivesAStopOfTheServer(t *testing.T) {
	dir := t.TempDir()
	s, db := start(t, dynamolocal.Options{DataDir: dir})
	createTable(t, db, "kept")
	for i := range 20 {
		put(t, db, "kept", fmt.Sprint("item-", i))
	}
	s.Close()
	select {
	case <-s.Exited():
	default:
		t.Fatal("Close returned before the process ended")
	}
	_, db = start(t, dynamolocal.Options{DataDir: dir})
	if got := keys(t, db, "kept"); len(got) != 20 {
		t.Errorf("after a stop: %d of 20 items", len(got))
	}
}

// In memory, nothing is kept from one server to the next.
func TestInMemoryTablesEndWithTheServer(t *testing.T) {
	s, db := start(t, dynamolocal.Options{})
	createTable(t, db, "gone")
	put(t, db, "gone", "a")
	if got := keys(t, db, "gone"); !got["a"] {
		t.Fatalf("in memory: %v", got)
	}
	s.Close()
	_, db = start(t, dynamolocal.Options{})
	if _, err := db.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String("gone")}); err == nil {
		t.Error("a table outlived an in-memory server")
	}
}

// A taken address is refused before any JVM starts, with the address in
// the error.
func TestATakenAddressIsRefused(t *testing.T) {
	s, _ := start(t, dynamolocal.Options{})
	_, err := dynamolocal.Start(context.Background(), dynamolocal.Options{Addr: s.Addr})
	if err == nil || !strings.Contains(err.Error(), s.Addr) {
		t.Errorf("second server on %s: %v", s.Addr, err)
	}
}
