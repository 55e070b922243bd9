package ingestfunc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/lambda/ingestfunc"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// The tests share one DynamoDB Local, a table each.
func TestMain(m *testing.M) { dynamotest.Main(m) }

// faulty is the real store with parts of it down: one device's lookup,
// and the dead letters.
type faulty struct {
	*store.Store
	deviceDown  string
	deadLetters bool
}

var errDown = errors.New("the table is down")

func (f *faulty) Device(ctx context.Context, id string) (domain.Device, error) {
	if id == f.deviceDown {
		return domain.Device{}, errDown
	}
	return f.Store.Device(ctx, id)
}

func (f *faulty) PutDeadLetter(ctx context.Context, d domain.DeadLetter) error {
	if f.deadLetters {
		return errDown
	}
	return f.Store.PutDeadLetter(ctx, d)
}

// rec is a record of a Kinesis event: its sequence number and its data,
// as the JSON the event carries (a base64 string, or anything else).
type rec struct {
	seq  string
	data json.RawMessage
}

func b64(b []byte) json.RawMessage {
	q, _ := json.Marshal(base64.StdEncoding.EncodeToString(b))
	return q
}

// kinesis is a Kinesis event of recs as Lambda delivers it.
func kinesis(recs ...rec) json.RawMessage {
	records := []map[string]any{}
	for _, r := range recs {
		records = append(records, map[string]any{
			"kinesis": map[string]any{
				"kinesisSchemaVersion": "1.0", "partitionKey": "k", "sequenceNumber": r.seq,
				"data": r.data, "approximateArrivalTimestamp": 1795000000.5,
			},
			"eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": "shardId-000000000000:" + r.seq,
			"eventName": "aws:kinesis:record", "awsRegion": "eu-west-1",
			"eventSourceARN": "arn:aws:kinesis:eu-west-1:000000000000:stream/plainview-telemetry",
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": records})
	return b
}

func TestTheEntryPointTakesStreamBatchesAndDirectMessages(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	at := now.Add(-time.Minute).Unix()
	msg := func(topic, client, payload string) topics.Message {
		return topics.NewMessage(topic, client, []byte(payload), now.UnixMilli())
	}
	valve := func(client string) []byte {
		return msg("plainview/devices/"+client+"/telemetry", client, fmt.Sprintf(`{"ts":%d,"temperature_c":41}`, at)).JSON()
	}
	gauge := msg("pipeline/pressure/C-South", "C-South", fmt.Sprintf(`{"ts":%d,"kpa":2450}`, at)).JSON()
	notJSON := msg("plainview/devices/v-101/telemetry", "v-101", "not json").JSON()
	sqsEvent := json.RawMessage(`{"Records":[{"messageId":"1","eventSource":"aws:sqs","body":` + string(mustQuote(gauge)) + `}]}`)

	for _, c := range []struct {
		name  string
		event json.RawMessage
		fault faulty
		// want: the answer's batchItemFailures (nil: no batch answer),
		// whether it is an error, the readings stored per device, and
		// the dead letters' reasons.
		failures []string
		err      bool
		stored   map[string]int
		dead     []string
		// deadWhole: the one dead letter's payload is the whole event.
		deadWhole bool
	}{
		{
			name: "a batch: readings stored, records that hold nothing to store dead-lettered, none failed",
			event: kinesis(rec{"1", b64(valve("v-101"))}, rec{"2", b64(gauge)}, rec{"3", b64(notJSON)},
				rec{"4", b64([]byte("not a rule message"))}, rec{"5", json.RawMessage(`"%%% not base64"`)}),
			failures: []string{},
			stored:   map[string]int{"v-101": 1, "C-South": 1},
			dead:     []string{"not a topic rule message", "payload is not a JSON object", "record data is not base64"},
		},
		{
			name:     "a device that cannot be looked up: its record alone failed, by its sequence number",
			event:    kinesis(rec{"10", b64(valve("v-101"))}, rec{"11", b64(valve("v-102"))}, rec{"12", b64(gauge)}),
			fault:    faulty{deviceDown: "v-102"},
			failures: []string{"11"},
			stored:   map[string]int{"v-101": 1, "C-South": 1},
		},
		{
			name: "dead letters that cannot be written are failures too, all in the records' order",
			event: kinesis(rec{"20", b64(valve("v-102"))}, rec{"21", b64([]byte("stray"))}, rec{"22", b64(valve("v-101"))},
				rec{"23", b64(notJSON)}),
			fault:    faulty{deviceDown: "v-102", deadLetters: true},
			failures: []string{"20", "21", "23"},
			stored:   map[string]int{"v-101": 1},
		},
		{
			name:     "an empty batch",
			event:    kinesis(),
			failures: []string{},
		},
		{
			name:      "an SQS batch is no source of ingest any more: kept whole as a dead letter",
			event:     sqsEvent,
			dead:      []string{"not a topic rule message"},
			deadWhole: true,
		},
		{
			name:   "a direct message",
			event:  gauge,
			stored: map[string]int{"C-South": 1},
		},
		{
			name:  "a direct message whose store fails is an error: the invoke is retried",
			event: valve("v-102"),
			fault: faulty{deviceDown: "v-102"},
			err:   true,
		},
		{
			name:      "a direct event that is no rule message is kept whole as a dead letter",
			event:     json.RawMessage(`{"surprise":true}`),
			dead:      []string{"not a topic rule message"},
			deadWhole: true,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := dynamotest.Store(t)
			ctx := context.Background()
			if err := st.Seed(ctx); err != nil {
				t.Fatal(err)
			}
			f := c.fault
			f.Store = st
			n := notify.NewLog(slog.New(slog.DiscardHandler))
			h := ingestfunc.Ingest(ingest.New(&f, leaks.New(st, n, nil, nil), n, nil, nil, nil))

			resp, err := h(ctx, c.event)
			if (err != nil) != c.err {
				t.Errorf("error = %v, want an error: %t", err, c.err)
			}
			switch {
			case c.failures == nil && resp != nil:
				t.Errorf("answer %+v, want none (not a batch)", resp)
			case c.failures != nil && (resp == nil || resp.BatchItemFailures == nil):
				// An absent list is also "all done" to Lambda, but say it.
				t.Errorf("answer %+v, want batchItemFailures %q", resp, c.failures)
			case c.failures != nil:
				var got []string
				for _, f := range resp.BatchItemFailures {
					got = append(got, f.ItemIdentifier)
				}
				if !slices.Equal(got, c.failures) {
					t.Errorf("batchItemFailures %q, want %q", got, c.failures)
				}
			}
			stored := map[string]int{}
			for _, d := range domain.SeedDevices() {
				rs, _, err := st.Readings(ctx, d.ID, now.Add(-time.Hour), now, domain.Page{Limit: 50})
				if err != nil {
					t.Fatal(err)
				}
				if len(rs) > 0 {
					stored[d.ID] = len(rs)
				}
			}
			if !maps.Equal(stored, c.stored) {
				t.Errorf("readings stored %v, want %v", stored, c.stored)
			}
			dl, _, err := st.DeadLetters(ctx, domain.Page{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, d := range dl {
				reasons = append(reasons, d.Reason)
			}
			slices.Sort(reasons)
			if !slices.Equal(reasons, c.dead) {
				t.Errorf("dead letters %q, want %q", reasons, c.dead)
			}
			if c.deadWhole && (len(dl) != 1 || dl[0].Payload != base64.StdEncoding.EncodeToString(c.event)) {
				t.Errorf("dead letters %+v, want the whole event as the payload", dl)
			}
		})
	}
}

func mustQuote(b []byte) []byte {
	q, _ := json.Marshal(string(b))
	return q
}
