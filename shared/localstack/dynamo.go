package localstack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	miniserver "github.com/truora/minidyn/server"
)

// dynamo is minidyn's DynamoDB-compatible HTTP server with persistence.
// minidyn keeps tables in memory, so the stack keeps two files beside it:
//
//   - a journal (dynamodb.journal): every write request, appended in the
//     order minidyn applied it, before its answer goes back. Its cost is in
//     proportion to the writes, not to the table.
//   - a snapshot (dynamodb.json): every item, written when the journal is
//     compacted (on Close, at start after a replay, and when the journal
//     outgrows the table), so a start need not replay the whole history.
//
// A full snapshot scans the table under minidyn's one lock, which stalls
// every request; taking one every 500 ms was half the stack's CPU under
// load (docs/bench-ingest.md). Compactions are therefore spaced by what
// the last one cost (compactBudget of the time at most).
//
// Replaying the journal over the snapshot it follows gives the same table:
// minidyn is deterministic, and the journal keeps failed writes too (a
// failed conditional write fails again), so the replay needs no judgment.
// The snapshot names the journal generation it includes, so a crash
// between writing the snapshot and removing the journal cannot apply a
// write twice (an ADD would count twice).
type dynamo struct {
	srv         http.Handler
	table       string
	path        string // the snapshot file
	journalPath string

	// minJournal and compactBudget pace compactions: one is due when the
	// journal is at least minJournal bytes and as large as the snapshot,
	// and the time since the last one is at least its cost over the
	// budget's share (10 %: nine times its duration).
	minJournal    int64
	compactBudget float64
	now           func() time.Time

	// mu makes Save, Load and compactions one at a time.
	mu            sync.Mutex
	lastCost      time.Duration // how long the last compaction took
	lastEnd       time.Time     // when it ended
	snapshotBytes int64

	// wmu orders the writes with their journal records, and holds writes
	// off while a compaction reads the table, so the snapshot and the
	// journal that follows it meet exactly.
	wmu          sync.Mutex
	journal      *os.File // nil until the first write after a compaction
	journalBytes int64    // the journal's size
	journalHead  int64    // the size of its first line, before the records
	generation   int64    // of the journal being written
	unsynced     bool     // written since the last fsync
	broken       error    // an append failed: no more appends until a compaction

	// whileWriting, when set, runs while a compaction writes its snapshot
	// with writes allowed: tests write then.
	whileWriting func()
}

// writeOps are the DynamoDB operations that change data.
var writeOps = map[string]bool{
	"PutItem": true, "UpdateItem": true, "DeleteItem": true,
	"BatchWriteItem": true, "TransactWriteItems": true,
}

// maxRequest is DynamoDB's own limit on a request (16 MB for a batch).
const maxRequest = 16 << 20

func newDynamo(table, path string) *dynamo {
	return &dynamo{
		srv: miniserver.NewServer(), table: table, path: path,
		journalPath: strings.TrimSuffix(path, filepath.Ext(path)) + ".journal",
		minJournal:  32 << 20, compactBudget: 0.10, now: time.Now, generation: 1,
	}
}

// ServeHTTP serves the DynamoDB API and journals the writes.
func (d *dynamo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := operation(r)
	if r.Method != http.MethodPost || !writeOps[op] {
		d.srv.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// The answer is buffered so that the lock is not held while a slow
	// client reads it.
	rec := httptest.NewRecorder()
	d.wmu.Lock()
	d.srv.ServeHTTP(rec, r)
	d.appendLocked(op, body)
	d.wmu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	// An error here is a client gone away; its write is applied and
	// journaled all the same, as DynamoDB's would be.
	w.Write(rec.Body.Bytes())
}

func operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	return t[strings.LastIndexByte(t, '.')+1:]
}

const journalMagic = "plainview-dynamodb-journal"

