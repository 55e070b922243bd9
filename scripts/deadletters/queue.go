package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
)

// The stack's dead-letter queue (output DeadLetterQueueUrl) takes device
// messages that failed on AWS, in three shapes, one per way of failing:
const (
	// shapeRuleError: a topic rule could not deliver at all; IoT Core's
	// error action sends its error record (ruleName, topic, clientId,
	// base64OriginalPayload, failures).
	shapeRuleError = "rule-error"
	// shapeAsyncInvoke: a direct rule's asynchronous invoke of ingest
	// failed through its retries; Lambda's on-failure destination sends
	// the invocation record (requestContext, requestPayload,
	// responsePayload).
	shapeAsyncInvoke = "async-invoke"
	// shapeTelemetry: a telemetry message was received by ingest too often
	// without being stored; the telemetry queue's redrive policy moves it
	// as it was, the rule's message.
	shapeTelemetry = "telemetry"
)

// queued is one message of the dead-letter queue, understood.
type queued struct {
	ID      string // SQS message id
	Shape   string
	Message topics.Message // the device message, as a rule hands it to ingest
	Reason  string         // why it failed, as far as the record says
	handle  string         // the receipt handle of this receive
}

// ruleErrorRecord is IoT Core's error action message
// (https://docs.aws.amazon.com/iot/latest/developerguide/rule-error-handling.html).
type ruleErrorRecord struct {
	RuleName              string `json:"ruleName"`
	Topic                 string `json:"topic"`
	ClientID              string `json:"clientId"`
	Base64OriginalPayload string `json:"base64OriginalPayload"`
	Failures              []struct {
		FailedAction   string `json:"failedAction"`
		FailedResource string `json:"failedResource"`
		ErrorMessage   string `json:"errorMessage"`
	} `json:"failures"`
}

// asyncInvokeRecord is Lambda's invocation record for an on-failure
// destination
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
type asyncInvokeRecord struct {
	RequestContext *struct {
		RequestID              string `json:"requestId"`
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponsePayload json.RawMessage `json:"responsePayload"`
}

// maxBody is SQS's largest message (256 KiB); a body past it is no
// message of the queue.
const maxBody = 256 << 10

// classify tells a dead-letter queue message's shape from its body and
// returns the device message it carries. sentMs is the SQS message's
// SentTimestamp: an error record has no time of its own, and the time it
// was sent is the closest to when the device published.
func classify(body string, sentMs int64) (queued, error) {
	if len(body) > maxBody {
		return queued{}, fmt.Errorf("body of %d bytes: larger than any SQS message", len(body))
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &probe); err != nil {
		return queued{}, fmt.Errorf("body is no JSON object: %w", err)
	}
	_, isAsync := probe["requestContext"]
	_, isRuleError := probe["base64OriginalPayload"]
	switch {
	case isAsync:
		var r asyncInvokeRecord
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.RequestContext == nil {
			return queued{}, fmt.Errorf("an invocation record that does not parse: %v", err)
		}
		m, err := ruleMessage(r.RequestPayload)
		if err != nil {
			return queued{}, fmt.Errorf("invocation record: requestPayload: %w", err)
		}
		reason := fmt.Sprintf("%s after %d invokes", r.RequestContext.Condition, r.RequestContext.ApproximateInvokeCount)
		var fail struct {
			ErrorMessage string `json:"errorMessage"`
		}
		if json.Unmarshal(r.ResponsePayload, &fail) == nil && fail.ErrorMessage != "" {
			reason += ": " + fail.ErrorMessage
		}
		return queued{Shape: shapeAsyncInvoke, Message: m, Reason: reason}, nil
	case isRuleError:
		var r ruleErrorRecord
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return queued{}, fmt.Errorf("a rule error record that does not parse: %w", err)
		}
		if _, err := base64.StdEncoding.DecodeString(r.Base64OriginalPayload); err != nil {
			return queued{}, fmt.Errorf("rule error record: base64OriginalPayload: %w", err)
		}
		m := topics.Message{Payload: r.Base64OriginalPayload, Topic: r.Topic, ClientID: r.ClientID, ReceivedMs: sentMs}
		if err := checkMessage(m); err != nil {
			return queued{}, fmt.Errorf("rule error record: %w", err)
		}
		reason := "rule " + r.RuleName + " could not deliver"
		if len(r.Failures) > 0 {
			reason += ": " + r.Failures[0].FailedAction + ": " + r.Failures[0].ErrorMessage
		}
		return queued{Shape: shapeRuleError, Message: m, Reason: reason}, nil
	default:
		m, err := ruleMessage(json.RawMessage(body))
		if err != nil {
			return queued{}, fmt.Errorf("neither a rule error record, an invocation record nor a rule's message: %w", err)
		}
		return queued{Shape: shapeTelemetry, Message: m, Reason: "received too often without being stored"}, nil
	}
}

// ruleMessage decodes a rule's message strictly: the four fields a rule's
// SQL selects, nothing else.
func ruleMessage(raw json.RawMessage) (topics.Message, error) {
	var m topics.Message
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, err
	}
	if dec.More() {
		return m, errors.New("more than one JSON value")
	}
	return m, checkMessage(m)
}

