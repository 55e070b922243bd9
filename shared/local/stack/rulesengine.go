package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/contract/topics"
)

// IngestHandler is the ingest function's entry point (ingestfunc.Handler).
type IngestHandler func(ctx context.Context, raw json.RawMessage) (*events.KinesisEventResponse, error)

// rulesEngine applies the topic rules to what the broker accepts, as IoT
// Core's rules engine does: statuses and leaks invoke the ingest function
// directly (asynchronously, retried twice, then dead-lettered, as Lambda's
// asynchronous invocation does); telemetry goes into the telemetry stream,
// which the function reads in batches through its event source mapping,
// played here too.
//
// The stream has one shard here (on AWS, as many as the settings say, and
// the mapping splits each by partition key): one ordered line of records,
// read one batch at a time. That is the simplest thing that keeps what the
// stream promises: a device's records (the partition key is its client
// id) reach the function in the order they arrived, and are never
// reordered, also when delivered again. A batch is a Kinesis event whose
// records carry increasing decimal sequence numbers, given once, when the
// shard takes the record. A reported failure is answered as Lambda
// answers it: the records before the lowest failed sequence number are
// done; the batch's rest is delivered again, alone, after a short backoff,
// up to the retries (three), and then each record of it that the last
// delivery did not store is a dead letter in the table (on AWS, the
// dead-letter queue gets one record naming the batch's range). While a batch's rest waits, nothing behind it is delivered, as
// a shard waits on its batch. An error of the whole invocation is a
// failure of the whole batch.
//
// The broker acknowledges a publish only once the engine has made it
// durable: stored by the ingest function, or kept as a dead letter (the
// hook waits on accept's answer). IoT Core acknowledges once a message is
// durable in its own pipeline; acknowledging when it sat in this process's
// memory lost 3,595 of 23,870 acknowledged readings to a SIGKILL (issue
// 12). A stack killed now loses only what it had not acknowledged, which
// the device still holds and sends again.
//
// The dead letters are kept in the table too (on AWS they are a queue of
// their own), so when the table is down a record may not even become a
// dead letter: it then stays first in the shard and is delivered again
// after the backoff, and is never dropped while the stack runs.
type rulesEngine struct {
	table  []topics.Rule
	invoke IngestHandler
	dead   func(ctx context.Context, m topics.Message, reason string) error
	log    *slog.Logger
	shard  chan record // the telemetry stream, in arrival order
	seq    uint64      // the last sequence number given (consume's alone)
	wg     sync.WaitGroup
	ctx    context.Context
	stop   context.CancelFunc
	engineSettings
}

// engineSettings are the event source mapping's and the asynchronous
// invocation's.
type engineSettings struct {
	batch         int           // most records in a batch
	streamRetries int           // retries of a batch's rest
	asyncRetries  int           // retries of a direct invocation
	backoff       time.Duration // the wait before a batch's rest comes again, and before a refused dead letter is tried again
}

// record is what a rule took in: a message, with, in the stream, its
// sequence number and arrival time.
type record struct {
	m       topics.Message
	seq     string
	arrived time.Time
	done    chan error // told once: nil when stored or a dead letter
}

// settle tells whoever waits on the record what became of it.
func (r record) settle(err error) {
	if r.done != nil {
		r.done <- err // buffered, and told once
	}
}

// errStopped is a message the engine stopped before storing.
var errStopped = errors.New("the rules engine stopped before the message was stored")

// The event source mapping's settings: the batch size and the retries the
// stack sets (infra/spec). The stack also waits up to
// spec.IngestBatchingWindow to fill a batch; here a batch is what is
// waiting when the last one is done (window 0), because the broker
// acknowledges a publish only once it is stored, so a publisher waits for
// its batch: a window would only add to that wait. Under load the batches
// fill all the same. The backoff is short so that a local outage recovers
// in seconds.
const (
	streamBatch   = spec.IngestBatchSize
	streamRetries = spec.IngestRetryAttempts
	asyncRetries  = 2
	backoff       = time.Second
)

// The shard's names in the events: the local stack's stream has one.
const (
	localShard     = "shardId-000000000000"
	localStreamARN = "arn:aws:kinesis:local:000000000000:stream/plainview-local-telemetry"
)

