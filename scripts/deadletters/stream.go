package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/plainview/serverless/shared/contract/topics"
)

// streamBatchRecord is what the telemetry stream's event source mapping
// sends its on-failure destination when it discards a batch (retries
// exhausted, or records older than the mapping's maximum age), as AWS
// documents it in "Retain discarded batch records for a Kinesis Data
// Streams event source in Lambda"
// (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html).
// It names the batch's records; they themselves stay in the stream, and
// only until its retention ends.
type streamBatchRecord struct {
	RequestContext *struct {
		RequestID              string `json:"requestId"`
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"` // RetryAttemptsExhausted, RecordAgeExceeded
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError"` // null when the function itself did not fail
	} `json:"responseContext"`
	Version          string `json:"version"`
	Timestamp        string `json:"timestamp"`
	KinesisBatchInfo *struct {
		ShardID                         string `json:"shardId"`
		StartSequenceNumber             string `json:"startSequenceNumber"`
		EndSequenceNumber               string `json:"endSequenceNumber"`
		ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
		ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
		BatchSize                       int    `json:"batchSize"`
		StreamArn                       string `json:"streamArn"`
	} `json:"KinesisBatchInfo"`
}

// streamBatch is a discarded batch, checked: the range of one shard's
// records it began and ended with.
type streamBatch struct {
	StreamARN string
	Stream    string // the name in StreamARN
	Region    string // StreamARN's: the stream is read there
	Shard     string
	Start     string // sequence numbers of the batch's first and last records
	End       string
	Size      int // records in the batch
}

// String names the range in messages and listings.
func (b streamBatch) String() string {
	return fmt.Sprintf("stream %s %s records %s..%s", b.Stream, b.Shard, b.Start, b.End)
}