// checkMessage requires a topic a rule selects and a payload in base64.
func checkMessage(m topics.Message) error {
	if topics.TargetOf(m.Topic) == "" {
		return fmt.Errorf("topic %q is no topic a rule selects", m.Topic)
	}
	if _, err := m.Bytes(); err != nil {
		return err
	}
	return nil
}

// QueueAPI is what the command uses of SQS (*sqs.Client).
type QueueAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// holdSeconds is how long a message read by the command stays hidden
// from other readers; the command gives every message back (visible
// again at once) unless it redrove it.
const holdSeconds = 120

// undecodable is a message of the queue that is none of the three shapes.
type undecodable struct {
	ID     string
	Reason string
	handle string
}

// receiveAll reads every message of the queue, hiding each for
// holdSeconds, until a receive comes back empty. A message seen twice
// (SQS may hand one out again) counts once.
func receiveAll(ctx context.Context, q QueueAPI, url string) ([]queued, []undecodable, error) {
	var ok []queued
	var bad []undecodable
	seen := map[string]bool{}
	for {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			MaxNumberOfMessages:         10,
			VisibilityTimeout:           holdSeconds,
			WaitTimeSeconds:             1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameSentTimestamp},
		})
		if err != nil {
			return ok, bad, fmt.Errorf("receive from %s: %w", url, err)
		}
		if len(out.Messages) == 0 {
			return ok, bad, nil
		}
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id] = true
			sent, _ := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64)
			d, err := classify(aws.ToString(m.Body), sent)
			if err != nil {
				bad = append(bad, undecodable{ID: id, Reason: err.Error(), handle: aws.ToString(m.ReceiptHandle)})
				continue
			}
			d.ID, d.handle = id, aws.ToString(m.ReceiptHandle)
			ok = append(ok, d)
		}
	}
}

// release makes a message visible again at once.
func release(ctx context.Context, q QueueAPI, url, handle string) error {
	_, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(url), ReceiptHandle: aws.String(handle), VisibilityTimeout: 0,
	})
	return err
}

// redriver ingests a device message again (ingest.Service.Redrive).
type redriver interface {
	Redrive(ctx context.Context, d domain.DeadLetter) error
}

// queueCommand lists or redrives the dead-letter queue at url.
func queueCommand(ctx context.Context, q QueueAPI, url, cmd string, limit int, all bool, ids []string, svc func() redriver, stdout io.Writer) error {
	letters, bad, err := receiveAll(ctx, q, url)
	// Whatever happens, what was read and not redriven goes back.
	keep := map[string]string{}
	for _, d := range letters {
		keep[d.ID] = d.handle
	}
	for _, b := range bad {
		keep[b.ID] = b.handle
	}
	defer func() {
		for _, h := range keep {
			// Best effort: a message not given back is visible again after
			// holdSeconds anyway.
			_ = release(context.WithoutCancel(ctx), q, url, h)
		}
	}()
	if err != nil {
		return err
	}
	switch cmd {
	case "list":
		fmt.Fprintf(stdout, "%-36s %-12s %-36s %-12s %s\n", "MESSAGE ID", "SHAPE", "TOPIC", "CLIENT", "REASON")
		n := 0
		for _, d := range letters {
			if n == limit {
				break
			}
			fmt.Fprintf(stdout, "%-36s %-12s %-36s %-12s %s\n", d.ID, d.Shape, d.Message.Topic, d.Message.ClientID, d.Reason)
			n++
		}
		for _, b := range bad {
			if n == limit {
				break
			}
			fmt.Fprintf(stdout, "%-36s %-12s %-36s %-12s %s\n", b.ID, "unknown", "-", "-", b.Reason)
			n++
		}
		return nil
	case "redrive":
		want := map[string]bool{}
		for _, id := range ids {
			want[id] = true
		}
		if !all && len(want) == 0 {
			return errors.New("redrive: name message ids, or -all")
		}
		r := svc()
		var failed []string
		done := 0
		for _, d := range letters {
			if !all && !want[d.ID] {
				continue
			}
			delete(want, d.ID)
			m := d.Message
			if err := r.Redrive(ctx, domain.DeadLetter{ID: d.ID, Topic: m.Topic, ClientID: m.ClientID, Payload: m.Payload, ReceivedMs: m.ReceivedMs}); err != nil {
				failed = append(failed, d.ID+": "+err.Error())
				continue
			}
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(d.handle)}); err != nil {
				return fmt.Errorf("%s was ingested but stays in the queue (delete: %w); a second redrive is harmless", d.ID, err)
			}
			delete(keep, d.ID)
			done++
		}
		for _, b := range bad {
			if all || want[b.ID] {
				delete(want, b.ID)
				failed = append(failed, b.ID+": "+b.Reason)
			}
		}
		for id := range want {
			failed = append(failed, id+": no such message in the queue")
		}
		fmt.Fprintf(stdout, "redriven: %d\n", done)
		if len(failed) > 0 {
			return fmt.Errorf("%d not redriven (they stay in the queue):\n  %s", len(failed), strings.Join(failed, "\n  "))
		}
		return nil
	}
	return fmt.Errorf("unknown command %q: list or redrive", cmd)
}
