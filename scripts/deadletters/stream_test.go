package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
	"github.com/plainview/serverless/shared/testkit/motoserver"
)

// AWS's example of the record (testdata/README.md), with our values: it
// names the range, why the batch was discarded, and carries no record.
func TestClassifyReadsAStreamBatchRecord(t *testing.T) {
	d, err := classify(sample(t, "kinesis-batch.json"), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := streamBatch{
		StreamARN: "arn:aws:kinesis:eu-west-1:000000000000:stream/plainview-development-telemetry",
		Stream:    "plainview-development-telemetry", Region: "eu-west-1", Shard: "shardId-000000000000",
		Start: "49601189658422359378836298521827638475320189012309704722",
		End:   "49601189658422359378836298522902373528957594348623495186",
		Size:  5,
	}
	if d.Shape != shapeStreamBatch || d.Batch != want || d.Reason != "RetryAttemptsExhausted after 4 invokes: function error Unhandled" {
		t.Errorf("got %+v\nwant batch %+v", d, want)
	}
	// A batch too old for the mapping never reached the function: no
	// function error (null), only the condition.
	d, err = classify(withBatch(t, func(r, _ map[string]any) {
		r["requestContext"].(map[string]any)["condition"] = "RecordAgeExceeded"
		r["requestContext"].(map[string]any)["approximateInvokeCount"] = 0
		r["responseContext"].(map[string]any)["functionError"] = nil
	}), 1)
	if err != nil || d.Reason != "RecordAgeExceeded after 0 invokes" {
		t.Errorf("record age exceeded: %+v, %v", d, err)
	}
}

func TestClassifyRefusesAStreamBatchRecordThatNamesNoRange(t *testing.T) {
	for name, change := range map[string]func(r, info map[string]any){
		"no batch info":              func(r, _ map[string]any) { r["KinesisBatchInfo"] = nil },
		"no request context":         func(r, _ map[string]any) { delete(r, "requestContext") },
		"a DynamoDB stream's ARN":    func(_, i map[string]any) { i["streamArn"] = "arn:aws:dynamodb:eu-west-1:1:table/t/stream/2026" },
		"an ARN without a region":    func(_, i map[string]any) { i["streamArn"] = "arn:aws:kinesis::1:stream/s" },
		"no ARN":                     func(_, i map[string]any) { i["streamArn"] = "plainview-development-telemetry" },
		"a stream name with a slash": func(_, i map[string]any) { i["streamArn"] = "arn:aws:kinesis:eu-west-1:1:stream/a/b" },
		"no shard":                   func(_, i map[string]any) { i["shardId"] = "" },
		"a shard with a space":       func(_, i map[string]any) { i["shardId"] = "shardId 1" },
		"a sequence number in hex":   func(_, i map[string]any) { i["startSequenceNumber"] = "0x10" },
		"a leading zero":             func(_, i map[string]any) { i["endSequenceNumber"] = "0100" },
		"a number, not a string":     func(_, i map[string]any) { i["startSequenceNumber"] = 5 },
		"an end before the start":    func(_, i map[string]any) { i["startSequenceNumber"], i["endSequenceNumber"] = "100", "99" },
		"an empty batch":             func(_, i map[string]any) { i["batchSize"] = 0 },
		"a batch too large":          func(_, i map[string]any) { i["batchSize"] = maxBatchSize + 1 },
	} {
		if d, err := classify(withBatch(t, change), 1); err == nil {
			t.Errorf("%s: classified as %+v", name, d)
		}
	}
}

// withBatch is the sample stream batch record with changes to it and its
// KinesisBatchInfo.
func withBatch(t testing.TB, change func(record, info map[string]any)) string {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal([]byte(sample(t, "kinesis-batch.json")), &r); err != nil {
		t.Fatal(err)
	}
	change(r, r["KinesisBatchInfo"].(map[string]any))
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// batchOf is a stream batch record naming start..end of a stream's shard.
func batchOf(t testing.TB, streamARN, start, end string, size int) string {
	return withBatch(t, func(_, i map[string]any) {
		i["streamArn"], i["shardId"], i["startSequenceNumber"], i["endSequenceNumber"], i["batchSize"] =
			streamARN, "shardId-000000000000", start, end, size
	})
}

// telemetryStream is moto's Kinesis with the telemetry stream of one
// shard, and a way to put records in it as the IoT rule does.
type telemetryStream struct {
	client *kinesis.Client
	arn    string
}

func newTelemetryStream(t *testing.T, cfg aws.Config) telemetryStream {
	t.Helper()
	k := kinesis.NewFromConfig(cfg)
	name := "plainview-development-telemetry"
	if _, err := k.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	return telemetryStream{client: k, arn: "arn:aws:kinesis:" + motoserver.Region + ":" + motoserver.Account + ":stream/" + name}
}

// put puts a record as the rule's Kinesis action does (data: the rule's
// message; partition key: the client id), and returns its sequence number.
func (s telemetryStream) put(t *testing.T, clientID string, data []byte) string {
	t.Helper()
	out, err := s.client.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamARN: aws.String(s.arn), PartitionKey: aws.String(clientID), Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ShardId) != "shardId-000000000000" {
		t.Fatalf("put on %s", aws.ToString(out.ShardId))
	}
	return aws.ToString(out.SequenceNumber)
}

// telemetry is a valve's telemetry message, as the rule makes it.
func telemetry(valve string, ts int64, flow int) []byte {
	payload := fmt.Sprintf(`{"ts":%d,"temperature_c":44.2,"pressure_pa":2150000,"flow_rate_lpm":%d,"torque_nm":12}`, ts, flow)
	return topics.NewMessage(topics.TelemetryOf(valve), valve, []byte(payload), ts*1000+250).JSON()
}

// Over the wire, against moto's SQS and Kinesis and DynamoDB Local: the
// dead-letter queue's stream batch records are listed with their range,
// and redriven from the stream into the table; a range the stream no
// longer holds, or holds a bad record of, stays with its reason.
func TestStreamBatchesAreListedAndRedrivenFromTheStream(t *testing.T) {
	ctx := t.Context()
	st := dynamotest.Store(t)
	if err := st.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	moto := motoserver.Start(t)
	q := sqs.NewFromConfig(moto.Config())
	url := createQueue(t, q)
	stream := newTelemetryStream(t, moto.Config())

	const ts = 1_795_000_000
	seq := []string{
		stream.put(t, "v-101", telemetry("v-101", ts, 1010)),
		stream.put(t, "v-102", telemetry("v-102", ts, 2020)),
		stream.put(t, "v-101", telemetry("v-101", ts+1, 1011)),
		stream.put(t, "v-104", telemetry("v-104", ts, 4040)), // no device of the inventory
		stream.put(t, "v-103", []byte(`{"payload":"e30=","topic":"plainview/devices/v-103/telemetry"`)),
		stream.put(t, "v-103", telemetry("v-103", ts, 3030)),
	}
	for i := 1; i < len(seq); i++ {
		if !sequenceBefore(seq[i-1], seq[i]) {
			t.Fatalf("moto's sequence numbers are not in order: %v", seq)
		}
	}
	// moto keeps every record (no retention trimming), so a range past
	// retention is one that starts before the shard's first record: what a
	// trimmed shard returns is its oldest record, a later one than asked.
	before, err := sequenceMinusOne(seq[0])
	if err != nil {
		t.Fatal(err)
	}
	good := send(t, q, url, batchOf(t, stream.arn, seq[0], seq[2], 3))
	bad := send(t, q, url, batchOf(t, stream.arn, seq[3], seq[4], 2))
	trimmed := send(t, q, url, batchOf(t, stream.arn, before, seq[1], 2))
	unfinished := send(t, q, url, batchOf(t, stream.arn, seq[5], seq[5]+"0", 2))
	deleted := send(t, q, url, batchOf(t, strings.Replace(stream.arn, "telemetry", "telemetry-old", 1), seq[0], seq[0], 1))
	run := runner(t, st, clients{queue: q, stream: stream.client})

	list, err := run("list", "-queue", url)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		good + " stream-batch stream plainview-development-telemetry shardId-000000000000 records " + seq[0] + ".." + seq[2] +
			" (3 in the batch) RetryAttemptsExhausted after 4 invokes: function error Unhandled",
		bad + " stream-batch stream plainview-development-telemetry shardId-000000000000 records " + seq[3] + ".." + seq[4],
		deleted + " stream-batch stream plainview-development-telemetry-old ",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("list has no %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, "    record ") {
		t.Errorf("list without -records shows records:\n%s", list)
	}
	list, err = run("list", "-queue", url, "-records")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"    record " + seq[0] + ": plainview/devices/v-101/telemetry from v-101 at 2026-11-18T11:06:40.25Z\n" +
			"    record " + seq[1] + ": plainview/devices/v-102/telemetry from v-102 at 2026-11-18T11:06:40.25Z\n" +
			"    record " + seq[2] + ": plainview/devices/v-101/telemetry from v-101 at 2026-11-18T11:06:41.25Z\n",
		"    record " + seq[4] + ": not a rule message: unexpected EOF\n",
		"    records not read: stream plainview-development-telemetry-old shardId-000000000000 records " + seq[0] + ".." + seq[0] + ": no such stream or shard",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("list -records has no %q:\n%s", want, list)
		}
	}
	if got := waiting(t, q, url); got != "5 visible, 0 hidden" {
		t.Errorf("after list the queue has %s, want all 5 visible again", got)
	}

	out, err := run("redrive", "-queue", url, "-all")
	if !strings.Contains(out, "redriven: 1\n") || err == nil {
		t.Fatalf("redrive: %q, %v; want 1 redriven and four that stay", out, err)
	}
	for _, want := range []string{
		bad + ": stream plainview-development-telemetry shardId-000000000000 records " + seq[3] + ".." + seq[4] + ": 2 of its 2 records not ingested: " +
			"record " + seq[3] + `: still bad: client "v-104" is not a device of the inventory`,
		"; record " + seq[4] + ": not a rule message: unexpected EOF",
		trimmed + ": stream plainview-development-telemetry shardId-000000000000 records " + before + ".." + seq[1] +
			": the stream no longer holds the range's first record (the first it returns is " + seq[0] + "): past the stream's retention",
		unfinished + ": stream plainview-development-telemetry shardId-000000000000 records " + seq[5] + ".." + seq[5] + "0: the stream holds the range only up to " + seq[5],
		deleted + ": stream plainview-development-telemetry-old shardId-000000000000 records " + seq[0] + ".." + seq[0] + ": no such stream or shard",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("redrive's error has no %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), good) {
		t.Errorf("redrive's error names the good batch: %v", err)
	}
	if got := waiting(t, q, url); got != "4 visible, 0 hidden" {
		t.Errorf("after redrive the queue has %s, want the four that stay, visible", got)
	}
	// The good range's readings, each once; none from past its end.
	for valve, want := range map[string]string{"v-101": "[1010 1011]", "v-102": "[2020]", "v-103": "[]"} {
		r, _, err := st.Readings(ctx, valve, time.Unix(ts-1000, 0), time.Unix(ts+1000, 0), domain.Page{Limit: 10})
		got := []float64{}
		for _, x := range r {
			got = append(got, x.Values["flow_rate_lpm"])
		}
		slices.Sort(got)
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("flow rates of %s = %v, %v; want %s", valve, got, err, want)
		}
	}
}

