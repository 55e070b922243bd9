package actuation_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
)

// The rules of actuation over an in-memory store (fakeStore) that keeps the
// real one's promises: a valve holds at most one open actuation, a new one
// starts only on a valve whose open actuation is none or the one it
// closes, and an actuation moves only from the states a move names. The
// same rules against DynamoDB Local, end to end: shared/local/stack,
// shared/api/httpapi and shared/testkit/rie.

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

type fakeStore struct {
	valves     map[string]domain.Valve
	actuations map[string]domain.Actuation
	events     []domain.Event
	starts     int
	// beforeStart and beforeMove, when set, run before each write with its
	// number, as another writer would between the read and the write.
	beforeStart func(n int)
	beforeMove  func(t actuation.Transition)
}

func newStore(valves ...domain.Valve) *fakeStore {
	f := &fakeStore{valves: map[string]domain.Valve{}, actuations: map[string]domain.Actuation{}}
	for _, v := range valves {
		f.valves[v.ID] = v
	}
	return f
}

func (f *fakeStore) Valve(_ context.Context, id string) (domain.Valve, error) {
	v, ok := f.valves[id]
	if !ok {
		return domain.Valve{}, domain.ErrNotFound
	}
	return v, nil
}

func (f *fakeStore) StartActuation(_ context.Context, a domain.Actuation, requested domain.Event, closing *actuation.Closing) error {
	f.starts++
	if f.beforeStart != nil {
		f.beforeStart(f.starts)
	}
	v := f.valves[a.ValveID]
	switch {
	case v.RetiredAt != nil:
		return domain.ErrConflict
	case closing == nil && v.OpenActuation != "":
		return domain.ErrConflict
	case closing != nil && v.OpenActuation != closing.ActuationID:
		return domain.ErrConflict
	}
	if closing != nil {
		old := f.actuations[closing.ActuationID]
		old.State, old.Reason, old.CompletedAt = closing.State, closing.Reason, &closing.At
		f.actuations[old.ID] = old
		f.events = append(f.events, closing.Event)
	}
	v.OpenActuation, v.OpenDeadline = a.ID, &a.Deadline
	f.valves[v.ID] = v
	f.actuations[a.ID] = a
	f.events = append(f.events, requested)
	return nil
}

func (f *fakeStore) MoveActuation(_ context.Context, t actuation.Transition) error {
	if f.beforeMove != nil {
		f.beforeMove(t)
	}
	a, ok := f.actuations[t.ActuationID]
	if !ok || !slices.Contains(t.From, a.State) {
		return domain.ErrConflict
	}
	a.State, a.Reason = t.To, t.Reason
	if t.Final {
		a.CompletedAt = &t.At
		if v := f.valves[t.ValveID]; v.OpenActuation == a.ID {
			v.OpenActuation, v.OpenDeadline = "", nil
			f.valves[v.ID] = v
		}
	}
	f.actuations[a.ID] = a
	f.events = append(f.events, t.Event)
	return nil
}

// open puts an open actuation on a valve, due at deadline.
func (f *fakeStore) open(valveID, id string, deadline time.Time) {
	f.actuations[id] = domain.Actuation{ID: id, ValveID: valveID, Command: domain.CommandOpen, State: domain.ActuationSent,
		RequestedAt: deadline.Add(-domain.ActuationTimeout), Deadline: deadline}
	v := f.valves[valveID]
	v.OpenActuation, v.OpenDeadline = id, &deadline
	f.valves[valveID] = v
}

func (f *fakeStore) eventTypes() []string {
	var types []string
	for _, e := range f.events {
		types = append(types, e.Type)
	}
	return types
}

type publisher struct {
	err      error
	topics   []string
	payloads [][]byte
}

func (p *publisher) Publish(_ context.Context, topic string, payload []byte) error {
	p.topics = append(p.topics, topic)
	p.payloads = append(p.payloads, payload)
	return p.err
}

func service(st *fakeStore, pub *publisher) *actuation.Service {
	return actuation.New(st, pub, func() time.Time { return now }, nil)
}

// The valves of the table below, by what their readings say.
func valve(id string) domain.Valve { return domain.Valve{ID: id, Name: id} }

func offline(id string) domain.Valve {
	v := valve(id)
	v.TemperatureC = ptr(80.0) // over the default 75 °C
	return v
}

func inMaintenance(id string) domain.Valve {
	v := valve(id)
	v.EstimatedMaintenance = ptr(now.Add(-time.Hour))
	return v
}

func retired(id string) domain.Valve {
	v := valve(id)
	v.RetiredAt = ptr(now.Add(-time.Hour))
	return v
}

