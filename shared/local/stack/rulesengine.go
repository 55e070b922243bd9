package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/plainview/serverless/shared/contract/topics"
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
//
// The broker acknowledges a publish only once the engine has made it
// durable: stored by the ingest function, or kept as a dead letter (the
// hook waits on accept's answer). IoT Core acknowledges once a message is
// durable in its own pipeline; acknowledging when it sat in this process's
// memory lost 3,595 of 23,870 acknowledged readings to a SIGKILL (issue
// 12). A stack killed now loses only what it had not acknowledged, which
// the device still holds and sends again.
//
// A failed delivery is hidden for a while before the next one, as the
// queue's visibility timeout hides it, so a short outage of the table does
// not use up a message's three deliveries at once. The dead letters are
// kept in the table too (on AWS they are a queue of their own), so when
// the table is down a message may not even become a dead letter: it then
// stays hidden and is tried again, and is never dropped while the stack
// runs.
type rulesEngine struct {
	table  []topics.Rule
	invoke IngestHandler
	dead   func(ctx context.Context, m topics.Message, reason string) error
	log    *slog.Logger
	queue  chan queued
	wg     sync.WaitGroup
	ctx    context.Context
	stop   context.CancelFunc
	seq    int64
	engineSettings

	mu     sync.Mutex
	hidden []queued // failed telemetry, hidden until due
}

// engineSettings are the queue's and the asynchronous invocation's.
type engineSettings struct {
	batch      int           // most messages in a batch
	window     time.Duration // how long a batch waits to fill
	retries    int           // retries of a direct invocation
	visibility time.Duration // how long a failed delivery is hidden
}

type queued struct {
	m        topics.Message
	receives int
	due      time.Time  // when a hidden message is delivered again
	done     chan error // told once: nil when stored or a dead letter
}

// settle tells whoever waits on the message what became of it.
func (q queued) settle(err error) {
	if q.done != nil {
		q.done <- err // buffered, and told once
	}
}

// errStopped is a message the engine stopped before storing.
var errStopped = errors.New("the rules engine stopped before the message was stored")

// Batch settings of the telemetry queue's event source: up to 100
// messages, as the stack sets them. The stack also waits up to 100 ms to
// fill a batch; here a batch is what is queued when the last one is done
// (window 0), because a publisher waits for its message to be stored
// before its acknowledgement, and a window would only add to that wait.
// Under load the batches fill all the same. The visibility timeout is
// shorter than the stack's (6 × the function's timeout) so that a local
// outage recovers in seconds.
const (
	queueBatch      = 100
	queueWindow     = 0
	queueVisibility = time.Second
	maxReceives     = 3
	asyncRetries    = 2
)

func newRulesEngine(invoke IngestHandler, dead func(context.Context, topics.Message, string) error, log *slog.Logger) *rulesEngine {
	return startRulesEngine(invoke, dead, log, engineSettings{
		batch: queueBatch, window: queueWindow, retries: asyncRetries, visibility: queueVisibility,
	})
}

func startRulesEngine(invoke IngestHandler, dead func(context.Context, topics.Message, string) error, log *slog.Logger, set engineSettings) *rulesEngine {
	ctx, stop := context.WithCancel(context.Background())
	e := &rulesEngine{table: topics.Table(), invoke: invoke, dead: dead, log: log, queue: make(chan queued, 1<<16),
		ctx: ctx, stop: stop, engineSettings: set}
	e.wg.Add(1)
	go e.consume()
	return e
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
		// Stopping: what is queued is still delivered, but the publisher
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
	r, ok := topics.Match(e.table, Environment, topic)
	switch {
	case !ok:
		done <- nil
		return done
	case e.ctx.Err() != nil:
		done <- errStopped
		return done
	}
	q := queued{m: topics.NewMessage(topic, clientID, payload, time.Now().UnixMilli()), done: done}
	if r.Target == topics.Stream {
		select {
		case e.queue <- q:
		case <-e.ctx.Done():
			q.settle(errStopped)
		}
		return done
	}
	e.wg.Add(1)
	go e.direct(q)
	return done
}

