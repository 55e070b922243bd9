// Command streamlatency measures how long an event takes from its write to
// its arrival on the live event stream (GET /events as server-sent
// events): it starts the local stack in this process, opens the stream
// through the local gateway as an EventSource would, opens incidents
// through the API at random moments, and reports the median, p99 and
// worst of (arrival on the stream - the event's own time), on one clock.
//
//	go run ./scripts/streamlatency -n 200
//
// The figure is dominated by the stream's settle time and poll interval
// (httpapi.StreamConfig), which are the deployed ones unless set here.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/local/stack"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "streamlatency:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("streamlatency", flag.ContinueOnError)
	n := fs.Int("n", 200, "events to write and time")
	gap := fs.Duration("gap", 500*time.Millisecond, "longest random pause between writes (spreads them over the poll cycle)")
	poll := fs.Duration("poll", 0, "the stream's poll interval (0: the deployed default)")
	settle := fs.Duration("settle", 0, "the stream's settle time (0: the deployed default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *gap <= 0 {
		return errors.New("-n must be positive and -gap above zero")
	}

	ctx := context.Background()
	dir, err := os.MkdirTemp("", "plainview-streamlatency-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := stack.Start(ctx, stack.Config{
		DynamoAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: dir, TableName: "plainview", Version: "streamlatency", Logger: slog.New(slog.DiscardHandler),
		DisableThrottling: true, Stream: httpapi.StreamConfig{Poll: *poll, Settle: *settle},
	})
	if err != nil {
		return fmt.Errorf("start the local stack: %w", err)
	}
	defer st.Close()
	if st.DevKey == "" {
		return errors.New("the local stack made no development key")
	}

	arrivals, err := listen(ctx, st.APIURL)
	if err != nil {
		return err
	}
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		for a := range arrivals {
			lat = append(lat, a)
			if len(lat) == *n {
				return
			}
		}
	}()
	for i := range *n {
		time.Sleep(rand.N(*gap))
		body := fmt.Sprintf(`{"title":"latency probe %d","severity":"info"}`, i)
		req, _ := http.NewRequest(http.MethodPost, st.APIURL+"/incidents", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", st.DevKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("POST /incidents: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST /incidents: %s", resp.Status)
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("only %d of %d events arrived within 30 s of the last write", len(lat), *n)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Fprintf(stdout, "write-to-arrival on the event stream, %d events (incident.created), poll %v, settle %v:\n",
		len(lat), or(*poll, "500ms (default)"), or(*settle, "1s (default)"))
	fmt.Fprintf(stdout, "  min %v  median %v  p99 %v  max %v\n",
		lat[0].Round(time.Millisecond), pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	return nil
}

func or(d time.Duration, def string) string {
	if d == 0 {
		return def
	}
	return d.String()
}

// listen opens the event stream for incident.created and sends, for each
// event, how long after its own time it arrived.
func listen(ctx context.Context, api string) (<-chan time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/events?type=incident.created", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /events: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /events: %s", resp.Status)
	}
	out := make(chan time.Duration, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "incident.created":
				now := time.Now()
				var ev struct {
					At time.Time `json:"at"`
				}
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev) == nil {
					out <- now.Sub(ev.At)
				}
			}
		}
	}()
	return out, nil
}
