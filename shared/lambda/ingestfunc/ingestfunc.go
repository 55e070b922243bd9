// Package ingestfunc is the ingest function's Lambda side: the entry point
// that takes both of its event sources, built over the ingestion service.
package ingestfunc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/ingest"
)

// Handler is the ingest function's entry point.
type Handler = func(ctx context.Context, raw json.RawMessage) (*events.KinesisEventResponse, error)

// notRuleMessage is the dead letters' reason for what no topic rule sends.
const notRuleMessage = "not a topic rule message"

// Ingest is the ingest function's entry point over s. It takes both of its
// sources: a message a topic rule delivers directly (an asynchronous
// invoke), answered nil, and a batch of the telemetry stream (a Kinesis
// event), answered with the records not stored (partial batch failures:
// Lambda delivers again from the lowest of them).
func Ingest(s *ingest.Service) Handler {
	return func(ctx context.Context, raw json.RawMessage) (*events.KinesisEventResponse, error) {
		if records, ok := streamRecords(raw); ok {
			return stream(ctx, s, records), nil
		}
		m, ok := message(raw)
		if !ok {
			// Not what a rule sends: keep it, whole, for a person to see.
			return nil, s.DeadLetter(ctx, rawMessage(raw), notRuleMessage)
		}
		return nil, s.Handle(ctx, m)
	}
}

// stream ingests a batch of the telemetry stream. A record that holds no
// rule message is a dead letter, not a failure: delivered again it would
// be no better, and it would hold up its shard.
func stream(ctx context.Context, s *ingest.Service, records []record) *events.KinesisEventResponse {
	failed := make([]bool, len(records))
	var batch []topics.Message
	var from []int // the record of each message of batch
	for i, r := range records {
		if r.reason != "" {
			failed[i] = s.DeadLetter(ctx, rawMessage(r.data), r.reason) != nil
			continue
		}
		batch, from = append(batch, r.m), append(from, i)
	}
	for _, i := range s.HandleBatch(ctx, batch) {
		failed[from[i]] = true
	}
	// In the records' order; Lambda goes back to the lowest.
	resp := &events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: records[i].seq})
		}
	}
	return resp
}

// record is one record of a Kinesis event: its sequence number, and the
// rule's message its data holds, or the reason it holds none.
type record struct {
	seq    string
	data   []byte // as decoded from base64, or the data's JSON when it is not base64
	m      topics.Message
	reason string
}

// streamRecords reads a Kinesis event (events.KinesisEvent): an object
// whose Records all come from "aws:kinesis". Each record's data is decoded
// on its own, so that one record that is not base64 is that record's dead
// letter and not the batch's (events.KinesisEvent would refuse the whole
// event). Anything else is not a stream batch.
func streamRecords(raw []byte) ([]record, bool) {
	var ev struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil || ev.Records == nil {
		return nil, false
	}
	records := make([]record, len(ev.Records))
	for i, rr := range ev.Records {
		var r struct {
			EventSource string `json:"eventSource"`
			Kinesis     struct {
				SequenceNumber string          `json:"sequenceNumber"`
				Data           json.RawMessage `json:"data"`
			} `json:"kinesis"`
		}
		if err := json.Unmarshal(rr, &r); err != nil || r.EventSource != "aws:kinesis" {
			return nil, false
		}
		records[i].seq = r.Kinesis.SequenceNumber
		// Decoded as events.KinesisRecord decodes it.
		if err := json.Unmarshal(r.Kinesis.Data, &records[i].data); err != nil && len(r.Kinesis.Data) > 0 {
			records[i].data, records[i].reason = r.Kinesis.Data, "record data is not base64"
			continue
		}
		m, ok := message(records[i].data)
		if !ok {
			records[i].reason = notRuleMessage
			continue
		}
		records[i].m = m
	}
	return records, true
}

// message decodes a rule's message strictly.
func message(b []byte) (topics.Message, bool) {
	var m topics.Message
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || m.Topic == "" {
		return topics.Message{}, false
	}
	return m, true
}

// rawMessage is a message of bytes that are no rule message: its payload
// is all there is.
func rawMessage(b []byte) topics.Message {
	return topics.Message{Payload: base64.StdEncoding.EncodeToString(b)}
}
