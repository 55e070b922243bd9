package actuation_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
)

// A valve's reports move its actuation on, forward only, over an in-memory
// store (reportStore) that keeps the real one's promise: a report applies
// only to an open actuation and only past the last step applied. End to
// end, through the broker and the ingest function: shared/local/stack's
// device tests.

type reportStore struct {
	actuations map[string]domain.Actuation
	steps      map[string]int
	applied    []actuation.Progress
	err        error // ApplyStatus fails with it, when set
}

func (r *reportStore) Actuation(_ context.Context, valveID, id string) (domain.Actuation, error) {
	a, ok := r.actuations[id]
	if !ok || a.ValveID != valveID {
		return domain.Actuation{}, domain.ErrNotFound
	}
	return a, nil
}

func (r *reportStore) ApplyStatus(_ context.Context, p actuation.Progress) error {
	if r.err != nil {
		return r.err
	}
	a := r.actuations[p.ActuationID]
	if !slices.Contains(domain.OpenActuationStates, a.State) || p.Step <= r.steps[a.ID] {
		return domain.ErrConflict
	}
	a.State, a.Reason, a.TorqueNm, a.DurationMs = p.To, p.Reason, p.TorqueNm, p.DurationMs
	r.actuations[a.ID], r.steps[a.ID] = a, p.Step
	r.applied = append(r.applied, p)
	return nil
}

