package stack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/lambda/ingestfunc"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// waitFor polls until f holds; the bound only keeps a broken build from
// hanging.
func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for range 600 {
		if f() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within 30 s", what)
}

// The stream's behaviour is specified over a function of the test's own
// (fn), which notes each batch and answers as each test says, and a dead
// letter store of the test's own (deadLetters): the logic under test is
// the engine's. TestTelemetryOutlivesATableOutage runs the real function
// on DynamoDB Local.

// fn is the ingest function as the engine sees it.
type fn struct {
	t      *testing.T
	answer func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error)
	mu     sync.Mutex
	calls  [][]events.KinesisEventRecord
}

func (f *fn) invoke(_ context.Context, raw json.RawMessage) (*events.KinesisEventResponse, error) {
	var ev events.KinesisEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		f.t.Errorf("the engine delivered no Kinesis event: %v: %s", err, raw)
	}
	f.mu.Lock()
	call := len(f.calls)
	f.calls = append(f.calls, ev.Records)
	f.mu.Unlock()
	if f.answer == nil {
		return &events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}, nil
	}
	return f.answer(call, ev.Records)
}

// batches are the batches delivered so far, each as its records' names.
func (f *fn) batches() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]string
	for _, b := range f.calls {
		var names []string
		for _, r := range b {
			names = append(names, name(f.t, r))
		}
		out = append(out, names)
	}
	return out
}

func (f *fn) seqs(call int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.calls[call] {
		out = append(out, r.Kinesis.SequenceNumber)
	}
	return out
}

// failures answers that the records at idx of batch were not stored.
func failures(batch []events.KinesisEventRecord, idx ...int) *events.KinesisEventResponse {
	resp := &events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	for _, i := range idx {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: batch[i].Kinesis.SequenceNumber})
	}
	return resp
}

// deadLetters is the table's dead letters; refuse makes it refuse them.
type deadLetters struct {
	refuse atomic.Bool
	mu     sync.Mutex
	names  []string
	reason []string
}

func (d *deadLetters) put(_ context.Context, m topics.Message, reason string) error {
	if d.refuse.Load() {
		return errors.New("the table is down")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.names = append(d.names, messageName(m))
	d.reason = append(d.reason, reason)
	return nil
}

func (d *deadLetters) kept() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.names)
}

func (d *deadLetters) reasons() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.reason)
}

// The records of these tests: a device's telemetry whose payload numbers
// it, named "<device>#<n>".
func put(e *rulesEngine, device string, n int) <-chan error {
	return e.accept(device, "plainview/devices/"+device+"/telemetry", fmt.Appendf(nil, `{"n":%d}`, n))
}

func messageName(m topics.Message) string {
	b, _ := m.Bytes()
	var p struct{ N int }
	_ = json.Unmarshal(b, &p)
	return fmt.Sprintf("%s#%d", m.ClientID, p.N)
}

func name(t *testing.T, r events.KinesisEventRecord) string {
	var m topics.Message
	if err := json.Unmarshal(r.Kinesis.Data, &m); err != nil {
		t.Errorf("record %s: data %q is no rule message: %v", r.Kinesis.SequenceNumber, r.Kinesis.Data, err)
	}
	return messageName(m)
}

// told is what a record's publisher has been told, if anything yet; it
// leaves the answer for the next look.
func told(done <-chan error) (error, bool) {
	select {
	case err := <-done:
		return err, true
	default:
		return nil, false
	}
}

func quickEngine(t *testing.T, f *fn, d *deadLetters, set engineSettings) *rulesEngine {
	t.Helper()
	f.t = t
	if set.batch == 0 {
		set = engineSettings{batch: streamBatch, streamRetries: streamRetries, asyncRetries: asyncRetries, backoff: 10 * time.Millisecond}
	}
	e := buildRulesEngine(f.invoke, d.put, slog.New(slog.DiscardHandler), set)
	t.Cleanup(func() { closeWithin(t, e) })
	return e
}

// closeWithin closes e, and fails the test if that hangs.
func closeWithin(t *testing.T, e *rulesEngine) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		e.close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Errorf("the engine did not stop within 30 s")
	}
}

