package httpapi

import (
	"encoding/json"
	"errors"
	"maps"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// EventRoutes adds GET /events: the event log as a listing, or, for a
// client that accepts text/event-stream (an EventSource), as a stream of
// server-sent events.
func EventRoutes(a *API, h map[string]http.Handler) {
	maps.Copy(h, map[string]http.Handler{"GET /events": http.HandlerFunc(a.eventLog)})
}

// StreamConfig tunes the event stream; its zero value gives the defaults
// of docs/DEPLOYMENT.md ("Live events").
type StreamConfig struct {
	// Heartbeat is the interval of telemetry.tick; the old dashboard's
	// test waited 6 s for one. Default 5 s.
	Heartbeat time.Duration
	// Poll is how often the stream asks the table for new events.
	// Default 500 ms.
	Poll time.Duration
	// Settle is how old an event must be before the stream sends it. Event
	// ids sort by the writer's clock, but a writer commits its id a little
	// later, and the indexes of the type and asset filters are eventually
	// consistent: an event sent before the ones with smaller ids are
	// visible would let the cursor pass them, and a reconnecting client
	// would never get them. Default 1 s.
	Settle time.Duration
	// MaxDuration ends a stream cleanly after this long, so that a client
	// reconnects (with Last-Event-ID) before API Gateway's 15 minutes
	// would cut it. Default 14 minutes.
	MaxDuration time.Duration
	// EndBefore ends the stream this long before the request's deadline
	// (the function's timeout), so that the close is the function's and
	// clean. Default 10 s.
	EndBefore time.Duration
}

func (c StreamConfig) withDefaults() StreamConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Heartbeat, 5*time.Second)
	def(&c.Poll, 500*time.Millisecond)
	def(&c.Settle, time.Second)
	def(&c.MaxDuration, 14*time.Minute)
	def(&c.EndBefore, 10*time.Second)
	return c
}

// EventTick is the heartbeat's event type, the old backend's.
const EventTick = "telemetry.tick"

// streamBatch is how many events one poll reads; a full batch is followed
// by another poll at once.
const streamBatch = 100

// eventLog is GET /events: the listing, or the stream for an EventSource.
func (a *API) eventLog(w http.ResponseWriter, r *http.Request) {
	if !acceptsEventStream(r.Header.Values("Accept")) {
		handler(a.events).ServeHTTP(w, r)
		return
	}
	a.eventStream(w, r)
}

