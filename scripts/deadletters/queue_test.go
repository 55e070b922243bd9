package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
	"github.com/plainview/serverless/shared/testkit/motoserver"
)

func sample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The queue holds three shapes, told apart by their fields. Two carry
// the device message a rule hands to ingest; the third names a range of
// the telemetry stream (TestClassifyReadsAStreamBatchRecord).
func TestClassifyTellsTheShapesApart(t *testing.T) {
	for _, tc := range []struct {
		file, shape, topic, client, reason string
		receivedMs                         int64
	}{
		{"rule-error.json", shapeRuleError, "plainview/leaks", "A-North", "rule plainview_development_leaks could not deliver: LambdaAction: Failed to invoke", 1_795_000_000_123},
		{"async-invoke.json", shapeAsyncInvoke, "plainview/leaks", "B-Central", "RetriesExhausted after 3 invokes: put leak: ProvisionedThroughputExceededException", 1_795_000_100_000},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d, err := classify(sample(t, tc.file), 1_795_000_000_123)
			if err != nil {
				t.Fatal(err)
			}
			m := d.Message
			if d.Shape != tc.shape || m.Topic != tc.topic || m.ClientID != tc.client || m.ReceivedMs != tc.receivedMs || !strings.HasPrefix(d.Reason, tc.reason) {
				t.Errorf("got %+v, want shape %s, %s from %s at %d, reason %q...", d, tc.shape, tc.topic, tc.client, tc.receivedMs, tc.reason)
			}
			if _, err := m.Bytes(); err != nil || m.Payload == "" {
				t.Errorf("payload %q: %v", m.Payload, err)
			}
		})
	}
}

func TestClassifyRefusesWhatIsNoneOfThem(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":                 "hello",
		"a JSON list":              "[]",
		"a message with more":      `{"payload":"e30=","topic":"plainview/leaks","client_id":"A-North","received_ms":1,"extra":1}`,
		"a topic no rule selects":  `{"payload":"e30=","topic":"elsewhere","client_id":"A-North","received_ms":1}`,
		"a payload not in base64":  `{"payload":"%%%","topic":"plainview/leaks","client_id":"A-North","received_ms":1}`,
		"a record without payload": `{"requestContext":{"condition":"RetriesExhausted"},"requestPayload":null}`,
		"a rule error, bad base64": `{"ruleName":"r","topic":"plainview/leaks","clientId":"A-North","base64OriginalPayload":"***"}`,
		"a rule error, odd topic":  `{"ruleName":"r","topic":"x/y","clientId":"A-North","base64OriginalPayload":"e30="}`,
		"too large":                `{"payload":"` + strings.Repeat("A", maxBody) + `"}`,
		// What the telemetry queue's redrive policy moved, before the stream.
		"a bare rule message": `{"payload":"e30=","topic":"plainview/devices/v-101/telemetry","client_id":"v-101","received_ms":1}`,
	} {
		if d, err := classify(body, 0); err == nil {
			t.Errorf("%s: classified as %+v", name, d)
		}
	}
}

