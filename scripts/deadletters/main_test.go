package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/local/stack"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func TestMessagesOfAnUnknownDeviceAreRedrivenOnceItIsInTheInventory(t *testing.T) {
	ctx := context.Background()
	endpoint, _ := dynamotest.Endpoint(t)
	st, err := stack.Start(ctx, stack.Config{
		DynamoEndpoint: endpoint, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), TableName: dynamotest.TableName(), Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Messages from a thing the inventory does not know (on AWS, a thing
	// registered by hand), as the rules hand them to ingest. (The local
	// broker admits no such client: its logins are the inventory's.)
	note := notify.NewLog(slog.New(slog.DiscardHandler))
	ing := ingest.New(st.Store, leaks.New(st.Store, note, nil, nil), note, nil, nil, nil)
	for _, p := range []string{`{"temperature_c":41}`, `{"temperature_c":42}`, `{"temperature_c":43}`} {
		m := topics.NewMessage("plainview/devices/v-104/telemetry", "v-104", []byte(p), time.Now().UnixMilli())
		if failed := ing.HandleBatch(ctx, []topics.Message{m}); len(failed) != 0 {
			t.Fatalf("ingest failed %s", p)
		}
	}
	var letters []domain.DeadLetter
	for range 100 {
		letters, _, _ = st.Store.DeadLetters(ctx, domain.Page{Limit: 50})
		if len(letters) == 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(letters) != 3 || !strings.Contains(letters[0].Reason, "not a device of the inventory") {
		t.Fatalf("dead letters = %+v", letters)
	}

	var out, errs bytes.Buffer
	if err := command(ctx, st.Store, []string{"list"}, &out, &errs, noQueue(t)); err != nil || strings.Count(out.String(), `client "v-104" is not`) != 3 {
		t.Fatalf("list: %v\n%s", err, out.String())
	}
	// Still unknown: the redrive refuses them, and they stay.
	out.Reset()
	if err := command(ctx, st.Store, []string{"redrive", "-all"}, &out, &errs, noQueue(t)); err == nil || !strings.Contains(err.Error(), "still bad") {
		t.Fatalf("redrive before the fix: %v", err)
	}

	// The fix: v-104 joins the inventory.
	db := store.NewClient(store.LocalConfig(), st.DynamoURL)
	for _, item := range []map[string]types.AttributeValue{
		{"pk": s("DEVICE#v-104"), "sk": s("META"), "gsi1pk": s("DEVICES"), "gsi1sk": s("v-104"), "id": s("v-104"), "kind": s("valve"), "asset": s("v-104")},
		{"pk": s("VALVE#v-104"), "sk": s("META"), "gsi1pk": s("VALVES"), "gsi1sk": s("v-104"), "id": s("v-104"), "name": s("Bypass D4")},
	} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.TableName), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if err := command(ctx, st.Store, []string{"redrive", "-all"}, &out, &errs, noQueue(t)); err != nil || !strings.Contains(out.String(), "redriven: 3") {
		t.Fatalf("redrive after the fix: %v %s", err, out.String())
	}
	readings, _, err := st.Store.Readings(ctx, "v-104", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), domain.Page{Limit: 10})
	if err != nil || len(readings) != 3 {
		t.Errorf("readings after redrive = %+v, %v", readings, err)
	}
	// A second redrive has nothing left to do.
	out.Reset()
	if err := command(ctx, st.Store, []string{"redrive", "-all"}, &out, &errs, noQueue(t)); err != nil || !strings.Contains(out.String(), "redriven: 0") {
		t.Errorf("second redrive: %v %s", err, out.String())
	}
}

// noQueue is the AWS clients of a run that must not reach for the queue.
func noQueue(t *testing.T) func(context.Context) (clients, error) {
	return func(context.Context) (clients, error) {
		t.Error("a table command asked for the SQS and Kinesis clients")
		return clients{}, errors.New("no SQS in this test")
	}
}
