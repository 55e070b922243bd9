package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plainview/serverless/shared/domain"
	"github.com/plainview/serverless/shared/dynamotest"
	"github.com/plainview/serverless/shared/localstack"
	"github.com/plainview/serverless/shared/store"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func TestMessagesOfAnUnknownDeviceAreRedrivenOnceItIsInTheInventory(t *testing.T) {
	ctx := context.Background()
	endpoint, _ := dynamotest.Endpoint(t)
	st, err := localstack.Start(ctx, localstack.Config{
		DynamoEndpoint: endpoint, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), TableName: dynamotest.TableName(), Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// A thing the broker lets in but the inventory does not know (here the
	// operator's console, connected as "v-104").
	c := paho.NewClient(paho.NewClientOptions().AddBroker(st.MQTTURL).SetClientID("v-104").
		SetUsername(st.Operator.Username).SetPassword(st.Operator.Password))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(50)
	for _, p := range []string{`{"temperature_c":41}`, `{"temperature_c":42}`, `{"temperature_c":43}`} {
		if tok := c.Publish("plainview/devices/v-104/telemetry", 1, false, p); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	var letters []store.DeadLetter
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
	if err := command(ctx, st.Store, []string{"list"}, &out, &errs); err != nil || strings.Count(out.String(), `client "v-104" is not`) != 3 {
		t.Fatalf("list: %v\n%s", err, out.String())
	}
	// Still unknown: the redrive refuses them, and they stay.
	out.Reset()
	if err := command(ctx, st.Store, []string{"redrive", "-all"}, &out, &errs); err == nil || !strings.Contains(err.Error(), "still bad") {
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
	if err := command(ctx, st.Store, []string{"redrive", "-all"}, &out, &errs); err != nil || !strings.Contains(out.String(), "redriven: 3") {
		t.Fatalf("redrive after the fix: %v %s", err, out.String())
	}
	readings, _, err := st.Store.Readings(ctx, "v-104", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), domain.Page{Limit: 10})
	if err != nil || len(readings) != 3 {
		t.Errorf("readings after redrive = %+v, %v", readings, err)
	}
	// A second redrive has nothing left to do.
	out.Reset()
	if err := command(ctx, st.Store, []string{"redrive", "-all"}, &out, &errs); err != nil || !strings.Contains(out.String(), "redriven: 0") {
		t.Errorf("second redrive: %v %s", err, out.String())
	}
}