func TestABatchIsAKinesisEventOfTheRecordsKeyedByClient(t *testing.T) {
	f, d := &fn{}, &deadLetters{}
	e := quickEngine(t, f, d, engineSettings{})
	before := time.Now().UnixMilli()
	put(e, "v-101", 1)
	put(e, "C-South", 2)
	e.run()
	put(e, "v-101", 3)
	waitFor(t, "three records delivered", func() bool { return len(slices.Concat(f.batches()...)) == 3 })

	last := uint64(0)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.calls {
		for _, r := range b {
			var m topics.Message
			if err := json.Unmarshal(r.Kinesis.Data, &m); err != nil {
				t.Fatalf("data %q: %v", r.Kinesis.Data, err)
			}
			payload, _ := m.Bytes()
			var p struct{ N int }
			_ = json.Unmarshal(payload, &p)
			want := topics.NewMessage("plainview/devices/"+m.ClientID+"/telemetry", m.ClientID, fmt.Appendf(nil, `{"n":%d}`, p.N), m.ReceivedMs)
			if string(r.Kinesis.Data) != string(want.JSON()) || m.ReceivedMs < before {
				t.Errorf("data %s, want the rule's message %s, received now", r.Kinesis.Data, want.JSON())
			}
			if r.Kinesis.PartitionKey != m.ClientID {
				t.Errorf("partition key %q, want the client id %q", r.Kinesis.PartitionKey, m.ClientID)
			}
			if r.EventSource != "aws:kinesis" || r.EventName != "aws:kinesis:record" {
				t.Errorf("event source %q, name %q", r.EventSource, r.EventName)
			}
			seq, err := strconv.ParseUint(r.Kinesis.SequenceNumber, 10, 64)
			if err != nil || seq <= last {
				t.Errorf("sequence number %q after %d: want a greater decimal", r.Kinesis.SequenceNumber, last)
			}
			last = seq
		}
	}
}

func TestABatchIsWhatWaitsWhenTheLastIsDone(t *testing.T) {
	gate := make(chan struct{})
	f, d := &fn{}, &deadLetters{}
	f.answer = func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
		if call == 0 {
			<-gate
		}
		return failures(batch), nil
	}
	e := quickEngine(t, f, d, engineSettings{batch: 3, streamRetries: streamRetries, asyncRetries: asyncRetries, backoff: time.Hour})
	for n := range 5 {
		put(e, "v-101", n)
	}
	e.run()
	waitFor(t, "the first batch", func() bool { return len(f.batches()) == 1 })
	for n := 5; n < 7; n++ {
		put(e, "v-102", n)
	}
	close(gate)
	waitFor(t, "every record delivered", func() bool { return len(slices.Concat(f.batches()...)) == 7 })
	want := [][]string{{"v-101#0", "v-101#1", "v-101#2"}, {"v-101#3", "v-101#4", "v-102#5"}, {"v-102#6"}}
	if got := f.batches(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches %q, want %q: up to 3 of what waits when the last batch is done", got, want)
	}
}

func TestAPublishIsAcknowledgedOnceStoredOrDeadLettered(t *testing.T) {
	gate := make(chan struct{})
	f, d := &fn{}, &deadLetters{}
	f.answer = func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
		<-gate
		if name(t, batch[0]) == "v-102#2" {
			return nil, errors.New("ingest failed")
		}
		return failures(batch), nil
	}
	e := quickEngine(t, f, d, engineSettings{})
	t.Cleanup(func() { close(gate) }) // first: a failed test leaves the function waiting
	e.run()
	for _, c := range []struct {
		device string
		n      int
		dead   bool
	}{{"v-101", 1, false}, {"v-102", 2, true}} {
		before := len(f.batches())
		acked := make(chan error, 1)
		go func() {
			acked <- e.published(c.device, "plainview/devices/"+c.device+"/telemetry", fmt.Appendf(nil, `{"n":%d}`, c.n))
		}()
		waitFor(t, "a delivery", func() bool { return len(f.batches()) > before })
		if _, ok := told(acked); ok {
			t.Fatalf("%s#%d acknowledged while the function has not answered", c.device, c.n)
		}
		gate <- struct{}{}
		if c.dead {
			for range streamRetries {
				gate <- struct{}{}
			}
		}
		if err := <-acked; err != nil {
			t.Errorf("%s#%d: %v", c.device, c.n, err)
		}
		if got := d.kept(); c.dead != slices.Contains(got, fmt.Sprintf("%s#%d", c.device, c.n)) {
			t.Errorf("%s#%d acknowledged with dead letters %q", c.device, c.n, got)
		}
	}
}

