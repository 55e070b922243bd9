package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/testkit/motoserver"
)

// The tests publish to SNS as moto's server plays it, over the wire, and
// read what the topic delivered from an SQS queue subscribed to it, as an
// operator's subscription would receive it.

// topic is an operators' topic with a queue subscribed to it.
type topic struct {
	arn   string
	sns   *sns.Client
	sqs   *sqs.Client
	queue string // URL
}

func newTopic(t *testing.T) *topic {
	t.Helper()
	cfg := motoserver.Start(t).Config()
	tp := &topic{sns: sns.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}
	ctx := t.Context()
	created, err := tp.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("plainview-operators")})
	if err != nil {
		t.Fatal(err)
	}
	tp.arn = aws.ToString(created.TopicArn)
	q, err := tp.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("operators-inbox")})
	if err != nil {
		t.Fatal(err)
	}
	tp.queue = aws.ToString(q.QueueUrl)
	attrs, err := tp.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.sns.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: created.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"]),
	}); err != nil {
		t.Fatal(err)
	}
	return tp
}

// delivered is SNS's envelope of one notification, as a subscribed queue
// receives it.
type delivered struct {
	Type     string
	TopicArn string
	Subject  *string
	Message  string
}

// next receives the one notification the topic delivered.
func (tp *topic) next(t *testing.T) delivered {
	t.Helper()
	out, err := tp.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(tp.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("%d notifications delivered, want 1", len(out.Messages))
	}
	m := out.Messages[0]
	if _, err := tp.sqs.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(tp.queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	var d delivered
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &d); err != nil {
		t.Fatalf("the delivery is no SNS notification: %v: %s", err, aws.ToString(m.Body))
	}
	return d
}

func TestSNSNotifyPublishesSubjectAndMessageToTheTopic(t *testing.T) {
	t.Parallel()
	tp := newTopic(t)
	n := notify.NewSNS(tp.sns, tp.arn)

	const message = "Leak detected on section s-7 at 2026-11-23T20:00:00Z.\nIncident i-42 opened."
	if err := n.Notify(context.Background(), "Critical: leak on s-7", message); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	d := tp.next(t)
	if d.Type != "Notification" || d.TopicArn != tp.arn || aws.ToString(d.Subject) != "Critical: leak on s-7" || d.Message != message {
		t.Errorf("delivered %+v (subject %q), want the subject and message on the topic", d, aws.ToString(d.Subject))
	}
}

// SNS takes subjects of printable ASCII under 100 characters that start
// with a letter, digit or punctuation mark, with no line breaks or control
// characters. Notify makes any subject so rather than lose the page.
func TestSNSNotifySendsOnlySubjectsSNSTakes(t *testing.T) {
	t.Parallel()
	tp := newTopic(t)
	n := notify.NewSNS(tp.sns, tp.arn)
	long := strings.Repeat("x", 120)
	for _, tc := range []struct {
		name, subject string
		want          string // "" means no subject
	}{
		{"plain", "Critical: leak on s-7", "Critical: leak on s-7"},
		{"line breaks and tabs", "Critical:\r\nleak\ton s-7\n", "Critical: leak on s-7"},
		{"leading and trailing space", "   Critical  ", "Critical"},
		{"non-ASCII", "Druckabfall Zweig Nord–Süd ⚠", "Druckabfall Zweig Nord S d"},
		{"control characters", "Valve\x00 v-101\x7f stuck\x1b[0m", "Valve v-101 stuck [0m"},
		{"too long", long, long[:99]},
		{"too long, cut at a space", strings.Repeat("a", 98) + " bcd", strings.Repeat("a", 98)},
		{"nothing left", "\n\t ⚠ ", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := n.Notify(context.Background(), tc.subject, "message"); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			d := tp.next(t)
			if got := aws.ToString(d.Subject); got != tc.want {
				t.Errorf("Subject = %q, want %q", got, tc.want)
			}
			if d.Message != "message" {
				t.Errorf("Message = %q", d.Message)
			}
		})
	}
}

func TestSNSNotifyReportsServiceErrors(t *testing.T) {
	t.Parallel()
	tp := newTopic(t)
	missing := strings.Replace(tp.arn, "plainview-operators", "nobody", 1)

	err := notify.NewSNS(tp.sns, missing).Notify(context.Background(), "Critical", "message")
	var notFound *types.NotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Notify = %v, want the service's NotFound, naming the topic", err)
	}
}
