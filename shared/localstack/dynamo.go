package localstack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	miniserver "github.com/truora/minidyn/server"
)

// dynamo is minidyn's DynamoDB-compatible HTTP server with persistence:
// minidyn keeps tables in memory, so after every write the stack saves a
// snapshot of the table to disk, and loads it at start.
type dynamo struct {
	srv   http.Handler
	table string
	path  string      // the snapshot file
	dirty atomic.Bool // a write happened since the last snapshot
	mu    sync.Mutex  // one snapshot at a time
}

// writeOps are the DynamoDB operations that change data.
var writeOps = map[string]bool{
	"PutItem": true, "UpdateItem": true, "DeleteItem": true,
	"BatchWriteItem": true, "TransactWriteItems": true,
}

func newDynamo(table, path string) *dynamo {
	return &dynamo{srv: miniserver.NewServer(), table: table, path: path}
}

// ServeHTTP serves the DynamoDB API and notes writes for the next snapshot.
func (d *dynamo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if writeOps[operation(r)] {
		defer d.dirty.Store(true)
	}
	d.srv.ServeHTTP(w, r)
}

func operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	return t[strings.LastIndexByte(t, '.')+1:]
}

// call sends one DynamoDB API request to the in-process server.
func (d *dynamo) call(op string, in any, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	rec := httptest.NewRecorder()
	d.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("%s: %d %s", op, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}

// snapshotFile is what is saved: the table's items in DynamoDB JSON, as the
// DynamoDB API itself spells them, so no conversion can lose a type.
type snapshotFile struct {
	Table string            `json:"table"`
	Items []json.RawMessage `json:"items"`
}

// Save writes a snapshot if anything was written since the last one.
// It replaces the file atomically, so a crash leaves the previous one.
func (d *dynamo) Save(force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.dirty.Swap(false) && !force {
		return nil
	}
	snap := snapshotFile{Table: d.table, Items: []json.RawMessage{}}
	var start json.RawMessage
	for {
		in := map[string]any{"TableName": d.table}
		if start != nil {
			in["ExclusiveStartKey"] = start
		}
		var out struct {
			Items            []json.RawMessage
			LastEvaluatedKey json.RawMessage
		}
		if err := d.call("Scan", in, &out); err != nil {
			d.dirty.Store(true)
			return fmt.Errorf("snapshot: %w", err)
		}
		snap.Items = append(snap.Items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 || string(out.LastEvaluatedKey) == "null" || string(out.LastEvaluatedKey) == "{}" {
			break
		}
		start = out.LastEvaluatedKey
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := writeFileAtomic(d.path, b); err != nil {
		d.dirty.Store(true)
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// Load puts the items of the snapshot, if there is one, into the table,
// which must exist.
func (d *dynamo) Load() (int, error) {
	b, err := os.ReadFile(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load snapshot: %w", err)
	}
	var snap snapshotFile
	if err := json.Unmarshal(b, &snap); err != nil {
		return 0, fmt.Errorf("load snapshot %s: %w", d.path, err)
	}
	if snap.Table != d.table {
		return 0, fmt.Errorf("load snapshot %s: it holds table %q, not %q", d.path, snap.Table, d.table)
	}
	const batch = 25 // BatchWriteItem's limit
	for i := 0; i < len(snap.Items); i += batch {
		var reqs []any
		for _, it := range snap.Items[i:min(i+batch, len(snap.Items))] {
			reqs = append(reqs, map[string]any{"PutRequest": map[string]any{"Item": it}})
		}
		var out struct{ UnprocessedItems map[string][]json.RawMessage }
		if err := d.call("BatchWriteItem", map[string]any{"RequestItems": map[string]any{d.table: reqs}}, &out); err != nil {
			return i, fmt.Errorf("load snapshot: %w", err)
		}
		if n := len(out.UnprocessedItems[d.table]); n > 0 {
			return i, fmt.Errorf("load snapshot: %d items unprocessed", n)
		}
	}
	return len(snap.Items), nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone already after a successful rename
	if _, err := io.Copy(tmp, bytes.NewReader(b)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
