package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// anomalyTable is a table whose store's clock stands at now, with the
// raw client to look at its items.
type anomalyTable struct {
	t     *testing.T
	db    *dynamodb.Client
	table string
	st    *store.Store
	now   time.Time
}

func newAnomalyTable(t *testing.T, now time.Time) *anomalyTable {
	t.Helper()
	db, table := dynamotest.Client(t)
	at := &anomalyTable{t: t, db: db, table: table, now: now, st: store.New(db, table, func() time.Time { return now })}
	if err := at.st.CreateTable(ctx); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return at
}

// record records the anomaly of device's flow at when, as ingestion does:
// found now, kept two hours.
func (at *anomalyTable) record(device string, when time.Time, severity string) domain.Anomaly {
	at.t.Helper()
	a := domain.Anomaly{ID: domain.AnomalyID(device, domain.MetricFlowRate, when), Device: device, Metric: domain.MetricFlowRate,
		At: when, Value: 1800, Mean: 1000, Deviation: 80, Severity: severity}
	ev := domain.NewEvent(domain.EventAnomalyDetected, device, "", at.now, map[string]string{"anomaly_id": a.ID})
	if err := at.st.RecordAnomaly(ctx, a, ev, at.now.Add(2*time.Hour)); err != nil {
		at.t.Fatalf("record %s: %v", a.ID, err)
	}
	return a
}

func (at *anomalyTable) counts(from, to time.Time) domain.AnomalyCounts {
	at.t.Helper()
	c, err := at.st.AnomalyCounts(ctx, from, to)
	if err != nil {
		at.t.Fatalf("anomaly counts: %v", err)
	}
	return c
}

// The counts of a window are those of the anomalies of its whole minutes,
// by severity: the minute before and the minute after are left out, the
// minute holding from is counted whole. They are the counts of the
// anomalies the same window lists, so they score as FlowHealth does.
func TestAnomalyCountsAreThoseOfTheWindowsMinutesBySeverity(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	at := newAnomalyTable(t, now)
	from := now.Add(-time.Hour).Truncate(time.Minute) // 11:00:00
	clock := func(h, m, s int) time.Time { return time.Date(2026, 3, 1, h, m, s, 0, time.UTC) }

	// In the window: 4 medium, 2 high, in four minutes.
	at.record("v-101", clock(11, 0, 10), domain.AnomalyHigh) // before now-1h, in its minute
	at.record("v-101", clock(11, 30, 0), domain.AnomalyMedium)
	at.record("v-102", clock(11, 30, 0), domain.AnomalyMedium)
	at.record("v-103", clock(11, 30, 0), domain.AnomalyMedium)
	at.record("v-104", clock(11, 59, 59), domain.AnomalyHigh)
	at.record("v-101", clock(12, 0, 20), domain.AnomalyMedium)
	// Out of it: the minute before, the minute after, hours before.
	at.record("v-101", clock(10, 59, 59), domain.AnomalyHigh)
	at.record("v-102", clock(12, 1, 0), domain.AnomalyMedium)
	at.record("v-102", clock(9, 0, 0), domain.AnomalyHigh)

	got := at.counts(from, now)
	if want := (domain.AnomalyCounts{Total: 6, Medium: 4, High: 2}); got != want {
		t.Errorf("counts of %v..%v = %+v, want %+v", from, now, got, want)
	}
	listed, err := at.st.Anomalies(ctx, from, now, time.Time{}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c := domain.CountAnomalies(listed); c != got {
		t.Errorf("the window lists %d anomalies (%+v), counted %+v", len(listed), c, got)
	}
	if score, want := domain.FlowHealthOfCounts(got), domain.FlowHealth(listed); score != want || score != 60 {
		t.Errorf("score from the counts = %d, FlowHealth of the listed anomalies = %d, want both 60", score, want)
	}

	if got := at.counts(clock(11, 31, 0), clock(11, 58, 59)); got != (domain.AnomalyCounts{}) {
		t.Errorf("counts of minutes without anomalies = %+v, want none", got)
	}
	if got, want := at.counts(clock(11, 30, 59), clock(11, 30, 59)), (domain.AnomalyCounts{Total: 3, Medium: 3}); got != want {
		t.Errorf("counts of one minute = %+v, want %+v", got, want)
	}

	// Past their TTL the counters count nothing, as the anomalies list
	// nothing, whether or not TTL has deleted them yet.
	later := store.New(at.db, at.table, func() time.Time { return now.Add(3 * time.Hour) })
	if c, err := later.AnomalyCounts(ctx, from, now); err != nil || c != (domain.AnomalyCounts{}) {
		t.Errorf("counts after the TTL = %+v, %v; want none", c, err)
	}
}

// An anomaly recorded again (a batch delivered twice, even at once) is
// counted once; anomalies recorded at once in one minute are each counted,
// over the four partitions of the counters.
func TestAnAnomalyIsCountedOnceHoweverOftenItIsRecorded(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	at := newAnomalyTable(t, now)
	minute := now.Truncate(time.Minute)

	at.record("v-101", minute.Add(time.Second), domain.AnomalyHigh)
	at.record("v-101", minute.Add(time.Second), domain.AnomalyHigh)
	if got, want := at.counts(minute, now), (domain.AnomalyCounts{Total: 1, High: 1}); got != want {
		t.Fatalf("recorded twice: counts %+v, want %+v", got, want)
	}

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			at.record("v-102", minute.Add(2*time.Second), domain.AnomalyMedium) // the same one, by each writer
			for i := range 5 {
				at.record(fmt.Sprintf("v-%d", 200+w*5+i), minute.Add(3*time.Second), domain.AnomalyMedium)
			}
		})
	}
	wg.Wait()
	if got, want := at.counts(minute, now), (domain.AnomalyCounts{Total: 42, Medium: 41, High: 1}); got != want {
		t.Errorf("after writers at once: counts %+v, want %+v", got, want)
	}

	for n := range 4 {
		out, err := at.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(at.table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("ANOMALYCOUNT#%d", n)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Items) != 1 {
			t.Errorf("ANOMALYCOUNT#%d has %d items, want the minute's counter (42 anomalies spread over four partitions)", n, len(out.Items))
		}
	}
}