func newRulesEngine(invoke IngestHandler, dead func(context.Context, topics.Message, string) error, log *slog.Logger) *rulesEngine {
	e := buildRulesEngine(invoke, dead, log, engineSettings{
		batch: streamBatch, streamRetries: streamRetries, asyncRetries: asyncRetries, backoff: backoff,
	})
	e.run()
	return e
}

// buildRulesEngine is an engine that takes messages but reads no batch of
// the stream before run.
func buildRulesEngine(invoke IngestHandler, dead func(context.Context, topics.Message, string) error, log *slog.Logger, set engineSettings) *rulesEngine {
	ctx, stop := context.WithCancel(context.Background())
	return &rulesEngine{table: topics.Table(), invoke: invoke, dead: dead, log: log, shard: make(chan record, 1<<16),
		ctx: ctx, stop: stop, engineSettings: set}
}

// run starts reading the stream.
func (e *rulesEngine) run() {
	e.wg.Add(1)
	go e.consume()
}

// published is the broker's hook: it returns once the publish is stored
// or a dead letter, or with an error if that cannot be said (the engine
// is stopping): then the broker must not acknowledge it.
func (e *rulesEngine) published(clientID, topic string, payload []byte) error {
	done := e.accept(clientID, topic, payload)
	select {
	case err := <-done:
		return err
	case <-e.ctx.Done():
		// Stopping: what is in the stream is still delivered, but the publisher
		// is not kept waiting for it; unacknowledged, it sends it again
		// later and ingestion keeps one copy.
		select {
		case err := <-done:
			return err
		default:
			return errStopped
		}
	}
}

// accept takes one publish the broker admitted, and answers where its
// fate is told (once, buffered: nobody need read it). A topic no rule
// matches has nothing to store.
func (e *rulesEngine) accept(clientID, topic string, payload []byte) <-chan error {
	done := make(chan error, 1)
	rule, ok := topics.Match(e.table, Environment, topic)
	switch {
	case !ok:
		done <- nil
		return done
	case e.ctx.Err() != nil:
		done <- errStopped
		return done
	}
	now := time.Now()
	r := record{m: topics.NewMessage(topic, clientID, payload, now.UnixMilli()), arrived: now, done: done}
	if rule.Target == topics.Stream {
		select {
		case e.shard <- r:
		case <-e.ctx.Done():
			r.settle(errStopped)
		}
		return done
	}
	e.wg.Add(1)
	go e.direct(r)
	return done
}

func (e *rulesEngine) direct(r record) {
	defer e.wg.Done()
	m := r.m
	for {
		var err error
		for attempt := 0; attempt <= e.asyncRetries; attempt++ {
			if attempt > 0 && !e.sleep(time.Duration(attempt)*200*time.Millisecond) {
				break
			}
			if _, err = e.invoke(context.WithoutCancel(e.ctx), m.JSON()); err == nil {
				r.settle(nil)
				return
			}
			e.log.Warn("ingest invocation failed", "topic", m.Topic, "attempt", attempt+1, "error", err)
		}
		derr := e.deadLetter(m, fmt.Sprintf("ingest failed %d times: %v", e.asyncRetries+1, err))
		if derr == nil {
			r.settle(nil)
			return
		}
		if !e.sleep(e.backoff) {
			// Stopping, and the table still refuses: it was never
			// acknowledged, so the device still has it.
			e.log.Error("message not stored at shutdown, and not acknowledged", "topic", m.Topic,
				"client_id", m.ClientID, "error", derr)
			r.settle(errStopped)
			return
		}
	}
}

// sleep waits for d, or less if the engine stops; false if it stopped.
func (e *rulesEngine) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.ctx.Done():
		return false
	}
}

func (e *rulesEngine) deadLetter(m topics.Message, reason string) error {
	err := e.dead(context.WithoutCancel(e.ctx), m, reason)
	if err != nil {
		e.log.Warn("dead letter not written; the message is kept", "topic", m.Topic, "reason", reason, "error", err)
	}
	return err
}

// consume is the event source mapping: it reads the shard a batch at a
// time until the engine stops, then drains it. A batch's rest, which
// failed, comes again after the backoff, before anything behind it.
func (e *rulesEngine) consume() {
	defer e.wg.Done()
	var rest []record // what the last batch left, first in the shard
	tries := 0        // the failed deliveries of rest
	for {
		batch := rest
		if len(batch) == 0 {
			select {
			case r := <-e.shard:
				batch = e.fill([]record{e.take(r)})
			case <-e.ctx.Done():
				e.drain(nil, 0)
				return
			}
		} else if !e.sleep(e.backoff) {
			e.drain(rest, tries)
			return
		}
		rest, tries = e.deliver(batch, tries, false)
	}
}