// A reported failure: the records before the lowest failed one are done;
// the batch's rest, and only it, comes again, with its sequence numbers;
// after three retries each record of it that the last delivery did not
// store is a dead letter. An error of the whole invocation, or a failure
// naming no record of the batch, fails the whole batch.
func TestAFailureRedeliversTheRestFromTheLowestFailedRecord(t *testing.T) {
	for _, c := range []struct {
		name    string
		answer  func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error)
		batches [][]string
		dead    []string
	}{
		{
			name: "failures of #4, #2 and #5: #1 done, #2 to #5 come again",
			answer: func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
				if call == 0 {
					return failures(batch, 3, 1, 4), nil
				}
				return failures(batch), nil
			},
			batches: [][]string{{"a#1", "b#2", "a#3", "b#4", "a#5"}, {"b#2", "a#3", "b#4", "a#5"}},
		},
		{
			name: "the rest shrinks as it is stored",
			answer: func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
				if call < 2 {
					return failures(batch, 1), nil
				}
				return failures(batch), nil
			},
			batches: [][]string{{"a#1", "b#2", "a#3", "b#4", "a#5"}, {"b#2", "a#3", "b#4", "a#5"}, {"a#3", "b#4", "a#5"}},
		},
		{
			name: "a rest that fails four times: what the last delivery did not store, dead letters",
			answer: func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
				if call == 0 {
					return failures(batch, 3), nil
				}
				return failures(batch, 0), nil
			},
			batches: [][]string{{"a#1", "b#2", "a#3", "b#4", "a#5"}, {"b#4", "a#5"}, {"b#4", "a#5"}, {"b#4", "a#5"}},
			dead:    []string{"b#4"},
		},
		{
			name: "a rest that fails four times, all of it the last time",
			answer: func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
				if call == 0 {
					return failures(batch, 3), nil
				}
				if call == 3 {
					return failures(batch, 1, 0), nil
				}
				return failures(batch, 0), nil
			},
			batches: [][]string{{"a#1", "b#2", "a#3", "b#4", "a#5"}, {"b#4", "a#5"}, {"b#4", "a#5"}, {"b#4", "a#5"}},
			dead:    []string{"b#4", "a#5"},
		},
		{
			name: "an error of the invocation: the whole batch again",
			answer: func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
				if call < 2 {
					return nil, errors.New("function error")
				}
				return failures(batch), nil
			},
			batches: slices.Repeat([][]string{{"a#1", "b#2", "a#3", "b#4", "a#5"}}, 3),
		},
		{
			name: "always an error: every record a dead letter after the third retry",
			answer: func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
				return nil, errors.New("function error")
			},
			batches: slices.Repeat([][]string{{"a#1", "b#2", "a#3", "b#4", "a#5"}}, 4),
			dead:    []string{"a#1", "b#2", "a#3", "b#4", "a#5"},
		},
		{
			name: "a failure naming no record of the batch fails it all",
			answer: func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
				if call == 0 {
					return &events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: "999"}}}, nil
				}
				return failures(batch), nil
			},
			batches: slices.Repeat([][]string{{"a#1", "b#2", "a#3", "b#4", "a#5"}}, 2),
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, d := &fn{}, &deadLetters{}
			var dones []<-chan error
			f.answer = func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
				// What is not delivered again was acknowledged before the
				// retry: the records before the first of this batch.
				if call > 0 {
					first := slices.IndexFunc(dones, func(done <-chan error) bool { return len(done) == 0 })
					if want := 5 - len(batch); first != want {
						t.Errorf("delivery %d of %d records: %d records acknowledged, want the %d before them", call+1, len(batch), first, want)
					}
				}
				return c.answer(call, batch)
			}
			e := quickEngine(t, f, d, engineSettings{})
			for n := 1; n <= 5; n++ {
				dones = append(dones, put(e, string(rune('a'+(n+1)%2)), n))
			}
			e.run()
			for i, done := range dones {
				waitFor(t, fmt.Sprintf("record %d acknowledged", i+1), func() bool { return len(done) == 1 })
			}
			e.close() // before the answers are read: the function looks at them
			for i, done := range dones {
				if err, _ := told(done); err != nil {
					t.Errorf("record %d: %v", i+1, err)
				}
			}
			if got := f.batches(); !slices.EqualFunc(got, c.batches, slices.Equal) {
				t.Errorf("batches\n%q\nwant\n%q", got, c.batches)
			}
			for i := 1; i < len(c.batches); i++ {
				if got, first := f.seqs(i), f.seqs(0); !slices.Equal(got, first[len(first)-len(got):]) {
					t.Errorf("delivery %d: sequence numbers %q, want those of the first delivery, %q", i+1, got, first)
				}
			}
			if got := d.kept(); !slices.Equal(got, c.dead) {
				t.Errorf("dead letters %q, want %q", got, c.dead)
			}
			for _, r := range d.reasons() {
				if want := fmt.Sprintf("not ingested after %d deliveries", streamRetries+1); r != want {
					t.Errorf("dead letter reason %q, want %q", r, want)
				}
			}
		})
	}
}