// acceptsEventStream reports whether an Accept header names
// text/event-stream (with a q above zero).
func acceptsEventStream(accept []string) bool {
	for _, line := range accept {
		for part := range strings.SplitSeq(line, ",") {
			typ, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || typ != "text/event-stream" {
				continue
			}
			if q, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// eventStream sends the event log as server-sent events: a heartbeat at
// once and every Heartbeat, then each event as it settles, oldest first,
// with its cursor as the id, so that an EventSource that reconnects with
// Last-Event-ID resumes exactly after the last event it got.
func (a *API) eventStream(w http.ResponseWriter, r *http.Request) {
	cfg := a.cfg.Stream.withDefaults()
	filter, err := parseStreamQuery(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	ctx := r.Context()
	now := a.cfg.Now()
	end := now.Add(cfg.MaxDuration)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-cfg.EndBefore).Before(end) {
		end = dl.Add(-cfg.EndBefore)
	}

	// Where to start: after the client's last event, or at the settled
	// present. A cursor that is no cursor of this filter is a 400 before
	// the stream opens (EventSource then stops retrying, as it should).
	cursor := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if cursor == "" {
		if cursor, err = a.cfg.Store.EventCursor(filter, domain.IDAt("evt", now.Add(-cfg.Settle))); err != nil {
			fail(w, r, err)
			return
		}
	}
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	pending, _, err := a.cfg.Store.EventsSince(ctx, filter, cursor, streamBatch)
	switch {
	case errors.Is(err, domain.ErrBadCursor):
		fail(w, r, err)
		return
	case err != nil:
		// The table is not answering. An EventSource given anything but a
		// 200 gives up for good, so the stream opens all the same, keeps
		// the client's place and asks again at each poll.
		a.cfg.Logger.WarnContext(ctx, "event stream: first poll failed", "error", err)
		pending = nil
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Proxies that buffer (nginx) would hold the events back.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	// A reconnect a second after the stream ends, rather than the
	// browser's default of about three.
	s.buf = append(s.buf, "retry: 1000\n\n"...)
	s.tick(now)
	heartbeat := time.NewTicker(cfg.Heartbeat)
	defer heartbeat.Stop()
	poll := time.NewTimer(cfg.Poll)
	defer poll.Stop()
	stop := time.NewTimer(end.Sub(now))
	defer stop.Stop()
	full := len(pending) == streamBatch
	for s.err == nil {
		// Send what has settled of the last poll, in order; what has not
		// is asked for again by the next poll, from the last cursor sent.
		settled := domain.IDAt("evt", a.cfg.Now().Add(-cfg.Settle))
		for _, ev := range pending {
			if ev.ID >= settled {
				full = false
				break
			}
			id, err := a.cfg.Store.EventCursor(filter, ev.ID)
			if err != nil {
				noteError(r, err)
				return
			}
			s.event(id, ev)
			cursor = id
		}
		pending = nil
		if s.flush(); s.err != nil {
			break
		}
		if full {
			poll.Reset(0)
		}
		select {
		case <-ctx.Done():
			return
		case <-stop.C:
			// A clean end: EventSource reconnects with Last-Event-ID.
			return
		case t := <-heartbeat.C:
			s.tick(t)
		case <-poll.C:
			pending, _, err = a.cfg.Store.EventsSince(ctx, filter, cursor, streamBatch)
			if err != nil {
				// The table may answer again by the next poll; the
				// heartbeats go on meanwhile, and the client keeps its
				// place.
				a.cfg.Logger.WarnContext(ctx, "event stream: poll failed", "error", err)
				pending = nil
			}
			full = len(pending) == streamBatch
			poll.Reset(cfg.Poll)
		}
	}
}

// parseStreamQuery reads the filters of a stream: type and asset, as the
// listing takes them. Paging does not apply to a stream, and where it
// starts is the Last-Event-ID header's.
func parseStreamQuery(r *http.Request) (domain.EventFilter, error) {
	if _, err := query(r, "type", "asset"); err != nil {
		return domain.EventFilter{}, err
	}
	e, err := parseEventsQuery(r)
	return e.filter, err
}

// sseWriter writes server-sent events and keeps the first write error:
// after one, the client is gone or stalled and nothing more is sent.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
	err error
}

// tick is the heartbeat, as the old backend sent it. It has no id: an
// EventSource keeps its last event id across events without one.
func (s *sseWriter) tick(at time.Time) {
	s.buf = append(s.buf, "event: "+EventTick+"\ndata: {\"type\":\""+EventTick+"\",\"at\":"...)
	s.buf = strconv.AppendInt(s.buf, at.UnixMilli(), 10)
	s.buf = append(s.buf, "}\n\n"...)
	s.flush()
}

// event is one event of the log: its cursor as the id, its type as the
// event name, the event as JSON (one line: encoding/json writes no
// newlines) as the data.
func (s *sseWriter) event(id string, ev domain.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		s.err = err
		return
	}
	s.buf = append(s.buf, "id: "...)
	s.buf = append(s.buf, id...)
	s.buf = append(s.buf, "\nevent: "...)
	s.buf = append(s.buf, ev.Type...)
	s.buf = append(s.buf, "\ndata: "...)
	s.buf = append(s.buf, b...)
	s.buf = append(s.buf, "\n\n"...)
}

// flush sends what is buffered, and pushes it past any buffer on the way.
func (s *sseWriter) flush() {
	if s.err != nil || len(s.buf) == 0 {
		return
	}
	if _, err := s.w.Write(s.buf); err != nil {
		s.err = err
		return
	}
	s.buf = s.buf[:0]
	if err := s.rc.Flush(); err != nil {
		s.err = err
	}
}
