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
type Handler = func(ctx context.Context, raw json.RawMessage) (*events.SQSEventResponse, error)

// Ingest is the ingest function's entry point over s. It takes both of its
// sources: a message a topic rule delivers directly (an asynchronous
// invoke), and a batch from the telemetry queue (an SQS event), for which
// it reports the messages to deliver again (partial batch failures).
func Ingest(s *ingest.Service) Handler {
	return func(ctx context.Context, raw json.RawMessage) (*events.SQSEventResponse, error) {
		var probe struct {
			Records []events.SQSMessage `json:"Records"`
		}
		if err := json.Unmarshal(raw, &probe); err == nil && probe.Records != nil {
			return sqs(ctx, s, probe.Records), nil
		}
		m, ok := message([]byte(raw))
		if !ok {
			// Not what a rule sends: keep it, whole, for a person to see.
			return nil, s.DeadLetter(ctx, topics.Message{Payload: base64.StdEncoding.EncodeToString(raw)}, "not a topic rule message")
		}
		return nil, s.Handle(ctx, m)
	}
}

func sqs(ctx context.Context, s *ingest.Service, records []events.SQSMessage) *events.SQSEventResponse {
	resp := &events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	var batch []topics.Message
	var ids []string
	for _, r := range records {
		m, ok := message([]byte(r.Body))
		if !ok {
			if err := s.DeadLetter(ctx, topics.Message{Payload: base64.StdEncoding.EncodeToString([]byte(r.Body))}, "not a topic rule message"); err != nil {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
			continue
		}
		batch, ids = append(batch, m), append(ids, r.MessageId)
	}
	for _, i := range s.HandleBatch(ctx, batch) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ids[i]})
	}
	return resp
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