// appendLocked adds one write request to the journal: a line with the
// operation and the body's length, the body, and a newline. Once an append
// fails the journal may end in half a record, so nothing more is added
// until the next compaction, whose snapshot holds those writes anyway.
func (d *dynamo) appendLocked(op string, body []byte) {
	if d.broken != nil {
		return
	}
	if d.journal == nil {
		f, err := os.OpenFile(d.journalPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			d.broken = fmt.Errorf("journal: %w", err)
			return
		}
		head := fmt.Sprintf("%s %d\n", journalMagic, d.generation)
		if _, err := f.WriteString(head); err != nil {
			f.Close()
			d.broken = fmt.Errorf("journal: %w", err)
			return
		}
		d.journal, d.journalBytes, d.journalHead = f, int64(len(head)), int64(len(head))
	}
	rec := make([]byte, 0, len(op)+len(body)+24)
	rec = fmt.Appendf(rec, "%s %d\n", op, len(body))
	rec = append(append(rec, body...), '\n')
	if _, err := d.journal.Write(rec); err != nil {
		d.broken = fmt.Errorf("journal: %w", err)
		return
	}
	d.journalBytes += int64(len(rec))
	d.unsynced = true
}

// call sends one DynamoDB API request to the in-process server, past the
// journal (a compaction reads; a load writes what is already on disk).
func (d *dynamo) call(op string, in any, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	code, answer := d.serve(op, body)
	if code != http.StatusOK {
		return fmt.Errorf("%s: %d %s", op, code, strings.TrimSpace(string(answer)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}

func (d *dynamo) serve(op string, body []byte) (int, []byte) {
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	rec := httptest.NewRecorder()
	d.srv.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// snapshotFile is what is saved: the table's items in DynamoDB JSON, as the
// DynamoDB API itself spells them, so no conversion can lose a type, and
// the last journal generation whose writes it holds.
type snapshotFile struct {
	Table string `json:"table"`
	// Generation and Offset say where in the journal the snapshot was
	// taken: the writes of earlier generations, and the first Offset bytes
	// of records of this one, are in it. (No offset: all of this
	// generation, as the first journaling snapshots wrote.)
	Generation int64             `json:"generation,omitempty"`
	Offset     *int64            `json:"offset,omitempty"`
	Items      []json.RawMessage `json:"items"`
}

// Save makes the writes so far durable: it syncs the journal and, when
// force is set or the journal has grown enough and the last compaction's
// cost allows another, compacts it into a snapshot. Close calls it with
// force, so a stopped stack leaves a snapshot and no journal.
func (d *dynamo) Save(force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.wmu.Lock()
	f, unsynced, size, broken := d.journal, d.unsynced, d.journalBytes, d.broken
	d.unsynced = false
	d.wmu.Unlock()
	if force || broken != nil || d.compactDue(size) {
		_, err := d.compact(false)
		return err
	}
	if unsynced && f != nil {
		// Outside wmu: writes go on while the disk catches up. Only a
		// compaction closes the file, and it waits for mu.
		if err := f.Sync(); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	return nil
}

// compactDue says whether a journal of size bytes is worth compacting now.
func (d *dynamo) compactDue(size int64) bool {
	if size < d.minJournal || size < d.snapshotBytes {
		return false
	}
	rest := time.Duration(float64(d.lastCost) * (1/d.compactBudget - 1))
	return d.now().Sub(d.lastEnd) >= rest
}

// compact writes a snapshot of the whole table and trims the journal to
// what came after it. It answers how many items it saved. Unless always
// is set, it does nothing when nothing was journaled since the last
// snapshot: the snapshot on disk is the table.
//
// Writes are held off only while the table is read: the snapshot names
// the journal's generation and the offset it reached then, so the writes
// that go on meanwhile stay in the journal, and a start replays them from
// that offset. Encoding and writing the snapshot, most of the cost, then
// delay no write. (A journal an append failed on may be torn: then the
// writes are held off until the snapshot is written, and the journal is
// dropped.)
func (d *dynamo) compact(always bool) (int, error) {
	start := d.now()
	d.wmu.Lock()
	if !always && d.journal == nil && d.broken == nil {
		d.wmu.Unlock()
		return -1, nil
	}
	items, err := d.scan()
	if err != nil {
		d.wmu.Unlock()
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	cut := int64(0)
	if d.journal != nil {
		cut = d.journalBytes - d.journalHead
	}
	snap := snapshotFile{Table: d.table, Generation: d.generation, Offset: &cut, Items: items}
	held := d.broken != nil
	if !held {
		d.wmu.Unlock()
	}
	if d.whileWriting != nil {
		d.whileWriting()
	}
	b, err := json.Marshal(snap)
	if err == nil {
		err = writeFileAtomic(d.path, b)
	}
	if !held {
		d.wmu.Lock()
	}
	defer d.wmu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	if err := d.trimLocked(snap.Generation, cut, held); err != nil {
		// The snapshot is written and the journal whole: a start skips
		// what the snapshot holds. Appends stop until a compaction works.
		d.broken = err
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	d.snapshotBytes = int64(len(b))
	d.lastEnd = d.now()
	d.lastCost = d.lastEnd.Sub(start)
	return len(snap.Items), nil
}

// scan reads every item of the table.
func (d *dynamo) scan() ([]json.RawMessage, error) {
	items := []json.RawMessage{}
	var from json.RawMessage
	for {
		in := map[string]any{"TableName": d.table}
		if from != nil {
			in["ExclusiveStartKey"] = from
		}
		var out struct {
			Items            []json.RawMessage
			LastEvaluatedKey json.RawMessage
		}
		if err := d.call("Scan", in, &out); err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 || string(out.LastEvaluatedKey) == "null" || string(out.LastEvaluatedKey) == "{}" {
			return items, nil
		}
		from = out.LastEvaluatedKey
	}
}

// trimLocked drops from the journal what the snapshot of generation gen,
// cut bytes of records in, holds: the records after the cut move to a
// journal of the next generation, which replaces the old one at once (a
// crash leaves either the old journal, which a start replays from the
// cut, or the new one, which it replays whole).
func (d *dynamo) trimLocked(gen, cut int64, held bool) error {
	if held || d.journal == nil || d.journalBytes-d.journalHead == cut {
		// Nothing written after the cut, or nothing to trust after it.
		if d.journal != nil {
			d.journal.Close()
			d.journal = nil
		}
		if err := os.Remove(d.journalPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove journal: %w", err)
		}
		d.generation = gen + 1
		d.journalBytes, d.journalHead, d.unsynced, d.broken = 0, 0, false, nil
		return nil
	}
	tail := make([]byte, d.journalBytes-d.journalHead-cut)
	if _, err := d.readJournalAt(tail, d.journalHead+cut); err != nil {
		return fmt.Errorf("journal tail: %w", err)
	}
	head := fmt.Sprintf("%s %d\n", journalMagic, gen+1)
	if err := writeFileAtomic(d.journalPath, append([]byte(head), tail...)); err != nil {
		return fmt.Errorf("new journal: %w", err)
	}
	d.journal.Close()
	f, err := os.OpenFile(d.journalPath, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.journal = nil
		return fmt.Errorf("new journal: %w", err)
	}
	d.journal, d.generation = f, gen+1
	d.journalHead, d.journalBytes = int64(len(head)), int64(len(head)+len(tail))
	d.unsynced = false
	return nil
}

func (d *dynamo) readJournalAt(b []byte, off int64) (int, error) {
	f, err := os.Open(d.journalPath)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.ReadAt(b, off)
}

// Load puts the items of the snapshot, if there is one, into the table,
// which must exist, then replays the journal that follows it, and compacts
// the two into a new snapshot. It answers how many items the table holds.
func (d *dynamo) Load() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	snap, err := d.readSnapshot()
	if err != nil {
		return 0, err
	}
	if err := d.putItems(snap.Items); err != nil {
		return 0, err
	}
	d.generation = snap.Generation + 1
	replayed, err := d.replay(snap.Generation, snap.Offset)
	if err != nil {
		return 0, err
	}
	if !replayed {
		return len(snap.Items), nil
	}
	n, err := d.compact(true)
	if err != nil {
		return 0, fmt.Errorf("load: %w", err)
	}
	return n, nil
}

func (d *dynamo) readSnapshot() (snapshotFile, error) {
	var snap snapshotFile
	b, err := os.ReadFile(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return snap, nil
	}
	if err != nil {
		return snap, fmt.Errorf("load snapshot: %w", err)
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		return snap, fmt.Errorf("load snapshot %s: %w", d.path, err)
	}
	if snap.Table != d.table {
		return snap, fmt.Errorf("load snapshot %s: it holds table %q, not %q", d.path, snap.Table, d.table)
	}
	d.snapshotBytes = int64(len(b))
	return snap, nil
}

func (d *dynamo) putItems(items []json.RawMessage) error {
	const batch = 25 // BatchWriteItem's limit
	for i := 0; i < len(items); i += batch {
		var reqs []any
		for _, it := range items[i:min(i+batch, len(items))] {
			reqs = append(reqs, map[string]any{"PutRequest": map[string]any{"Item": it}})
		}
		var out struct{ UnprocessedItems map[string][]json.RawMessage }
		if err := d.call("BatchWriteItem", map[string]any{"RequestItems": map[string]any{d.table: reqs}}, &out); err != nil {
			return fmt.Errorf("load snapshot: %w", err)
		}
		if n := len(out.UnprocessedItems[d.table]); n > 0 {
			return fmt.Errorf("load snapshot: %d items unprocessed", n)
		}
	}
	return nil
}

// replay applies the journal's writes, if there is a journal newer than
// the snapshot. It reports whether a journal file was there at all (then
// it must be compacted away before new writes start a new one). A record
// cut short is where a crash stopped an append: the writes before it are
// applied, and it is dropped, as its request never got an answer.
func (d *dynamo) replay(snapGen int64, snapOffset *int64) (bool, error) {
	f, err := os.Open(d.journalPath)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load journal: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	head, err := r.ReadString('\n')
	gen, ok := strings.CutPrefix(strings.TrimSuffix(head, "\n"), journalMagic+" ")
	g, gerr := strconv.ParseInt(gen, 10, 64)
	switch {
	case err == io.EOF:
		return true, nil // the header cut short: no write after it
	case err != nil || !ok || gerr != nil:
		return false, fmt.Errorf("load journal %s: not a journal (first line %q); move it away to start from the snapshot alone", d.journalPath, head)
	case g < snapGen, g == snapGen && snapOffset == nil:
		return true, nil // the snapshot was written after it
	}
	// Once replayed, this journal is in the table: the snapshot that Load
	// compacts into is of the next generation, so a crash before the
	// journal is removed cannot replay it again.
	d.generation = g + 1
	var skip int64 // the records the snapshot holds
	if g == snapGen {
		skip = *snapOffset
	}
	var at int64
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			return true, nil // the end, or a header cut short
		}
		if err != nil {
			return true, fmt.Errorf("load journal: %w", err)
		}
		op, size, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		n, err := strconv.Atoi(size)
		if !ok || err != nil || n < 0 || n > maxRequest || !writeOps[op] {
			return true, fmt.Errorf("load journal %s: damaged record header %q", d.journalPath, line)
		}
		body := make([]byte, n+1)
		if _, err := io.ReadFull(r, body); err != nil {
			return true, nil // cut short
		}
		if body[n] != '\n' {
			return true, fmt.Errorf("load journal %s: damaged record after %q", d.journalPath, line)
		}
		at += int64(len(line) + len(body))
		if at <= skip {
			continue
		}
		// A write that failed when it was made fails again: its answer
		// does not matter, only that it is applied as it was.
		d.serve(op, body[:n])
	}
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
