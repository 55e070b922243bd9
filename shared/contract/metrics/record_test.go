package metrics

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Record writes what Emit writes; what it cannot write is a log line with
// the reason, never a panic or an error the caller must handle; a nil
// Emitter records nothing.
func TestRecord(t *testing.T) {
	at := time.UnixMilli(specMillis)
	dims := []Dimension{{Name: "Function", Value: "ingest"}}
	m := Metric{Name: "DeadLetters", Unit: Count, Value: 1}

	var emitted, recorded, logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	if err := NewEmitter(&emitted, "Plainview").Emit(at, dims, []Metric{m}, nil); err != nil {
		t.Fatal(err)
	}
	NewEmitter(&recorded, "Plainview").Record(log, at, dims, m)
	if recorded.String() != emitted.String() || logged.Len() != 0 {
		t.Errorf("Record wrote %q and logged %q; want what Emit writes, %q, and no log", recorded.String(), logged.String(), emitted.String())
	}

	recorded.Reset()
	NewEmitter(&recorded, "Plainview").Record(log, at, dims, Metric{Name: "DeadLetters", Unit: "Apples", Value: 1})
	if recorded.Len() != 0 {
		t.Errorf("an invalid document was written: %q", recorded.String())
	}
	if got := logged.String(); !strings.Contains(got, `"msg":"emit metrics"`) || !strings.Contains(got, `"error":"metrics: invalid unit`) {
		t.Errorf("log = %q, want an emit metrics line with the error", got)
	}

	var none *Emitter
	none.Record(log, at, dims, m) // must not panic
}