func (e *rulesEngine) direct(q queued) {
	defer e.wg.Done()
	m := q.m
	for {
		var err error
		for attempt := 0; attempt <= e.retries; attempt++ {
			if attempt > 0 && !e.sleep(time.Duration(attempt)*200*time.Millisecond) {
				break
			}
			if _, err = e.invoke(context.WithoutCancel(e.ctx), m.JSON()); err == nil {
				q.settle(nil)
				return
			}
			e.log.Warn("ingest invocation failed", "topic", m.Topic, "attempt", attempt+1, "error", err)
		}
		derr := e.deadLetter(m, fmt.Sprintf("ingest failed %d times: %v", e.retries+1, err))
		if derr == nil {
			q.settle(nil)
			return
		}
		if !e.sleep(e.visibility) {
			// Stopping, and the table still refuses: it was never
			// acknowledged, so the device still has it.
			e.log.Error("message not stored at shutdown, and not acknowledged", "topic", m.Topic,
				"client_id", m.ClientID, "error", derr)
			q.settle(errStopped)
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

// consume reads the queue in batches until the engine stops, then drains
// what is left. Hidden messages that are due again go first.
func (e *rulesEngine) consume() {
	defer e.wg.Done()
	for {
		batch := e.due(nil, time.Now(), false)
		if len(batch) == 0 {
			wake := time.NewTimer(time.Hour)
			if next, ok := e.nextDue(); ok {
				wake.Reset(time.Until(next))
			}
			select {
			case q := <-e.queue:
				batch = append(batch, q)
			case <-wake.C:
			case <-e.ctx.Done():
				wake.Stop()
				e.drain()
				return
			}
			wake.Stop()
			if len(batch) == 0 {
				continue
			}
		}
		batch = e.fill(batch)
		e.deliver(batch, false)
	}
}

// fill adds to batch what comes within the batching window, or, with no
// window, what is queued now, up to a batch's size.
func (e *rulesEngine) fill(batch []queued) []queued {
	if e.window == 0 {
		for len(batch) < e.batch {
			select {
			case q := <-e.queue:
				batch = append(batch, q)
			default:
				return batch
			}
		}
		return batch
	}
	timer := time.NewTimer(e.window)
	defer timer.Stop()
	for len(batch) < e.batch {
		select {
		case q := <-e.queue:
			batch = append(batch, q)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// due moves the hidden messages due by now (all of them when all is set)
// into batch, up to a batch's size.
func (e *rulesEngine) due(batch []queued, now time.Time, all bool) []queued {
	e.mu.Lock()
	defer e.mu.Unlock()
	kept := e.hidden[:0]
	for _, q := range e.hidden {
		if len(batch) < e.batch && (all || !q.due.After(now)) {
			batch = append(batch, q)
		} else {
			kept = append(kept, q)
		}
	}
	clear(e.hidden[len(kept):])
	e.hidden = kept
	return batch
}

func (e *rulesEngine) nextDue() (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var next time.Time
	for i, q := range e.hidden {
		if i == 0 || q.due.Before(next) {
			next = q.due
		}
	}
	return next, len(e.hidden) > 0
}

func (e *rulesEngine) hide(q queued) {
	q.due = time.Now().Add(e.visibility)
	e.mu.Lock()
	e.hidden = append(e.hidden, q)
	e.mu.Unlock()
}

// drain delivers what is queued and hidden when the engine stops, without
// waiting out the visibility: each message still gets its deliveries.
func (e *rulesEngine) drain() {
	for {
		batch := e.due(nil, time.Time{}, true)
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
		e.deliver(batch, true)
	}
}

// deliver hands a batch to the function as an SQS event. A reported
// failure is hidden and delivered again; after its last delivery it is a
// dead letter, and when even that fails it is kept and tried again. When
// the engine is stopping (final), it is dead-lettered at its last delivery
// or, failing that, logged as lost.
func (e *rulesEngine) deliver(batch []queued, final bool) {
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
			q.settle(nil)
			continue
		}
		q.receives++
		switch {
		case q.receives < maxReceives && final:
			q.due = time.Time{}
			e.mu.Lock()
			e.hidden = append(e.hidden, q)
			e.mu.Unlock()
		case q.receives < maxReceives:
			e.hide(q)
		case e.deadLetter(q.m, fmt.Sprintf("not ingested after %d deliveries", q.receives)) == nil:
			q.settle(nil)
		case final:
			e.log.Error("message not stored at shutdown", "topic", q.m.Topic, "client_id", q.m.ClientID)
			q.settle(errStopped)
		default:
			e.hide(q)
		}
	}
}

// close stops taking messages and waits for what is under way.
func (e *rulesEngine) close() {
	e.stop()
	e.wg.Wait()
}