// One open actuation per valve, STOP, an unavailable valve, a retired one:
// who is refused, with what, and what an accepted command closes.
func TestWhichCommandsAValveTakes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		valve   domain.Valve
		open    *time.Time // an open actuation "act-old" due then
		request actuation.Request
		want    string // "" accepted; else the rule's or conflict's code
		// closed is what becomes of act-old when the command is accepted.
		closedState, closedReason string
	}{
		{"an idle valve takes a command", valve("v-1"), nil, actuation.Request{ValveID: "v-1", Command: domain.CommandOpen}, "", "", ""},
		{"a busy valve refuses another", valve("v-1"), ptr(now.Add(10 * time.Second)),
			actuation.Request{ValveID: "v-1", Command: domain.CommandClose}, "actuation_in_progress", "", ""},
		{"an override does not jump the queue", valve("v-1"), ptr(now.Add(10 * time.Second)),
			actuation.Request{ValveID: "v-1", Command: domain.CommandClose, OverrideReason: "urgent"}, "actuation_in_progress", "", ""},
		{"STOP interrupts the open one, which fails as stopped", valve("v-1"), ptr(now.Add(10 * time.Second)),
			actuation.Request{ValveID: "v-1", Command: domain.CommandStop}, "", domain.ActuationFailed, domain.ReasonStopped},
		{"an open one past its deadline no longer blocks: it times out", valve("v-1"), ptr(now.Add(-time.Second)),
			actuation.Request{ValveID: "v-1", Command: domain.CommandOpen}, "", domain.ActuationTimedOut, domain.ReasonTimedOut},
		{"at its deadline exactly it no longer blocks", valve("v-1"), ptr(now),
			actuation.Request{ValveID: "v-1", Command: domain.CommandOpen}, "", domain.ActuationTimedOut, domain.ReasonTimedOut},
		{"STOP after the deadline times the open one out rather than stopping it", valve("v-1"), ptr(now.Add(-time.Second)),
			actuation.Request{ValveID: "v-1", Command: domain.CommandStop}, "", domain.ActuationTimedOut, domain.ReasonTimedOut},
		{"an offline valve refuses a command", offline("v-1"), nil, actuation.Request{ValveID: "v-1", Command: domain.CommandOpen}, "valve_unavailable", "", ""},
		{"an offline valve takes STOP", offline("v-1"), nil, actuation.Request{ValveID: "v-1", Command: domain.CommandStop}, "", "", ""},
		{"an offline valve takes a command with an override", offline("v-1"), nil,
			actuation.Request{ValveID: "v-1", Command: domain.CommandClose, OverrideReason: "isolate the leak"}, "", "", ""},
		{"a valve in maintenance refuses a command", inMaintenance("v-1"), nil, actuation.Request{ValveID: "v-1", Command: domain.CommandIndex}, "valve_unavailable", "", ""},
		{"a valve in maintenance takes STOP", inMaintenance("v-1"), nil, actuation.Request{ValveID: "v-1", Command: domain.CommandStop}, "", "", ""},
		{"a retired valve refuses a command", retired("v-1"), nil, actuation.Request{ValveID: "v-1", Command: domain.CommandOpen}, "valve_retired", "", ""},
		{"a retired valve refuses STOP", retired("v-1"), nil, actuation.Request{ValveID: "v-1", Command: domain.CommandStop}, "valve_retired", "", ""},
		{"a retired valve refuses an override", retired("v-1"), nil,
			actuation.Request{ValveID: "v-1", Command: domain.CommandOpen, OverrideReason: "please"}, "valve_retired", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(tc.valve)
			if tc.open != nil {
				st.open("v-1", "act-old", *tc.open)
			}
			pub := &publisher{}
			a, err := service(st, pub).Actuate(t.Context(), tc.request)
			if tc.want != "" {
				var rule *domain.RuleError
				var conflict *domain.ConflictError
				if (!errors.As(err, &rule) || rule.Code != tc.want) && (!errors.As(err, &conflict) || conflict.Code != tc.want) {
					t.Fatalf("err = %v, want %s", err, tc.want)
				}
				if st.starts != 0 || len(pub.topics) != 0 || len(st.events) != 0 {
					t.Errorf("%d starts, %d publishes, events %v: a refused command writes and sends nothing", st.starts, len(pub.topics), st.eventTypes())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.State != domain.ActuationSent || st.actuations[a.ID].State != domain.ActuationSent || st.valves["v-1"].OpenActuation != a.ID {
				t.Errorf("answered %s, stored %s, valve holds %q: want sent, held by %s", a.State, st.actuations[a.ID].State, st.valves["v-1"].OpenActuation, a.ID)
			}
			if !a.Deadline.Equal(now.Add(domain.ActuationTimeout)) {
				t.Errorf("deadline %v, want %v", a.Deadline, now.Add(domain.ActuationTimeout))
			}
			var cmd struct {
				Command   string `json:"command"`
				RequestID string `json:"request_id"`
			}
			if len(pub.payloads) != 1 || pub.topics[0] != "valves/v-1/command" || json.Unmarshal(pub.payloads[0], &cmd) != nil ||
				cmd.Command != tc.request.Command || cmd.RequestID != a.ID {
				t.Errorf("published %v %q, want the command with its actuation id on valves/v-1/command", pub.topics, pub.payloads)
			}
			want := []string{domain.EventActuationRequested, domain.EventActuationSent}
			if tc.closedState != "" {
				old := st.actuations["act-old"]
				if old.State != tc.closedState || old.Reason != tc.closedReason || old.CompletedAt == nil {
					t.Errorf("the open one: %+v, want %s (%s)", old, tc.closedState, tc.closedReason)
				}
				closeEvent := map[string]string{domain.ActuationFailed: domain.EventActuationFailed, domain.ActuationTimedOut: domain.EventActuationTimedOut}[tc.closedState]
				want = []string{closeEvent, domain.EventActuationRequested, domain.EventActuationSent}
			}
			if got := st.eventTypes(); !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
			if tc.request.OverrideReason != "" {
				var data struct {
					Override *struct{ Reason string } `json:"override"`
				}
				if err := json.Unmarshal(st.events[0].Data, &data); err != nil || data.Override == nil || data.Override.Reason != tc.request.OverrideReason {
					t.Errorf("requested event %s: want the override written in", st.events[0].Data)
				}
			}
		})
	}
}

