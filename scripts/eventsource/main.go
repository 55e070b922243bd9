// Command eventsource checks the live event stream with the real client:
// a browser's EventSource, in headless Chromium, on a page served from
// another loopback origin than the API, written as the first backend's
// dashboard wrote it (new EventSource(API + "/events"), a listener per
// event type). It waits for the heartbeat, opens an incident through the
// API, and waits for its incident.created to reach the page, with its id.
//
//	make run ARGS="-http-addr 127.0.0.1:3000"   # in another terminal
//	go run ./scripts/eventsource -api http://127.0.0.1:3000 -key "$KEY"
//
// It needs Chromium (Debian: apt-get install chromium) and a key with the
// incidents:write scope (the development key has it). The API must allow
// the page's origin (CORS_ORIGINS; a development stack allows any).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "eventsource:", err)
		os.Exit(1)
	}
}

// report is what the page posts back for each thing its EventSource does.
type report struct {
	Kind  string `json:"kind"` // open, event, error
	Type  string `json:"type"`
	ID    string `json:"id"`
	Data  string `json:"data"`
	State int    `json:"state"` // EventSource.readyState
}

// The event types the first backend's dashboard listened for, and ours
// that an actuation and an incident produce.
var listened = []string{
	"telemetry.tick", "anomaly.detected", "valve.actuation.requested", "valve.actuation.sent",
	"valve.actuation.progress", "valve.actuation.completed", "alert.created", "incident.created",
}

const page = `<!doctype html>
<meta charset="utf-8">
<title>Plainview live events</title>
<script>
const api = %q;
const types = %s;
const post = (r) => fetch("/report", {method: "POST", body: JSON.stringify(r)});
const es = new EventSource(api + "/events");
es.onopen = () => post({kind: "open", state: es.readyState});
es.onerror = () => post({kind: "error", state: es.readyState});
for (const t of types) {
  es.addEventListener(t, (e) => post({kind: "event", type: e.type, id: e.lastEventId, data: e.data}));
}
</script>
`

func run(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("eventsource", flag.ContinueOnError)
	api := fs.String("api", "http://127.0.0.1:3000", "the API's URL (make run)")
	key := fs.String("key", getenv("PLAINVIEW_DEV_API_KEY"), "an API key with incidents:write (default $PLAINVIEW_DEV_API_KEY)")
	browser := fs.String("chromium", "chromium", "the Chromium binary")
	wait := fs.Duration("timeout", 30*time.Second, "how long to wait for each step")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *key == "" {
		return errors.New("-key is required (a key with incidents:write)")
	}
	*api = strings.TrimSuffix(*api, "/")

	// The page's server: another origin than the API's (another port, and
	// "localhost" rather than an address).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	origin := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	reports := make(chan report, 64)
	types, _ := json.Marshal(listened)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, page, *api, types)
	})
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		var rep report
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&rep); err == nil {
			reports <- rep
		}
	})
	mux.HandleFunc("GET /favicon.ico", http.NotFound)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	profile, err := os.MkdirTemp("", "plainview-chromium-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, *browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+profile, origin+"/")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", *browser, err)
	}
	defer func() {
		cancel() // kills the browser this run started, by its process
		_ = cmd.Wait()
	}()
	fmt.Fprintf(stdout, "page %s/ (Chromium, headless) -> EventSource(%s/events)\n", origin, *api)

	start := time.Now()
	next := func(what string, match func(report) bool) (report, error) {
		deadline := time.After(*wait)
		for {
			select {
			case r := <-reports:
				fmt.Fprintf(stdout, "  %6.3fs %s %s %s %s\n", time.Since(start).Seconds(), r.Kind, r.Type, short(r.ID), short(r.Data))
				if match(r) {
					return r, nil
				}
			case <-deadline:
				return report{}, fmt.Errorf("%s: not within %v", what, *wait)
			}
		}
	}
	if _, err := next("the stream opening", func(r report) bool { return r.Kind == "open" }); err != nil {
		return err
	}
	if _, err := next("a heartbeat", func(r report) bool { return r.Type == "telemetry.tick" }); err != nil {
		return err
	}

	title := fmt.Sprintf("EventSource check %d", time.Now().UnixNano())
	body := fmt.Sprintf(`{"title":%q,"severity":"info"}`, title)
	req, err := http.NewRequest(http.MethodPost, *api+"/incidents", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", *key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST /incidents: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /incidents: %s", resp.Status)
	}
	written := time.Now()
	got, err := next("the incident's incident.created", func(r report) bool {
		return r.Type == "incident.created" && strings.Contains(r.Data, title)
	})
	if err != nil {
		return err
	}
	if got.ID == "" {
		return errors.New("incident.created reached the page without an id (lastEventId is empty)")
	}
	fmt.Fprintf(stdout, "ok: heartbeat, then incident.created with id %s, %v after the write\n",
		short(got.ID), time.Since(written).Round(time.Millisecond))
	return nil
}

// short cuts long values for the log.
func short(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
