package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// legacyFolder writes a data folder as the minidyn releases left it: a
// snapshot of the table's items, with every empty map and list saved
// untyped ({}), as minidyn answered them, and a journal after it holding
// a write the snapshot lacks and a conditional write that failed.
func legacyFolder(t *testing.T, items []json.RawMessage, journal []string) string {
	t.Helper()
	dir := t.TempDir()
	for i, it := range items {
		items[i] = bytes.ReplaceAll(bytes.ReplaceAll(it, []byte(`{"L":[]}`), []byte(`{}`)), []byte(`{"M":{}}`), []byte(`{}`))
	}
	zero := int64(0)
	snap, _ := json.Marshal(legacySnapshotFile{Table: "plainview", Generation: 3, Offset: &zero, Items: items})
	if err := os.WriteFile(filepath.Join(dir, legacySnapshot), snap, 0o600); err != nil {
		t.Fatal(err)
	}
	var j strings.Builder
	fmt.Fprintf(&j, "%s 3\n", journalMagic)
	for i := 0; i < len(journal); i += 2 {
		fmt.Fprintf(&j, "%s %d\n%s\n", journal[i], len(journal[i+1]), journal[i+1])
	}
	j.WriteString("PutItem 9999\n{\"cut\":") // a record a crash cut short
	if err := os.WriteFile(filepath.Join(dir, legacyJournal), []byte(j.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAnOldDataFolderIsMigratedWithItsEmptyListsAndItsJournal(t *testing.T) {
	ctx := context.Background()
	endpoint, cfg := dynamotest.Endpoint(t)
	m := &migration{table: "plainview", endpoint: endpoint, cfg: cfg, http: &http.Client{Timeout: time.Minute}}

	// What an old release held: an incident with no modules, as its
	// store wrote it.
	srcDB, srcTable := dynamotest.Client(t)
	src := store.New(srcDB, srcTable, nil)
	if err := src.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	quiet := domain.Incident{ID: domain.NewID("inc", now), Title: "Pump 3 vibration", Severity: domain.SeverityWarning,
		Status: domain.IncidentActive, AffectedModules: []string{}, StartedAt: now, UpdatedAt: now, Version: 1}
	if err := src.CreateIncident(ctx, quiet, domain.TimelineEntry{At: now, Kind: "created", Message: "opened"},
		domain.Event{ID: domain.NewID("evt", now), Type: domain.EventIncidentCreated, At: now, Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	scan := func(table string) []json.RawMessage {
		m := *m
		m.table = table
		code, answer, err := m.call(ctx, "Scan", fmt.Appendf(nil, `{"TableName":%q}`, table))
		if err != nil || code != http.StatusOK {
			t.Fatalf("scan: %d %s %v", code, answer, err)
		}
		var out struct{ Items []json.RawMessage }
		json.Unmarshal(answer, &out)
		return out.Items
	}
	items := scan(srcTable)
	if !bytes.Contains(joined(items), []byte(`{"L":[]}`)) {
		t.Fatalf("the fixture holds no empty list: %s", joined(items))
	}
	later := `{"TableName":"plainview","Item":{"pk":{"S":"NOTE#1"},"sk":{"S":"META"},"n":{"N":"1"}}}`
	refused := `{"TableName":"plainview","Item":{"pk":{"S":"NOTE#1"},"sk":{"S":"META"},"n":{"N":"2"}},"ConditionExpression":"attribute_not_exists(pk)"}`
	m.dir = legacyFolder(t, items, []string{"PutItem", later, "PutItem", refused})

	db := store.NewClient(cfg, endpoint)
	st := store.New(db, "plainview", nil)
	dynamotest.DeleteAtEnd(t, db, "plainview")
	if err := st.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	n, records, err := m.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(items) || records != 2 {
		t.Errorf("migrated %d items and %d journal records, want %d and 2", n, records, len(items))
	}
	got, _, err := st.Incident(ctx, quiet.ID)
	if err != nil || got.Title != quiet.Title || len(got.AffectedModules) != 0 {
		t.Errorf("the incident after the migration: %+v %v", got, err)
	}
	notes := string(joined(scan("plainview")))
	if !strings.Contains(notes, `"NOTE#1"`) || !strings.Contains(notes, `{"N":"1"}`) {
		t.Errorf("the journal's write is missing, or the refused one was applied: %s", notes)
	}
}

func TestAnOldDataFolderIsRefusedOverAnotherDynamoDB(t *testing.T) {
	dir := legacyFolder(t, nil, nil)
	endpoint, _ := dynamotest.Endpoint(t)
	_, err := Start(context.Background(), Config{DynamoEndpoint: endpoint, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: dir, TableName: dynamotest.TableName(), Version: "test"})
	if err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("start over an old data folder with DYNAMODB_ENDPOINT: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, legacySnapshot)); err != nil {
		t.Errorf("the old snapshot: %v", err)
	}
}

func joined(items []json.RawMessage) []byte {
	var b bytes.Buffer
	for _, it := range items {
		b.Write(it)
	}
	return b.Bytes()
}
