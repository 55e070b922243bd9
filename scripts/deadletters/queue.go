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
	"time"

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
	// shapeStreamBatch: ingest's event source mapping discarded a batch of
	// the telemetry stream; it sends the batch's record (requestContext,
	// responseContext, KinesisBatchInfo), which names the batch's records
	// in the stream rather than carrying them.
	shapeStreamBatch = "stream-batch"
)

// queued is one message of the dead-letter queue, understood.
type queued struct {
	ID      string // SQS message id
	Shape   string
	Message topics.Message // rule-error, async-invoke: the device message, as a rule hands it to ingest
	Batch   streamBatch    // stream-batch: the records it names
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
	_, isStreamBatch := probe["KinesisBatchInfo"]
	_, isAsync := probe["requestContext"]
	_, isRuleError := probe["base64OriginalPayload"]
	switch {
	case isStreamBatch: // before isAsync: it has a requestContext too
		b, reason, err := streamBatchOf([]byte(body))
		if err != nil {
			return queued{}, err
		}
		return queued{Shape: shapeStreamBatch, Batch: b, Reason: reason}, nil
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
		return queued{}, errors.New("neither a rule error record, an invocation record nor a stream batch record")
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

// queueRun is one command on the dead-letter queue.
type queueRun struct {
	queue   QueueAPI
	stream  StreamAPI // reads the records a stream batch names
	url     string
	limit   int
	records bool // list: each stream batch's records too
	all     bool
	ids     []string
	svc     func() redriver
	out     io.Writer
}

// queueCommand lists or redrives the dead-letter queue.
func queueCommand(ctx context.Context, cmd string, r queueRun) error {
	q, url := r.queue, r.url
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
		r.list(ctx, letters, bad)
		return nil
	case "redrive":
		want := map[string]bool{}
		for _, id := range r.ids {
			want[id] = true
		}
		if !r.all && len(want) == 0 {
			return errors.New("redrive: name message ids, or -all")
		}
		svc := r.svc()
		var failed []string
		done := 0
		for _, d := range letters {
			if !r.all && !want[d.ID] {
				continue
			}
			delete(want, d.ID)
			if err := r.redrive(ctx, svc, d); err != nil {
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
			if r.all || want[b.ID] {
				delete(want, b.ID)
				failed = append(failed, b.ID+": "+b.Reason)
			}
		}
		for id := range want {
			failed = append(failed, id+": no such message in the queue")
		}
		fmt.Fprintf(r.out, "redriven: %d\n", done)
		if len(failed) > 0 {
			return fmt.Errorf("%d not redriven (they stay in the queue):\n  %s", len(failed), strings.Join(failed, "\n  "))
		}
		return nil
	}
	return fmt.Errorf("unknown command %q: list or redrive", cmd)
}

// list prints up to limit messages, what each carries or names, and why
// it failed.
func (r queueRun) list(ctx context.Context, letters []queued, bad []undecodable) {
	const row = "%-36s %-12s %-48s %s\n"
	fmt.Fprintf(r.out, row, "MESSAGE ID", "SHAPE", "WHAT", "REASON")
	n := 0
	for _, d := range letters {
		if n == r.limit {
			return
		}
		n++
		if d.Shape != shapeStreamBatch {
			fmt.Fprintf(r.out, row, d.ID, d.Shape, d.Message.Topic+" from "+d.Message.ClientID, d.Reason)
			continue
		}
		fmt.Fprintf(r.out, row, d.ID, d.Shape, fmt.Sprintf("%s (%d in the batch)", d.Batch, d.Batch.Size), d.Reason)
		if !r.records {
			continue
		}
		recs, err := readRange(ctx, r.stream, d.Batch)
		if err != nil {
			fmt.Fprintf(r.out, "    records not read: %v\n", err)
		}
		for _, rec := range recs {
			if rec.Err != nil {
				fmt.Fprintf(r.out, "    record %s: not a rule message: %v\n", rec.Seq, rec.Err)
				continue
			}
			m := rec.Message
			fmt.Fprintf(r.out, "    record %s: %s from %s at %s\n", rec.Seq, m.Topic, m.ClientID, time.UnixMilli(m.ReceivedMs).UTC().Format(time.RFC3339Nano))
		}
	}
	for _, b := range bad {
		if n == r.limit {
			return
		}
		n++
		fmt.Fprintf(r.out, row, b.ID, "unknown", "-", b.Reason)
	}
}

// redrive ingests what a message carries, or for a stream batch every
// record of its range; an error leaves the message in the queue.
func (r queueRun) redrive(ctx context.Context, svc redriver, d queued) error {
	if d.Shape != shapeStreamBatch {
		return svc.Redrive(ctx, deadLetterOf(d.ID, d.Message))
	}
	recs, err := readRange(ctx, r.stream, d.Batch)
	if err != nil {
		return err
	}
	// Every record is tried, so that one still bad holds back only the
	// message: the others are stored, and stored once however often the
	// range is redriven.
	var notIngested []string
	for _, rec := range recs {
		err := rec.Err
		if err != nil {
			err = fmt.Errorf("not a rule message: %w", err)
		} else {
			err = svc.Redrive(ctx, deadLetterOf(d.ID+"/"+rec.Seq, rec.Message))
		}
		if err != nil {
			notIngested = append(notIngested, "record "+rec.Seq+": "+err.Error())
		}
	}
	if len(notIngested) > 0 {
		return fmt.Errorf("%s: %d of its %d records not ingested: %s", d.Batch, len(notIngested), len(recs), strings.Join(notIngested, "; "))
	}
	return nil
}

// deadLetterOf is a device message in the form ingest redrives.
func deadLetterOf(id string, m topics.Message) domain.DeadLetter {
	return domain.DeadLetter{ID: id, Topic: m.Topic, ClientID: m.ClientID, Payload: m.Payload, ReceivedMs: m.ReceivedMs}
}
