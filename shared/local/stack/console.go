package stack

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
)

// failureEcho writes the metrics log and tells the console of every failed
// request in it. Each request's line is also its metrics document (package
// httpapi writes one line for both), so here it lands in metrics.log; on
// AWS it is in the function's log with everything else. Without the echo,
// a 503 said nothing where the person running the stack is looking.
type failureEcho struct {
	w    io.Writer
	log  *slog.Logger
	path string // the metrics log, named in the echo
}

// Write writes p, one line as package metrics writes them, and echoes it
// when it is a request line at level ERROR (a 5xx).
func (f failureEcho) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if !bytes.Contains(p, []byte(`"level":"ERROR"`)) {
		return n, err
	}
	var line struct {
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
		Function  string `json:"function"`
		Method    string `json:"method"`
		Path      string `json:"path"`
		Status    int    `json:"status"`
		Error     string `json:"error"`
	}
	if json.Unmarshal(p, &line) != nil || line.Message != "request" {
		return n, err
	}
	f.log.Error("request failed", "status", line.Status, "method", line.Method, "path", line.Path,
		"function", line.Function, "error", line.Error, "request_id", line.RequestID, "metrics_log", f.path)
	return n, err
}