// What a request says of itself is checked before anything is read.
func TestABadRequestReadsNothing(t *testing.T) {
	for _, r := range []actuation.Request{
		{ValveID: "v-1", Command: "open"},
		{ValveID: "v-1", Command: ""},
		{ValveID: "v-1", Command: domain.CommandOpen, Params: domain.ActuationParams{Speed: ptr(1.5)}},
		{ValveID: "v-1", Command: domain.CommandOpen, Params: domain.ActuationParams{TorqueLimitNm: ptr(0.0)}},
		{ValveID: "v-1", Command: domain.CommandOpen, Params: domain.ActuationParams{TargetAngleDeg: ptr(361.0)}},
	} {
		st := newStore() // no valve: a read would be ErrNotFound
		if _, err := service(st, &publisher{}).Actuate(t.Context(), r); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%+v: err = %v, want ErrInvalid", r, err)
		}
	}
	if _, err := service(newStore(), &publisher{}).Actuate(t.Context(), actuation.Request{ValveID: "v-404", Command: domain.CommandOpen}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("an unknown valve: err = %v, want ErrNotFound", err)
	}
}

// A command the broker does not take is recorded as rejected and frees
// the valve; the client is told ErrUndeliverable (503) and may retry.
func TestAnUndeliveredCommandIsRejected(t *testing.T) {
	st := newStore(valve("v-1"))
	pub := &publisher{err: errors.New("broker down")}
	a, err := service(st, pub).Actuate(t.Context(), actuation.Request{ValveID: "v-1", Command: domain.CommandOpen})
	if !errors.Is(err, actuation.ErrUndeliverable) {
		t.Fatalf("err = %v, want ErrUndeliverable", err)
	}
	stored := st.actuations[a.ID]
	if a.State != domain.ActuationRejected || stored.State != domain.ActuationRejected || stored.Reason != domain.ReasonUndeliverable || st.valves["v-1"].OpenActuation != "" {
		t.Errorf("answered %+v, stored %+v, valve %+v: want rejected as undeliverable and the valve free", a, stored, st.valves["v-1"])
	}
	if got, want := st.eventTypes(), []string{domain.EventActuationRequested, domain.EventActuationRejected}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// The retry-on-conflict branches of Actuate: a start that loses a race to a
// change that does not block it (the open actuation just ended) is tried
// again; one that keeps losing is a 409; a device that answered before the
// sending was recorded leaves the actuation further on, which is no error.
func TestAnActuationThatMeetsAnotherChange(t *testing.T) {
	t.Run("the open actuation ended meanwhile: started on the second try", func(t *testing.T) {
		st := newStore(valve("v-1"))
		st.open("v-1", "act-old", now.Add(-time.Second)) // past due: the start closes it
		st.beforeStart = func(n int) {
			if n == 1 { // the device's DONE lands first
				v := st.valves["v-1"]
				v.OpenActuation, v.OpenDeadline = "", nil
				st.valves["v-1"] = v
			}
		}
		a, err := service(st, &publisher{}).Actuate(t.Context(), actuation.Request{ValveID: "v-1", Command: domain.CommandOpen})
		if err != nil {
			t.Fatal(err)
		}
		if st.starts != 2 || st.valves["v-1"].OpenActuation != a.ID {
			t.Errorf("%d starts, valve holds %q: want the second start to land", st.starts, st.valves["v-1"].OpenActuation)
		}
	})
	t.Run("another command took the valve meanwhile: 409 on the next read", func(t *testing.T) {
		st := newStore(valve("v-1"))
		st.beforeStart = func(n int) {
			if n == 1 {
				st.open("v-1", "act-other", now.Add(10*time.Second))
			}
		}
		pub := &publisher{}
		_, err := service(st, pub).Actuate(t.Context(), actuation.Request{ValveID: "v-1", Command: domain.CommandOpen})
		var conflict *domain.ConflictError
		if !errors.As(err, &conflict) || conflict.Code != "actuation_in_progress" || len(pub.topics) != 0 {
			t.Errorf("err = %v, %d publishes; want actuation_in_progress and nothing sent", err, len(pub.topics))
		}
	})
	t.Run("a conflict that never clears: 409 after a bounded number of tries", func(t *testing.T) {
		st := newStore(valve("v-1"))
		st.beforeStart = func(n int) {
			// another actuation, past due, every time: never blocking,
			// never the one the start closes
			st.open("v-1", "act-ghost-"+strconv.Itoa(n), now.Add(-time.Second))
		}
		_, err := service(st, &publisher{}).Actuate(t.Context(), actuation.Request{ValveID: "v-1", Command: domain.CommandOpen})
		var conflict *domain.ConflictError
		if !errors.As(err, &conflict) || conflict.Code != "actuation_in_progress" {
			t.Fatalf("err = %v, want actuation_in_progress", err)
		}
		if st.starts < 2 || st.starts > 5 {
			t.Errorf("%d tries, want a few", st.starts)
		}
	})
	t.Run("the device answered before the sending was recorded", func(t *testing.T) {
		st := newStore(valve("v-1"))
		st.beforeMove = func(t actuation.Transition) {
			if t.To == domain.ActuationSent {
				a := st.actuations[t.ActuationID]
				a.State = domain.ActuationInProgress
				st.actuations[a.ID] = a
			}
		}
		a, err := service(st, &publisher{}).Actuate(t.Context(), actuation.Request{ValveID: "v-1", Command: domain.CommandOpen})
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
		if st.actuations[a.ID].State != domain.ActuationInProgress {
			t.Errorf("stored %s, want in_progress left as the device put it", st.actuations[a.ID].State)
		}
	})
}

// The timeout schedule ends what is due as timed_out, with an event and a
// page each; one that ended meanwhile is passed over, not counted.
func TestTimeoutsEndWhatIsDue(t *testing.T) {
	st := newStore(valve("v-1"), valve("v-2"), valve("v-3"))
	st.open("v-1", "act-1", now.Add(-time.Second))
	st.open("v-2", "act-2", now.Add(-2*time.Second))
	st.open("v-3", "act-3", now.Add(-3*time.Second))
	done := st.actuations["act-2"]
	done.State = domain.ActuationSucceeded // its DONE came in after the schedule read it
	st.actuations["act-2"] = done
	due := dueStore{fakeStore: st, due: []domain.Actuation{st.actuations["act-1"], st.actuations["act-2"], st.actuations["act-3"]}}
	n := &notifier{}
	got, err := actuation.NewTimeouts(due, n, func() time.Time { return now }, nil).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got != 2 || len(n.subjects) != 2 {
		t.Errorf("ended %d, paged %v; want 2 and 2", got, n.subjects)
	}
	for id, want := range map[string]string{"act-1": domain.ActuationTimedOut, "act-2": domain.ActuationSucceeded, "act-3": domain.ActuationTimedOut} {
		if a := st.actuations[id]; a.State != want {
			t.Errorf("%s: %s, want %s", id, a.State, want)
		}
	}
	if st.valves["v-1"].OpenActuation != "" || st.valves["v-3"].OpenActuation != "" {
		t.Errorf("a timed-out actuation must free its valve: %+v %+v", st.valves["v-1"], st.valves["v-3"])
	}
}

type dueStore struct {
	*fakeStore
	due []domain.Actuation
}

func (d dueStore) OpenActuationsDue(context.Context, time.Time, int) ([]domain.Actuation, error) {
	return d.due, nil
}

type notifier struct{ subjects []string }

func (n *notifier) Notify(_ context.Context, subject, _ string) error {
	n.subjects = append(n.subjects, subject)
	return nil
}
