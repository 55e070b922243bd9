package ingestfunc

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// FuzzStreamRecords: whatever an invocation carries, reading it as a
// Kinesis event never panics; an event that events.KinesisEvent reads as
// one from aws:kinesis is read as a batch of the same records (sequence
// numbers and data alike); and each record of a batch either holds a rule
// message, exactly as its data decodes, or says why it holds none.
func FuzzStreamRecords(f *testing.F) {
	// The seed corpus is testdata/fuzz/FuzzStreamRecords.
	f.Fuzz(func(t *testing.T, raw []byte) {
		records, ok := streamRecords(raw)
		var ev events.KinesisEvent
		if json.Unmarshal(raw, &ev) == nil && ev.Records != nil && fromKinesis(ev) {
			if !ok || len(records) != len(ev.Records) {
				t.Fatalf("events.KinesisEvent reads %d records, streamRecords %d (batch: %t)", len(ev.Records), len(records), ok)
			}
			for i, r := range ev.Records {
				if records[i].seq != r.Kinesis.SequenceNumber || string(records[i].data) != string(r.Kinesis.Data) {
					t.Fatalf("record %d: %q %q, events.KinesisEvent reads %q %q", i, records[i].seq, records[i].data, r.Kinesis.SequenceNumber, r.Kinesis.Data)
				}
			}
		}
		if !ok {
			if records != nil {
				t.Fatalf("not a batch, yet records %v", records)
			}
			return
		}
		for i, r := range records {
			m, isMessage := message(r.data)
			switch {
			case r.reason == "" && (!isMessage || m != r.m):
				t.Fatalf("record %d holds %+v, but its data %q decodes to %+v (%t)", i, r.m, r.data, m, isMessage)
			case r.reason == notRuleMessage && isMessage:
				t.Fatalf("record %d: %q is a rule message, yet dead-lettered", i, r.data)
			case r.reason != "" && r.reason != notRuleMessage && r.reason != "record data is not base64":
				t.Fatalf("record %d: reason %q", i, r.reason)
			}
		}
	})
}

func fromKinesis(ev events.KinesisEvent) bool {
	for _, r := range ev.Records {
		if r.EventSource != "aws:kinesis" {
			return false
		}
	}
	return true
}