// Devices publish at once, the function fails at random (whole batches,
// and records of them), and still: in every batch, a device's records come
// in the order it published them, each after every earlier one of the
// device is acknowledged or before it in the same batch, and none comes
// again once acknowledged.
func TestADevicesRecordsAreNeverReordered(t *testing.T) {
	const devices, each = 4, 60
	var mu sync.Mutex
	dones := map[string]<-chan error{}
	rng := rand.New(rand.NewPCG(1, 2))
	f, d := &fn{}, &deadLetters{}
	f.answer = func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		inBatch := map[string]bool{}
		for _, r := range batch {
			nm := name(t, r)
			dev, nStr, _ := strings.Cut(nm, "#")
			n, _ := strconv.Atoi(nStr)
			if len(dones[nm]) == 1 {
				t.Errorf("batch %d: %s#%d comes again after it was acknowledged", call, dev, n)
			}
			for earlier := range n {
				k := fmt.Sprintf("%s#%d", dev, earlier)
				if len(dones[k]) == 0 && !inBatch[k] {
					t.Errorf("batch %d: %s#%d before %s, which is neither acknowledged nor before it in the batch", call, dev, n, k)
				}
			}
			inBatch[nm] = true
		}
		switch p := rng.Float64(); {
		case p < 0.25:
			return nil, errors.New("function error")
		case p < 0.6:
			return failures(batch, rng.IntN(len(batch))), nil
		}
		return failures(batch), nil
	}
	e := quickEngine(t, f, d, engineSettings{batch: 16, streamRetries: streamRetries, asyncRetries: asyncRetries, backoff: time.Millisecond})
	e.run()
	var wg sync.WaitGroup
	for i := range devices {
		wg.Go(func() {
			dev := fmt.Sprintf("v-%d", 100+i)
			for n := range each {
				mu.Lock()
				dones[fmt.Sprintf("%s#%d", dev, n)] = put(e, dev, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for k, done := range dones {
		waitFor(t, k+" acknowledged", func() bool { return len(done) == 1 })
	}
	e.close() // before the answers are read: the checks above look at them
	for k, done := range dones {
		if err, _ := told(done); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if len(f.batches()) < 10 || len(d.kept()) == 0 {
		t.Errorf("%d batches, %d dead letters: the test did not retry enough to say anything", len(f.batches()), len(d.kept()))
	}
}

// Stopping delivers what is in the stream, a failed rest without waiting
// out the backoff (an hour here), each record still with its retries;
// what the table then refuses even as a dead letter is not acknowledged.
func TestStoppingDrainsTheStream(t *testing.T) {
	for _, c := range []struct {
		name    string
		fail    bool // the function fails every batch
		refuse  bool // and the table refuses dead letters
		acked   error
		batches int
		dead    int
	}{
		// The first batch's rest, then the three.
		{name: "stored", batches: 3},
		{name: "dead letters after the retries", fail: true, batches: 2 * (streamRetries + 1), dead: 4},
		{name: "not acknowledged when even the dead letter fails", fail: true, refuse: true, acked: errStopped, batches: 2 * (streamRetries + 1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			gate := make(chan struct{})
			f, d := &fn{}, &deadLetters{}
			d.refuse.Store(c.refuse)
			f.answer = func(call int, batch []events.KinesisEventRecord) (*events.KinesisEventResponse, error) {
				if call == 0 {
					<-gate
				}
				if c.fail || call == 0 {
					return nil, errors.New("function error")
				}
				return failures(batch), nil
			}
			e := quickEngine(t, f, d, engineSettings{batch: streamBatch, streamRetries: streamRetries, asyncRetries: asyncRetries, backoff: time.Hour})
			// The first batch fails, and its rest waits on the backoff.
			plug := put(e, "v-100", 0)
			e.run()
			waitFor(t, "the first batch", func() bool { return len(f.batches()) == 1 })
			var dones []<-chan error
			for n := range 3 {
				dones = append(dones, put(e, "v-101", n))
			}
			close(gate)
			closeWithin(t, e)
			if t.Failed() {
				return
			}
			if err, ok := told(plug); !ok || err != c.acked {
				t.Errorf("the first batch's record: told %v (%t), want %v", err, ok, c.acked)
			}
			for n, done := range dones {
				if err, ok := told(done); !ok || err != c.acked {
					t.Errorf("v-101#%d: told %v (%t), want %v", n, err, ok, c.acked)
				}
			}
			if got := len(f.batches()); got != c.batches {
				t.Errorf("%d batches, want %d: %q", got, c.batches, f.batches())
			}
			if got := len(d.kept()); got != c.dead {
				t.Errorf("dead letters %q, want %d", d.kept(), c.dead)
			}
		})
	}
}

// outageTable is a table behind a proxy that can go down and come back,
// with a store client that does not retry (each failure is a delivery's
// failure).
type outageTable struct {
	*dynamotest.Outage
	st *store.Store
}

func newOutageTable(t *testing.T) *outageTable {
	t.Helper()
	endpoint, cfg := dynamotest.Endpoint(t)
	o := &outageTable{Outage: dynamotest.NewOutage(t, endpoint)}
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	db := store.NewClient(cfg, o.URL)
	table := dynamotest.TableName()
	dynamotest.DeleteAtEnd(t, db, table)
	o.st = store.New(db, table, nil)
	if err := o.st.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := o.st.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *outageTable) down() { o.Down() }

func (o *outageTable) up(t *testing.T) {
	t.Helper()
	if err := o.Up(); err != nil {
		t.Fatal(err)
	}
}

// The real function on DynamoDB Local, the table down: the records fail
// their deliveries, and their dead letters; they are not acknowledged,
// and are delivered again; once the table is back, each is stored or a
// dead letter, once.
func TestTelemetryOutlivesATableOutage(t *testing.T) {
	tb := newOutageTable(t)
	note := notify.NewLog(slog.New(slog.DiscardHandler))
	svc := ingest.New(tb.st, leaks.New(tb.st, note, nil, nil), note, nil, nil, nil)
	lambda := ingestfunc.Ingest(svc)
	var deliveries atomic.Int64
	invoke := func(ctx context.Context, raw json.RawMessage) (*events.KinesisEventResponse, error) {
		deliveries.Add(1)
		return lambda(ctx, raw)
	}
	e := buildRulesEngine(invoke, svc.DeadLetter, slog.New(slog.DiscardHandler),
		engineSettings{batch: streamBatch, streamRetries: streamRetries, asyncRetries: asyncRetries, backoff: 50 * time.Millisecond})
	closed := false
	defer func() {
		if !closed {
			e.close()
		}
	}()

	tb.down()
	const n = 10
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	var dones []<-chan error
	for i := range n {
		dones = append(dones, e.accept("v-101", "plainview/devices/v-101/telemetry",
			fmt.Appendf(nil, `{"ts":%d,"temperature_c":%d}`, start.Add(time.Duration(i)*time.Second).Unix(), 40+i)))
	}
	e.run()
	// Four deliveries, the dead letters the table refused, and one more
	// delivery: the batch outlived its retries.
	waitFor(t, "a delivery after the failed dead letters", func() bool { return deliveries.Load() > streamRetries+1 })
	for i, done := range dones {
		if len(done) > 0 {
			t.Errorf("record %d acknowledged while the table is down", i)
		}
	}
	tb.up(t)
	for i, done := range dones {
		waitFor(t, fmt.Sprintf("record %d acknowledged", i), func() bool { return len(done) == 1 })
		if err, _ := told(done); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	e.close()
	closed = true

	ctx := context.Background()
	stored, _, err1 := tb.st.Readings(ctx, "v-101", start.Add(-time.Hour), time.Now(), domain.Page{Limit: 50})
	dead, _, err2 := tb.st.DeadLetters(ctx, domain.Page{Limit: 50})
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range stored {
		seen[r.At.String()]++
	}
	for _, d := range dead {
		var p struct{ TS int64 }
		if err := json.Unmarshal(mustBase64(t, d.Payload), &p); err != nil {
			t.Fatal(err)
		}
		seen[time.Unix(p.TS, 0).UTC().String()]++
	}
	if len(seen) != n {
		t.Errorf("%d of %d messages stored or dead-lettered (%d readings, %d dead letters)", len(seen), n, len(stored), len(dead))
	}
	for at, k := range seen {
		if k != 1 {
			t.Errorf("the message of %s is there %d times", at, k)
		}
	}
}

func mustBase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