func TestAValvesReportsMoveItsActuationForwardOnly(t *testing.T) {
	requested := now.Add(-1500 * time.Millisecond)
	for _, tc := range []struct {
		name       string
		state      string // of act-1 before
		step       int    // the last step applied to act-1
		report     actuation.Report
		bad        bool   // a BadReport
		wantState  string // of act-1 after
		wantReason string
		wantEvent  string // "" when nothing was applied
		ended      bool
		paged      bool
	}{
		{"IDLE says nothing of an actuation", domain.ActuationSent, 0,
			actuation.Report{ValveID: "v-1", State: "IDLE", RequestID: "act-1"}, false, domain.ActuationSent, "", "", false, false},
		{"ALIGNING starts it", domain.ActuationSent, 0,
			actuation.Report{ValveID: "v-1", State: "ALIGNING", RequestID: "act-1"}, false, domain.ActuationInProgress, "", domain.EventActuationProgress, false, false},
		{"a report may come before the sending was recorded", domain.ActuationQueued, 0,
			actuation.Report{ValveID: "v-1", State: "ACTUATING", RequestID: "act-1"}, false, domain.ActuationInProgress, "", domain.EventActuationProgress, false, false},
		{"DONE succeeds, with torque and duration", domain.ActuationInProgress, 3,
			actuation.Report{ValveID: "v-1", State: "DONE", RequestID: "act-1", TorqueNm: ptr(41.5)}, false, domain.ActuationSucceeded, "", domain.EventActuationCompleted, true, false},
		{"ERROR fails it", domain.ActuationInProgress, 2,
			actuation.Report{ValveID: "v-1", State: "ERROR", RequestID: "act-1"}, false, domain.ActuationFailed, "device_error", domain.EventActuationFailed, true, true},
		{"an interlock fails it whatever the state", domain.ActuationInProgress, 1,
			actuation.Report{ValveID: "v-1", State: "ACTUATING", RequestID: "act-1", OverTorque: true}, false, domain.ActuationFailed, "over_torque", domain.EventActuationFailed, true, true},
		{"even with DONE", domain.ActuationInProgress, 3,
			actuation.Report{ValveID: "v-1", State: "DONE", RequestID: "act-1", OverTemp: true}, false, domain.ActuationFailed, "over_temp", domain.EventActuationFailed, true, true},
		{"e-stop is named before the others", domain.ActuationInProgress, 1,
			actuation.Report{ValveID: "v-1", State: "ACTUATING", RequestID: "act-1", EStop: true, OverTorque: true}, false, domain.ActuationFailed, "e_stop", domain.EventActuationFailed, true, true},
		{"a late step changes nothing", domain.ActuationInProgress, 3,
			actuation.Report{ValveID: "v-1", State: "ACTUATING", RequestID: "act-1"}, false, domain.ActuationInProgress, "", "", false, false},
		{"the same step again changes nothing", domain.ActuationInProgress, 2,
			actuation.Report{ValveID: "v-1", State: "ACTUATING", RequestID: "act-1"}, false, domain.ActuationInProgress, "", "", false, false},
		{"DONE after a STOP changes nothing", domain.ActuationFailed, 2,
			actuation.Report{ValveID: "v-1", State: "DONE", RequestID: "act-1"}, false, domain.ActuationFailed, "", "", false, false},
		{"DONE after the deadline's time-out changes nothing", domain.ActuationTimedOut, 1,
			actuation.Report{ValveID: "v-1", State: "DONE", RequestID: "act-1"}, false, domain.ActuationTimedOut, "", "", false, false},
		{"a state that is none", domain.ActuationSent, 0,
			actuation.Report{ValveID: "v-1", State: "SPINNING", RequestID: "act-1"}, true, domain.ActuationSent, "", "", false, false},
		{"a request id that is no id", domain.ActuationSent, 0,
			actuation.Report{ValveID: "v-1", State: "DONE", RequestID: "act/1"}, true, domain.ActuationSent, "", "", false, false},
		{"an actuation the valve does not have", domain.ActuationSent, 0,
			actuation.Report{ValveID: "v-2", State: "DONE", RequestID: "act-1"}, true, domain.ActuationSent, "", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &reportStore{
				actuations: map[string]domain.Actuation{"act-1": {ID: "act-1", ValveID: "v-1", Command: domain.CommandOpen, State: tc.state, RequestedAt: requested}},
				steps:      map[string]int{"act-1": tc.step},
			}
			n := &notifier{}
			out, err := actuation.NewReports(st, n, func() time.Time { return now }, nil).Apply(t.Context(), tc.report)
			var bad *actuation.BadReport
			if tc.bad != errors.As(err, &bad) || (!tc.bad && err != nil) {
				t.Fatalf("err = %v, want a BadReport: %v", err, tc.bad)
			}
			a := st.actuations["act-1"]
			if a.State != tc.wantState || a.Reason != tc.wantReason {
				t.Errorf("actuation %s (%s), want %s (%s)", a.State, a.Reason, tc.wantState, tc.wantReason)
			}
			if tc.wantEvent == "" {
				if len(st.applied) != 0 {
					t.Errorf("applied %+v, want nothing", st.applied)
				}
			} else if len(st.applied) != 1 || st.applied[0].Event.Type != tc.wantEvent || st.applied[0].Final != tc.ended {
				t.Errorf("applied %+v, want one %s (final %v)", st.applied, tc.wantEvent, tc.ended)
			}
			if out.Ended != tc.ended || (tc.ended && (out.Command != domain.CommandOpen || out.Result != tc.wantState)) {
				t.Errorf("outcome %+v, want ended %v with OPEN and %s", out, tc.ended, tc.wantState)
			}
			if tc.wantState == domain.ActuationSucceeded && tc.wantEvent != "" {
				if a.TorqueNm == nil || *a.TorqueNm != 41.5 || a.DurationMs == nil || *a.DurationMs != 1500 {
					t.Errorf("torque %v, duration %v; want 41.5 Nm, 1500 ms", a.TorqueNm, a.DurationMs)
				}
			}
			if got := len(n.subjects) > 0; got != tc.paged {
				t.Errorf("paged %v (%v), want %v", got, n.subjects, tc.paged)
			}
		})
	}
	t.Run("a store that fails is an error to retry, not a bad report", func(t *testing.T) {
		st := &reportStore{
			actuations: map[string]domain.Actuation{"act-1": {ID: "act-1", ValveID: "v-1", State: domain.ActuationSent}},
			steps:      map[string]int{},
			err:        errors.New("table unreachable"),
		}
		_, err := actuation.NewReports(st, nil, func() time.Time { return now }, nil).Apply(t.Context(),
			actuation.Report{ValveID: "v-1", State: "DONE", RequestID: "act-1"})
		var bad *actuation.BadReport
		if err == nil || errors.As(err, &bad) {
			t.Errorf("err = %v, want a plain error", err)
		}
	})
}