// sequenceMinusOne is the sequence number before s (moto's are small).
func sequenceMinusOne(s string) (string, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return "", fmt.Errorf("sequence number %q: want moto's, from 1 up: %v", s, err)
	}
	return strconv.FormatInt(n-1, 10), nil
}

// The Kinesis client follows the SDK's standard endpoint settings, the
// service's own (AWS_ENDPOINT_URL_KINESIS) before the general one.
func TestTheStreamClientTakesTheStandardEndpointSettings(t *testing.T) {
	moto := motoserver.Start(t)
	moto.Setenv(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // nothing listens on the discard port
	t.Setenv("AWS_ENDPOINT_URL_KINESIS", moto.URL)
	c, err := awsClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.stream.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String("nowhere"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: kinesistypes.ShardIteratorTypeTrimHorizon,
	})
	var notFound *kinesistypes.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("GetShardIterator through AWS_ENDPOINT_URL_KINESIS: %v; want moto's ResourceNotFoundException", err)
	}
}

// fakeShard answers GetShardIterator and GetRecords as Kinesis does in
// what moto does not show: sequence numbers with gaps between them, reads
// that return fewer records than asked, and empty reads while the reader
// is still behind the shard's newest record.
type fakeShard struct {
	seqs    []string // in order
	perRead int      // records a read returns at most
	empty   bool     // the next read returns nothing
}