// take gives a record the shard's next sequence number.
func (e *rulesEngine) take(r record) record {
	e.seq++
	r.seq = strconv.FormatUint(e.seq, 10)
	return r
}

// fill adds to batch what is waiting in the shard now, up to a batch's
// size (no batching window: see streamBatch).
func (e *rulesEngine) fill(batch []record) []record {
	for len(batch) < e.batch {
		select {
		case r := <-e.shard:
			batch = append(batch, e.take(r))
		default:
			return batch
		}
	}
	return batch
}

// drain delivers, when the engine stops, what is left in the shard,
// starting with the last batch's rest, without waiting out the backoff:
// each record still gets its retries.
func (e *rulesEngine) drain(rest []record, tries int) {
	for {
		batch := rest
		if len(batch) == 0 {
			if batch = e.fill(nil); len(batch) == 0 {
				return
			}
		}
		rest, tries = e.deliver(batch, tries, true)
	}
}

// deliver hands a batch to the function as a Kinesis event, tries being
// how many deliveries of it failed before, and answers the rest to deliver
// again and its failed deliveries. The records before the lowest reported
// failure are done; a failed record is reported by its sequence number,
// and one that is not of the batch fails the batch, as with Lambda. When
// the rest is out of retries, each record of it the last delivery did not
// store is dead-lettered; those it stored are done (on AWS the dead-letter
// queue's record names them too, and redriving them stores nothing: here
// a dead letter of a stored reading would only be a false alarm). A
// record whose dead letter the table refuses is kept, with what follows
// it, to be delivered again, unless the engine is stopping (final): then
// it is logged as not stored, and not acknowledged.
func (e *rulesEngine) deliver(batch []record, tries int, final bool) ([]record, int) {
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(batch))}
	for i, r := range batch {
		ev.Records[i] = events.KinesisEventRecord{
			EventSource: "aws:kinesis", EventName: "aws:kinesis:record", EventVersion: "1.0",
			EventID: localShard + ":" + r.seq, EventSourceArn: localStreamARN, AwsRegion: "local",
			Kinesis: events.KinesisRecord{
				KinesisSchemaVersion: "1.0", PartitionKey: r.m.ClientID, SequenceNumber: r.seq,
				Data: r.m.JSON(), ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: r.arrived},
			},
		}
	}
	raw, _ := json.Marshal(ev) // strings, bytes and a time always marshal
	resp, err := e.invoke(context.WithoutCancel(e.ctx), raw)
	failed := make([]bool, len(batch)) // not stored
	switch {
	case err != nil:
		e.log.Warn("ingest batch failed", "size", len(batch), "error", err)
		for i := range failed {
			failed[i] = true
		}
	case resp != nil && len(resp.BatchItemFailures) > 0:
		index := make(map[string]int, len(batch))
		for i, r := range batch {
			index[r.seq] = i
		}
		for _, f := range resp.BatchItemFailures {
			i, ok := index[f.ItemIdentifier]
			if !ok {
				e.log.Warn("ingest reported a failure of no record of the batch; the batch failed", "item", f.ItemIdentifier)
				for i := range failed {
					failed[i] = true
				}
				break
			}
			failed[i] = true
		}
	}
	done := len(batch) // the records before the first failure
	if i := slices.Index(failed, true); i >= 0 {
		done = i
	}
	for _, r := range batch[:done] {
		r.settle(nil)
	}
	rest, failed := batch[done:], failed[done:]
	if len(rest) == 0 {
		return nil, 0
	}
	if tries++; tries <= e.streamRetries {
		return rest, tries
	}
	for i, r := range rest {
		if !failed[i] || e.deadLetter(r.m, fmt.Sprintf("not ingested after %d deliveries", tries)) == nil {
			r.settle(nil)
			continue
		}
		if !final {
			return rest[i:], tries
		}
		e.log.Error("message not stored at shutdown, and not acknowledged", "topic", r.m.Topic, "client_id", r.m.ClientID)
		r.settle(errStopped)
	}
	return nil, 0
}

// close stops taking messages and waits for what is under way.
func (e *rulesEngine) close() {
	e.stop()
	e.wg.Wait()
}
