package localstack

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/store"
)

// table is one dynamo over a data folder, served over HTTP as the stack
// serves it, with the real DynamoDB client in front.
type table struct {
	d  *dynamo
	db *dynamodb.Client
}

// open starts a dynamo on dir as Start does: the table, then the load.
func open(t *testing.T, dir string) table {
	t.Helper()
	d := newDynamo("plainview", filepath.Join(dir, "dynamodb.json"))
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	if err := store.New(store.NewClient(store.LocalConfig(), srv.URL), "plainview", nil).CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Load(); err != nil {
		t.Fatalf("load: %v", err)
	}
	return table{d: d, db: store.NewClient(store.LocalConfig(), srv.URL)}
}

// add adds n to a counter: an ADD, which counts twice if applied twice.
func (tb table) add(t *testing.T, name string, n int) {
	t.Helper()
	_, err := tb.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String("plainview"),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "COUNTER#" + name}, "sk": &types.AttributeValueMemberS{Value: "META"},
		},
		UpdateExpression:          aws.String("ADD #n :n"),
		ExpressionAttributeNames:  map[string]string{"#n": "n"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: strconv.Itoa(n)}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// counter answers a counter's value; -1 when it is not there.
func (tb table) counter(t *testing.T, name string) int {
	t.Helper()
	out, err := tb.db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String("plainview"),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "COUNTER#" + name}, "sk": &types.AttributeValueMemberS{Value: "META"},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	n, ok := out.Item["n"].(*types.AttributeValueMemberN)
	if !ok {
		return -1
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestNothingWrittenMeansNoSnapshot(t *testing.T) {
	dir := t.TempDir()
	tb := open(t, dir)
	for _, force := range []bool{false, true} {
		if err := tb.d.Save(force); err != nil {
			t.Fatal(err)
		}
	}
	if exists(t, tb.d.path) || exists(t, tb.d.journalPath) {
		t.Errorf("a table never written to left files behind")
	}
}

func TestWritesGoToTheJournalAndTheFinalSaveSnapshotsThem(t *testing.T) {
	dir := t.TempDir()
	tb := open(t, dir)
	tb.add(t, "a", 1)
	tb.add(t, "a", 2)
	if err := tb.d.Save(false); err != nil {
		t.Fatal(err)
	}
	if exists(t, tb.d.path) {
		t.Errorf("a small journal was compacted on a periodic save: the snapshot is there")
	}
	if !exists(t, tb.d.journalPath) {
		t.Fatalf("no journal after two writes")
	}
	if err := tb.d.Save(true); err != nil {
		t.Fatal(err)
	}
	if !exists(t, tb.d.path) || exists(t, tb.d.journalPath) {
		t.Fatalf("after the final save: snapshot there %v, journal there %v; want the snapshot alone",
			exists(t, tb.d.path), exists(t, tb.d.journalPath))
	}
	before, err := os.Stat(tb.d.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.d.Save(true); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(tb.d.path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("a save with no write since the last snapshot wrote it again")
	}
	if got := open(t, dir).counter(t, "a"); got != 3 {
		t.Errorf("after a restart the counter is %d, want 3", got)
	}
}

func TestAJournalIsReplayedAfterACrash(t *testing.T) {
	dir := t.TempDir()
	tb := open(t, dir)
	tb.add(t, "a", 1)
	if err := tb.d.Save(true); err != nil { // a snapshot, then more writes
		t.Fatal(err)
	}
	tb.add(t, "a", 10)
	tb.add(t, "b", 5)
	// No save: the process is gone, only the files are left.
	again := open(t, dir)
	if a, b := again.counter(t, "a"), again.counter(t, "b"); a != 11 || b != 5 {
		t.Errorf("after a crash: a = %d, b = %d; want 11 and 5", a, b)
	}
	if exists(t, again.d.journalPath) {
		t.Errorf("the replayed journal is still there; the load should compact it")
	}
	again.add(t, "a", 100)
	if got := open(t, dir).counter(t, "a"); got != 111 {
		t.Errorf("after a second crash: a = %d, want 111", got)
	}
}

func TestAJournalTheSnapshotHoldsIsNotAppliedTwice(t *testing.T) {
	dir := t.TempDir()
	tb := open(t, dir)
	tb.add(t, "a", 1)
	tb.add(t, "a", 2)
	journal, err := os.ReadFile(tb.d.journalPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.d.Save(true); err != nil {
		t.Fatal(err)
	}
	// A crash after the snapshot's rename, before the journal's removal.
	if err := os.WriteFile(tb.d.journalPath, journal, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := open(t, dir).counter(t, "a"); got != 3 {
		t.Errorf("a = %d, want 3: the journal was applied over the snapshot that holds it", got)
	}
}

func TestARecordCutShortIsDropped(t *testing.T) {
	dir := t.TempDir()
	tb := open(t, dir)
	tb.add(t, "a", 1)
	tb.add(t, "a", 2)
	fi, err := os.Stat(tb.d.journalPath)
	if err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of the second append.
	if err := os.Truncate(tb.d.journalPath, fi.Size()-5); err != nil {
		t.Fatal(err)
	}
	again := open(t, dir)
	if got := again.counter(t, "a"); got != 1 {
		t.Errorf("a = %d, want 1: the first write alone", got)
	}
	again.add(t, "a", 4) // appended to a fresh journal, not after the torn record
	if got := open(t, dir).counter(t, "a"); got != 5 {
		t.Errorf("after writing on: a = %d, want 5", got)
	}
}

func TestADamagedJournalStopsTheLoad(t *testing.T) {
	dir := t.TempDir()
	d := newDynamo("plainview", filepath.Join(dir, "dynamodb.json"))
	if err := os.WriteFile(d.journalPath, []byte("something else\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	defer srv.Close()
	if err := store.New(store.NewClient(store.LocalConfig(), srv.URL), "plainview", nil).CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Load(); err == nil {
		t.Errorf("a file that is not a journal was loaded")
	}
}

func TestAPeriodicSaveCompactsAGrownJournal(t *testing.T) {
	tb := open(t, t.TempDir())
	tb.d.minJournal = 1
	tb.add(t, "a", 1)
	if err := tb.d.Save(false); err != nil {
		t.Fatal(err)
	}
	if !exists(t, tb.d.path) || exists(t, tb.d.journalPath) {
		t.Errorf("a journal over the threshold was not compacted")
	}
}

func TestCompactionsAreSpacedByTheirCost(t *testing.T) {
	t0 := time.Unix(1_795_000_000, 0)
	now := t0
	d := &dynamo{minJournal: 100, compactBudget: 0.10, now: func() time.Time { return now }}
	d.lastCost, d.lastEnd, d.snapshotBytes = time.Second, t0, 1000
	for _, c := range []struct {
		after time.Duration
		size  int64
		want  bool
	}{
		{10 * time.Second, 99, false},  // under the threshold
		{10 * time.Second, 999, false}, // smaller than the snapshot: a replay costs less than a compaction
		{8 * time.Second, 5000, false}, // a second of compaction every 9 s would be over 10 %
		{9 * time.Second, 5000, true},
	} {
		now = t0.Add(c.after)
		if got := d.compactDue(c.size); got != c.want {
			t.Errorf("%v after a 1 s compaction, journal %d bytes, snapshot 1000: due = %v, want %v", c.after, c.size, got, c.want)
		}
	}
}

func TestWritesDuringACompactionStayInTheJournal(t *testing.T) {
	dir := t.TempDir()
	tb := open(t, dir)
	tb.add(t, "a", 1)
	tb.add(t, "a", 2)
	var whole []byte // the journal as a crash before its trim would leave it
	tb.d.whileWriting = func() {
		tb.add(t, "a", 10) // after the snapshot's cut
		var err error
		if whole, err = os.ReadFile(tb.d.journalPath); err != nil {
			t.Error(err)
		}
	}
	if err := tb.d.Save(true); err != nil {
		t.Fatal(err)
	}
	tb.d.whileWriting = nil
	if !exists(t, tb.d.journalPath) {
		t.Fatal("the write made during the compaction is in no journal")
	}
	if got := open(t, dir).counter(t, "a"); got != 13 {
		t.Errorf("after a restart a = %d, want 13", got)
	}

	// The same, had the process died between the snapshot and the trim.
	dir2 := t.TempDir()
	tb2 := open(t, dir2)
	tb2.add(t, "a", 1)
	tb2.add(t, "a", 2)
	tb2.d.whileWriting = func() {
		tb2.add(t, "a", 10)
		var err error
		if whole, err = os.ReadFile(tb2.d.journalPath); err != nil {
			t.Error(err)
		}
	}
	if err := tb2.d.Save(true); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tb2.d.journalPath, whole, 0o600); err != nil {
		t.Fatal(err)
	}
	again := open(t, dir2)
	if got := again.counter(t, "a"); got != 13 {
		t.Errorf("after a crash before the trim a = %d, want 13: the journal is replayed from the snapshot's cut", got)
	}
	// And the load's own compaction, had it died before removing the
	// journal it replayed.
	if err := os.WriteFile(again.d.journalPath, whole, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := open(t, dir2).counter(t, "a"); got != 13 {
		t.Errorf("after a crash in the load's compaction a = %d, want 13", got)
	}
}