func (f *fakeShard) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	i := 0
	for i < len(f.seqs) && sequenceBefore(f.seqs[i], aws.ToString(in.StartingSequenceNumber)) {
		i++
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(strconv.Itoa(i))}, nil
}

func (f *fakeShard) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	i, _ := strconv.Atoi(aws.ToString(in.ShardIterator))
	f.empty = !f.empty // every other read is empty
	n := 0
	if !f.empty {
		n = min(f.perRead, len(f.seqs)-i)
	}
	out := &kinesis.GetRecordsOutput{NextShardIterator: aws.String(strconv.Itoa(i + n))}
	for _, s := range f.seqs[i : i+n] {
		out.Records = append(out.Records, kinesistypes.Record{SequenceNumber: aws.String(s), Data: telemetry("v-101", 1_795_000_000, 1)})
	}
	if i+n < len(f.seqs) {
		out.MillisBehindLatest = aws.Int64(1000)
	} else {
		out.MillisBehindLatest = aws.Int64(0)
	}
	return out, nil
}

func TestARangeIsReadToItsEndThroughShortAndEmptyReads(t *testing.T) {
	seqs := []string{"100", "205", "310", "415", "520", "625"}
	for _, tc := range []struct {
		start, end, want string
	}{
		{"205", "520", "[205 310 415 520]"},
		{"205", "500", "[205 310 415]"}, // an end between two records: nothing after it
		{"625", "625", "[625]"},
		{"150", "310", "error: the stream no longer holds the range's first record (the first it returns is 205)"},
		{"520", "700", "error: the stream holds the range only up to 625"},
		{"700", "800", "error: the stream holds none of the range's records"},
	} {
		recs, err := readRange(t.Context(), &fakeShard{seqs: seqs, perRead: 2}, streamBatch{Stream: "s", Shard: "shardId-000000000000", Start: tc.start, End: tc.end, Size: 1})
		var read []string
		for _, r := range recs {
			if r.Err != nil {
				t.Errorf("record %s: %v", r.Seq, r.Err)
			}
			read = append(read, r.Seq)
		}
		got := fmt.Sprint(read)
		if err != nil {
			got = "error: " + strings.TrimPrefix(err.Error(), "stream s shardId-000000000000 records "+tc.start+".."+tc.end+": ")
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s..%s: got %s, want %s", tc.start, tc.end, got, tc.want)
		}
	}
}
