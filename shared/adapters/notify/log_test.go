package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/plainview/serverless/shared/adapters/notify"
)

func TestLogNotifyWritesOneWarningLine(t *testing.T) {
	var buf bytes.Buffer
	n := notify.NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))

	if err := n.Notify(context.Background(), "Critical: leak on s-7", "Incident i-42 opened.\nSee the dashboard."); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("wrote %d lines, want 1:\n%s", len(lines), buf.Bytes())
	}
	var got map[string]any
	if err := json.Unmarshal(lines[0], &got); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, lines[0])
	}
	for k, want := range map[string]string{
		"level":   "WARN",
		"msg":     "notification",
		"subject": "Critical: leak on s-7",
		"message": "Incident i-42 opened.\nSee the dashboard.",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
}
