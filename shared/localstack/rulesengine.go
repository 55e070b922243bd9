package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/plainview/serverless/shared/rules"
)

// IngestHandler is the ingest function's entry point (ingest.Lambda).
type IngestHandler func(ctx context.Context, raw json.RawMessage) (*events.SQSEventResponse, error)

// rulesEngine applies the topic rules to what the broker accepts, as IoT
// Core's rules engine does: statuses and leaks invoke the ingest function
// directly (asynchronously, retried twice, then dead-lettered, as Lambda's
// asynchronous invocation does); telemetry goes through a queue the
// function reads in batches, with partial batch failures delivered again
// up to three times before they are dead letters (the queue's redrive
// policy).
type rulesEngine struct {
	table   []rules.Rule
	invoke  IngestHandler
	dead    func(ctx context.Context, m rules.Message, reason string) error
	log     *slog.Logger
	queue   chan queued
	wg      sync.WaitGroup
	ctx     context.Context
	stop    context.CancelFunc
	batch   int
	window  time.Duration
	retries int
	seq     int64
}

type queued struct {
	m        rules.Message
	receives int
}

// Batch settings of the telemetry queue's event source, as the stack sets
// them: up to 100 messages, or what came within 100 ms.
const (
	queueBatch   = 100
	queueWindow  = 100 * time.Millisecond
	maxReceives  = 3
	asyncRetries = 2
)

func newRulesEngine(invoke IngestHandler, dead func(context.Context, rules.Message, string) error, log *slog.Logger) *rulesEngine {
	ctx, stop := context.WithCancel(context.Background())
	e := &rulesEngine{table: rules.Table(), invoke: invoke, dead: dead, log: log, queue: make(chan queued, 1<<16),
		ctx: ctx, stop: stop, batch: queueBatch, window: queueWindow, retries: asyncRetries}
	e.wg.Add(1)
	go e.consume()
	return e
}

// published is the broker's hook: one accepted publish.
func (e *rulesEngine) published(clientID, topic string, payload []byte) {
	r, ok := rules.Match(e.table, topic)
	if !ok || e.ctx.Err() != nil {
		return
	}
	m := rules.NewMessage(topic, clientID, payload, time.Now().UnixMilli())
	if r.Target == rules.Queue {
		select {
		case e.queue <- queued{m: m}:
		case <-e.ctx.Done():
		}
		return
	}
	e.wg.Add(1)
	go e.direct(m)
}

func (e *rulesEngine) direct(m rules.Message) {
	defer e.wg.Done()
	var err error
	for attempt := 0; attempt <= e.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-e.ctx.Done():
			}
		}
		if _, err = e.invoke(context.WithoutCancel(e.ctx), m.JSON()); err == nil {
			return
		}
		e.log.Warn("ingest invocation failed", "topic", m.Topic, "attempt", attempt+1, "error", err)
	}
	e.deadLetter(m, fmt.Sprintf("ingest failed %d times: %v", e.retries+1, err))
}

func (e *rulesEngine) deadLetter(m rules.Message, reason string) {
	if err := e.dead(context.WithoutCancel(e.ctx), m, reason); err != nil {
		e.log.Error("dead letter lost", "topic", m.Topic, "reason", reason, "error", err)
	}
}

// consume reads the queue in batches until the engine stops, then drains
// what is left.
func (e *rulesEngine) consume() {
	defer e.wg.Done()
	for {
		var batch []queued
		select {
		case q := <-e.queue:
			batch = append(batch, q)
		case <-e.ctx.Done():
			e.drain()
			return
		}
		timer := time.NewTimer(e.window)
	fill:
		for len(batch) < e.batch {
			select {
			case q := <-e.queue:
				batch = append(batch, q)
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		e.deliver(batch)
	}
}

func (e *rulesEngine) drain() {
	for {
		var batch []queued
	take:
		for len(batch) < e.batch {
			select {
			case q := <-e.queue:
				batch = append(batch, q)
			default:
				break take
			}
		}
		if len(batch) == 0 {
			return
		}
		e.deliver(batch)
	}
}

// deliver hands a batch to the function as an SQS event and puts the
// reported failures back on the queue.
func (e *rulesEngine) deliver(batch []queued) {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(batch))}
	for i, q := range batch {
		e.seq++
		ev.Records[i] = events.SQSMessage{
			MessageId: strconv.FormatInt(e.seq, 10), Body: string(q.m.JSON()), EventSource: "aws:sqs",
			Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(q.receives + 1)},
		}
	}
	raw, _ := json.Marshal(ev) // plain strings always marshal
	resp, err := e.invoke(context.WithoutCancel(e.ctx), raw)
	failed := map[string]bool{}
	if err != nil {
		e.log.Warn("ingest batch failed", "size", len(batch), "error", err)
		for _, r := range ev.Records {
			failed[r.MessageId] = true
		}
	} else if resp != nil {
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
	}
	for i, q := range batch {
		if !failed[ev.Records[i].MessageId] {
			continue
		}
		q.receives++
		if q.receives >= maxReceives {
			e.deadLetter(q.m, fmt.Sprintf("not ingested after %d deliveries", q.receives))
			continue
		}
		select {
		case e.queue <- q:
		default:
			e.deadLetter(q.m, "telemetry queue full")
		}
	}
}

// close stops taking messages and waits for what is under way.
func (e *rulesEngine) close() {
	e.stop()
	e.wg.Wait()
}