// Whatever the queue holds, classify answers without panicking; a
// message it accepts is one ingest can take, and a stream batch it accepts
// names a range a reader can ask for.
func FuzzClassify(f *testing.F) {
	for _, name := range []string{"rule-error.json", "async-invoke.json", "kinesis-batch.json"} {
		f.Add(sample(f, name))
	}
	f.Add(`{"requestContext":{},"requestPayload":"x"}`)
	f.Add(`{"requestContext":{"condition":"RecordAgeExceeded"},"responseContext":{"functionError":null},"KinesisBatchInfo":{"shardId":"shardId-000000000000","startSequenceNumber":"7","endSequenceNumber":"10","batchSize":2,"streamArn":"arn:aws:kinesis:eu-west-1:1:stream/s"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		d, err := classify(body, 1)
		if err != nil {
			return
		}
		if d.Shape != shapeStreamBatch {
			if err := checkMessage(d.Message); err != nil {
				t.Errorf("accepted %q with a message ingest refuses: %v", body, err)
			}
			return
		}
		b := d.Batch
		if b.Stream == "" || b.Region == "" || !shardPattern.MatchString(b.Shard) || !sequencePattern.MatchString(b.Start) ||
			!sequencePattern.MatchString(b.End) || sequenceBefore(b.End, b.Start) || b.Size < 1 || b.Size > maxBatchSize {
			t.Errorf("accepted %q as a range no reader can ask for: %+v", body, b)
		}
	})
}

// Over the wire, against moto's SQS: list shows every message with its
// shape and gives them all back; redrive ingests the two shapes that carry
// their message into the table, deletes them, and leaves what it cannot
// read in the queue. (Stream batches: stream_test.go.)
func TestTheQueueIsListedAndRedriven(t *testing.T) {
	ctx := t.Context()
	st := dynamotest.Store(t)
	if err := st.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(motoserver.Start(t).Config())
	url := createQueue(t, q)
	ids := map[string]string{}
	for _, body := range []string{sample(t, "rule-error.json"), sample(t, "async-invoke.json"), "not a device message"} {
		ids[body] = send(t, q, url, body)
	}
	run := runner(t, st, clients{queue: q})

	list, err := run("list", "-queue", url)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		ids[sample(t, "rule-error.json")] + " rule-error   plainview/leaks from A-North",
		ids[sample(t, "async-invoke.json")] + " async-invoke plainview/leaks from B-Central",
		ids["not a device message"] + " unknown",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("list has no %q:\n%s", want, list)
		}
	}
	if got := waiting(t, q, url); got != "3 visible, 0 hidden" {
		t.Errorf("after list the queue has %s, want all 3 visible again", got)
	}

	out, err := run("redrive", "-queue", url, "-all")
	if err == nil || !strings.Contains(err.Error(), ids["not a device message"]) || !strings.Contains(out, "redriven: 2") {
		t.Fatalf("redrive: %q, %v; want 2 redriven and the unreadable one named", out, err)
	}
	if got := waiting(t, q, url); got != "1 visible, 0 hidden" {
		t.Errorf("after redrive the queue has %s, want the unreadable one, visible", got)
	}
	for _, id := range []string{"leak-A-North-1", "leak-B-Central-1"} {
		if a, err := st.Alert(ctx, id); err != nil || a.Reporter == "" {
			t.Errorf("alert %s: %+v, %v", id, a, err)
		}
	}
}

func createQueue(t *testing.T, q *sqs.Client) string {
	t.Helper()
	created, err := q.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("plainview-dead-letters")})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(created.QueueUrl)
}

// send puts a message in the queue and returns its id.
func send(t *testing.T, q *sqs.Client, url, body string) string {
	t.Helper()
	out, err := q.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.MessageId)
}

// runner runs the command on the table and the AWS clients given, and
// answers its output and error.
func runner(t *testing.T, st *store.Store, c clients) func(args ...string) (string, error) {
	return func(args ...string) (string, error) {
		var out, errs bytes.Buffer
		err := command(t.Context(), st, args, &out, &errs, func(context.Context) (clients, error) { return c, nil })
		return out.String(), err
	}
}

// waiting says how many messages the queue holds, visible and hidden.
func waiting(t *testing.T, q *sqs.Client, url string) string {
	t.Helper()
	out, err := q.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)] + " visible, " +
		out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] + " hidden"
}

func TestQueueFlagsAreChecked(t *testing.T) {
	st := dynamotest.Store(t)
	for _, args := range [][]string{
		{"list", "-queue", "plainview-dead-letters"},
		{"list", "-limit", "0"},
		{"list", "-records"},
		{"redrive", "-queue", "https://sqs.eu-west-1.amazonaws.com/1/q", "-records", "-all"},
	} {
		var out, errs bytes.Buffer
		if err := command(t.Context(), st, args, &out, &errs, noQueue(t)); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
