package stack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Until December 2026 the stack kept its table in an in-process emulator
// (minidyn) and saved it as two files in the data folder: a snapshot of
// every item (dynamodb.json) and a journal of the write requests made
// since (dynamodb.journal). A data folder written then is migrated at the
// first start on DynamoDB Local: the snapshot's items are put, the
// journal's requests replayed in order, and a marker written once all of
// it is in. The old files are left where they are, to be deleted by hand.
// A start interrupted before the marker redoes the migration from an
// empty table, so nothing is applied twice (the journal has ADDs).
const (
	legacySnapshot = "dynamodb.json"
	legacyJournal  = "dynamodb.journal"
	journalMagic   = "plainview-dynamodb-journal"
	migratedMarker = "migrated-from-minidyn"
)

// legacyFiles reports whether dir holds the old emulator's files.
func legacyFiles(dir string) bool {
	for _, f := range []string{legacySnapshot, legacyJournal} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// legacySnapshotFile is the old snapshot: the items in DynamoDB JSON, and
// where in the journal it was taken (records of earlier generations, and
// the first Offset bytes of this one's, are in it).
type legacySnapshotFile struct {
	Table      string            `json:"table"`
	Generation int64             `json:"generation,omitempty"`
	Offset     *int64            `json:"offset,omitempty"`
	Items      []json.RawMessage `json:"items"`
}

// migration writes an old data folder into a DynamoDB over its HTTP API.
type migration struct {
	dir      string // the data folder with the old files
	table    string
	endpoint string
	cfg      aws.Config
	http     *http.Client
}

// run migrates the old files into the table, which must exist and be
// empty, and answers how many items and journal records it applied.
func (m *migration) run(ctx context.Context) (items, records int, err error) {
	snap, err := m.readSnapshot()
	if err != nil {
		return 0, 0, err
	}
	if err := m.putItems(ctx, snap.Items); err != nil {
		return 0, 0, err
	}
	records, err = m.replay(ctx, snap.Generation, snap.Offset)
	return len(snap.Items), records, err
}

func (m *migration) readSnapshot() (legacySnapshotFile, error) {
	var snap legacySnapshotFile
	path := filepath.Join(m.dir, legacySnapshot)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return snap, nil
	}
	if err != nil {
		return snap, fmt.Errorf("migrate %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		return snap, fmt.Errorf("migrate %s: %w", path, err)
	}
	if snap.Table != m.table {
		return snap, fmt.Errorf("migrate %s: it holds table %q, not %q (set TABLE_NAME to %q)", path, snap.Table, m.table, snap.Table)
	}
	for i, it := range snap.Items {
		if snap.Items[i], err = repairItem(it); err != nil {
			return snap, fmt.Errorf("migrate %s: item %d: %w", path, i, err)
		}
	}
	return snap, nil
}

// repairItem drops the attributes the old emulator saved without a type:
// it answered an empty map or list as {} (the bug that made such a data
// folder unreadable), and what was empty reads the same as what is absent
// to the store.
func repairItem(raw json.RawMessage) (json.RawMessage, error) {
	var item map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &item); err != nil {
		return nil, err
	}
	for name, v := range item {
		if len(v) == 0 {
			delete(item, name)
		}
	}
	return json.Marshal(item)
}

func (m *migration) putItems(ctx context.Context, items []json.RawMessage) error {
	const batch = 25 // BatchWriteItem's limit
	for i := 0; i < len(items); i += batch {
		var reqs []any
		for _, it := range items[i:min(i+batch, len(items))] {
			reqs = append(reqs, map[string]any{"PutRequest": map[string]any{"Item": it}})
		}
		body, _ := json.Marshal(map[string]any{"RequestItems": map[string]any{m.table: reqs}})
		for {
			code, answer, err := m.call(ctx, "BatchWriteItem", body)
			if err != nil {
				return fmt.Errorf("migrate snapshot: %w", err)
			}
			if code != http.StatusOK {
				return fmt.Errorf("migrate snapshot: BatchWriteItem: %d %s", code, answer)
			}
			var out struct {
				UnprocessedItems map[string]json.RawMessage
			}
			if err := json.Unmarshal(answer, &out); err != nil {
				return fmt.Errorf("migrate snapshot: %w", err)
			}
			rest, ok := out.UnprocessedItems[m.table]
			if !ok || string(rest) == "[]" {
				break
			}
			body, _ = json.Marshal(map[string]any{"RequestItems": map[string]json.RawMessage{m.table: rest}})
		}
	}
	return nil
}

// writeOps are the operations a journal record may hold.
var writeOps = map[string]bool{
	"PutItem": true, "UpdateItem": true, "DeleteItem": true,
	"BatchWriteItem": true, "TransactWriteItems": true,
}

// maxRequest is DynamoDB's own limit on a request (16 MB for a batch).
const maxRequest = 16 << 20

// replay sends the journal's write requests that the snapshot does not
// hold, in order. A write that failed when it was made (a condition not
// met) fails again and is skipped, as it was; any other failure stops the
// migration. A record cut short is where a crash stopped an append: its
// request was never answered, so it is dropped.
func (m *migration) replay(ctx context.Context, snapGen int64, snapOffset *int64) (int, error) {
	path := filepath.Join(m.dir, legacyJournal)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("migrate journal: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	head, err := r.ReadString('\n')
	gen, ok := strings.CutPrefix(strings.TrimSuffix(head, "\n"), journalMagic+" ")
	g, gerr := strconv.ParseInt(gen, 10, 64)
	switch {
	case err == io.EOF:
		return 0, nil // the header cut short: no write after it
	case err != nil || !ok || gerr != nil:
		return 0, fmt.Errorf("migrate journal %s: not a journal (first line %q); move it away to migrate the snapshot alone", path, head)
	case g < snapGen, g == snapGen && snapOffset == nil:
		return 0, nil // the snapshot was written after it
	}
	var skip int64 // the records the snapshot holds
	if g == snapGen {
		skip = *snapOffset
	}
	var at int64
	applied := 0
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			return applied, nil
		}
		if err != nil {
			return applied, fmt.Errorf("migrate journal: %w", err)
		}
		op, size, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		n, err := strconv.Atoi(size)
		if !ok || err != nil || n < 0 || n > maxRequest || !writeOps[op] {
			return applied, fmt.Errorf("migrate journal %s: damaged record header %q", path, line)
		}
		body := make([]byte, n+1)
		if _, err := io.ReadFull(r, body); err != nil {
			return applied, nil // cut short
		}
		if body[n] != '\n' {
			return applied, fmt.Errorf("migrate journal %s: damaged record after %q", path, line)
		}
		at += int64(len(line) + len(body))
		if at <= skip {
			continue
		}
		code, answer, err := m.call(ctx, op, body[:n])
		if err != nil {
			return applied, fmt.Errorf("migrate journal: %s: %w", op, err)
		}
		if code != http.StatusOK && !bytes.Contains(answer, []byte("ConditionalCheckFailed")) && !bytes.Contains(answer, []byte("TransactionCanceled")) {
			return applied, fmt.Errorf("migrate journal: %s: %d %s", op, code, answer)
		}
		applied++
	}
}

// call sends one DynamoDB API request, signed as the SDK signs it
// (DynamoDB Local wants a signature, though it does not check it).
func (m *migration) call(ctx context.Context, op string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	creds, err := m.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return 0, nil, err
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "dynamodb", m.cfg.Region, time.Now()); err != nil {
		return 0, nil, err
	}
	res, err := m.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	return res.StatusCode, answer, err
}