// Kinesis's own patterns (API reference): a sequence number is a decimal
// of up to 129 digits without leading zeros, so one is before another
// when it is shorter, or as long and smaller as a string.
var (
	sequencePattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,128})$`)
	shardPattern    = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
	streamPattern   = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
)

func sequenceBefore(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// maxBatchSize is the largest batch a Kinesis event source mapping takes.
const maxBatchSize = 10_000

// streamBatchOf checks a discarded batch's record and says why it was
// discarded: the mapping's condition and the function's error.
func streamBatchOf(body []byte) (streamBatch, string, error) {
	var r streamBatchRecord
	if err := json.Unmarshal(body, &r); err != nil {
		return streamBatch{}, "", fmt.Errorf("a stream batch record that does not parse: %w", err)
	}
	info := r.KinesisBatchInfo
	if info == nil || r.RequestContext == nil {
		return streamBatch{}, "", errors.New("a stream batch record without KinesisBatchInfo or requestContext")
	}
	a, err := arn.Parse(info.StreamArn)
	name, isStream := strings.CutPrefix(a.Resource, "stream/")
	if err != nil || a.Service != "kinesis" || a.Region == "" || !isStream || !streamPattern.MatchString(name) {
		return streamBatch{}, "", fmt.Errorf("stream batch record: streamArn %q is no Kinesis stream's ARN", info.StreamArn)
	}
	b := streamBatch{StreamARN: info.StreamArn, Stream: name, Region: a.Region, Shard: info.ShardID,
		Start: info.StartSequenceNumber, End: info.EndSequenceNumber, Size: info.BatchSize}
	switch {
	case !shardPattern.MatchString(b.Shard):
		return streamBatch{}, "", fmt.Errorf("stream batch record: shardId %q is no shard id", b.Shard)
	case !sequencePattern.MatchString(b.Start) || !sequencePattern.MatchString(b.End):
		return streamBatch{}, "", fmt.Errorf("stream batch record: sequence numbers %q..%q: want decimal numbers", b.Start, b.End)
	case sequenceBefore(b.End, b.Start):
		return streamBatch{}, "", fmt.Errorf("stream batch record: endSequenceNumber %s is before startSequenceNumber %s", b.End, b.Start)
	case b.Size < 1 || b.Size > maxBatchSize:
		return streamBatch{}, "", fmt.Errorf("stream batch record: batchSize %d: want 1..%d", b.Size, maxBatchSize)
	}
	reason := fmt.Sprintf("%s after %d invokes", r.RequestContext.Condition, r.RequestContext.ApproximateInvokeCount)
	if r.ResponseContext.FunctionError != "" {
		reason += ": function error " + r.ResponseContext.FunctionError
	}
	return b, reason, nil
}

// StreamAPI is what the command uses of Kinesis (*kinesis.Client).
type StreamAPI interface {
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// streamRecord is one record of a batch's range as the stream holds it.
type streamRecord struct {
	Seq     string
	Message topics.Message
	Err     error // why its data is no rule message
}

// Reading a range: records a GetRecords call asks for, and reads before
// giving up on reaching the range's end. A range holds the records of its
// batch and those the shard took between them for the keys the mapping
// handed to its other concurrent batches (ParallelizationFactor 10, so
// about ten times the batch: 10,000 records for a batch of 1,000); a read
// may return fewer than asked, or none while behind the shard's newest.
const (
	recordsPerRead = 1000
	maxReads       = 100
)

// readRange reads the records of a discarded batch from its shard: from
// its first sequence number (AT_SEQUENCE_NUMBER) to its last, or to the
// end of what the shard holds. A record whose data is no rule message is
// returned with the reason, as ingest would dead-letter it. The range
// holds every record the shard took between the batch's first and last,
// also those of keys the mapping handed to other batches (already stored:
// a second ingest of them changes nothing).
//
// It is an error naming the range when the stream holds none or only part
// of it: the stream or shard is gone, or retention has trimmed the first
// record (the first one returned is a later one).
func readRange(ctx context.Context, k StreamAPI, b streamBatch) ([]streamRecord, error) {
	inRegion := func(o *kinesis.Options) { o.Region = b.Region }
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamARN: aws.String(b.StreamARN), ShardId: aws.String(b.Shard),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(b.Start),
	}, inRegion)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b, explainStreamError(err))
	}
	var out []streamRecord
	iter := it.ShardIterator
	for range maxReads {
		if iter == nil { // a closed shard, read to its end
			return nil, partly(b, out)
		}
		r, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{
			// The ARN too: the iterator alone does not name the stream to
			// every server (moto's).
			StreamARN: aws.String(b.StreamARN), ShardIterator: iter, Limit: aws.Int32(recordsPerRead),
		}, inRegion)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, explainStreamError(err))
		}
		for _, rec := range r.Records {
			seq := aws.ToString(rec.SequenceNumber)
			if len(out) == 0 && seq != b.Start {
				return nil, fmt.Errorf("%s: the stream no longer holds the range's first record (the first it returns is %s): past the stream's retention, the range cannot be redriven", b, seq)
			}
			if sequenceBefore(b.End, seq) {
				return out, nil
			}
			m, err := ruleMessage(rec.Data)
			out = append(out, streamRecord{Seq: seq, Message: m, Err: err})
			if seq == b.End {
				return out, nil
			}
		}
		if len(r.Records) == 0 && aws.ToInt64(r.MillisBehindLatest) == 0 {
			return nil, partly(b, out) // at the shard's newest record
		}
		iter = r.NextShardIterator
	}
	return nil, fmt.Errorf("%s: %d reads of %d records did not reach the range's end", b, maxReads, recordsPerRead)
}

// partly is the error of a shard that ends before the range does.
func partly(b streamBatch, read []streamRecord) error {
	if len(read) == 0 {
		return fmt.Errorf("%s: the stream holds none of the range's records", b)
	}
	return fmt.Errorf("%s: the stream holds the range only up to %s", b, read[len(read)-1].Seq)
}

// explainStreamError says what Kinesis's errors mean for a range.
func explainStreamError(err error) error {
	var notFound *types.ResourceNotFoundException
	var expired *types.ExpiredIteratorException
	switch {
	case errors.As(err, &notFound):
		return fmt.Errorf("no such stream or shard (deleted, or a closed shard past the stream's retention): %w", err)
	case errors.As(err, &expired):
		return fmt.Errorf("the shard iterator expired; redrive again: %w", err)
	}
	return err
}
