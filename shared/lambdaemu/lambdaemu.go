// Package lambdaemu serves the AWS Lambda Runtime API (version 2018-06-01)
// to one function process, the way a Lambda sandbox does, and records when
// each step happened, so a harness can measure what Lambda reports: the
// init duration (process start to its first GET /next) and each
// invocation's duration (event handed out to response posted).
//
// It serves one sandbox: invocations go out one at a time, in the order
// Invoke is called, as Lambda does with a single execution environment.
package lambdaemu

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Runtime API paths, relative to AWS_LAMBDA_RUNTIME_API.
const (
	prefix       = "/2018-06-01/runtime"
	pathNext     = prefix + "/invocation/next"
	pathResponse = prefix + "/invocation/{id}/response"
	pathError    = prefix + "/invocation/{id}/error"
	pathInitErr  = prefix + "/init/error"
)

// maxPayload is Lambda's limit on a synchronous response (6 MB); the
// Runtime API answers 413 above it.
const maxPayload = 6 << 20

// Options configure an Emulator.
type Options struct {
	// FunctionARN is sent as Lambda-Runtime-Invoked-Function-Arn.
	FunctionARN string
	// Timeout is the function's configured timeout: each invocation's
	// deadline (Lambda-Runtime-Deadline-Ms) is this long after it is handed
	// out. 3 s, Lambda's default, when zero.
	Timeout time.Duration
	// Now is the clock the timestamps come from; time.Now when nil.
	Now func() time.Time
}

// FunctionError is what a runtime posts to .../error or .../init/error
// (or in the Lambda-Runtime-Function-Error-* trailers of a response).
type FunctionError struct {
	Message string          `json:"errorMessage"`
	Type    string          `json:"errorType"`
	Trace   json.RawMessage `json:"stackTrace,omitempty"` // frames, in whatever shape the runtime sends
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Result is one finished invocation.
type Result struct {
	RequestID string
	HandedOut time.Time      // the runtime's GET /next received the event
	Done      time.Time      // the runtime posted the response or error
	Payload   []byte         // the response body (nil after an error)
	Err       *FunctionError // non-nil when the runtime posted to .../error
}

// Duration is the invocation's duration as Lambda bills it.
func (r Result) Duration() time.Duration { return r.Done.Sub(r.HandedOut) }

// ErrInitFailed is returned by Invoke and WaitReady once the runtime has
// posted to /init/error.
var ErrInitFailed = errors.New("lambdaemu: the function reported an init error")

// Emulator is the Runtime API of one sandbox; it is an http.Handler.
type Emulator struct {
	opts    Options
	mux     *http.ServeMux
	queue   chan *pending // invocations waiting for a GET /next
	ready   chan struct{} // closed at the first GET /next
	initErr chan struct{} // closed at the first POST /init/error

	mu        sync.Mutex
	firstNext time.Time
	initError *FunctionError
	inflight  map[string]*pending
}

// pending is an invocation from Invoke until the runtime answers it.
type pending struct {
	id     string
	event  []byte
	handed time.Time
	done   chan Result // buffered: the answer never blocks on a caller gone
}

// New returns an emulator with no invocation queued.
func New(opts Options) *Emulator {
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Emulator{
		opts:     opts,
		mux:      http.NewServeMux(),
		queue:    make(chan *pending),
		ready:    make(chan struct{}),
		initErr:  make(chan struct{}),
		inflight: map[string]*pending{},
	}
	e.mux.HandleFunc("GET "+pathNext, e.next)
	e.mux.HandleFunc("POST "+pathResponse, e.response)
	e.mux.HandleFunc("POST "+pathError, e.invocationError)
	e.mux.HandleFunc("POST "+pathInitErr, e.reportInitError)
	return e
}

// ServeHTTP serves the Runtime API.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// FirstNext is when the runtime first asked for an event: the end of its
// init phase. It is the zero time until then.
func (e *Emulator) FirstNext() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.firstNext
}

// InitError is what the runtime posted to /init/error, or nil.
func (e *Emulator) InitError() *FunctionError {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.initError
}

// WaitReady waits for the runtime's first GET /next and returns its time.
func (e *Emulator) WaitReady(ctx context.Context) (time.Time, error) {
	select {
	case <-e.ready:
		return e.FirstNext(), nil
	case <-e.initErr:
		return time.Time{}, fmt.Errorf("%w: %v", ErrInitFailed, e.InitError())
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("lambdaemu: waiting for the runtime's first request: %w", ctx.Err())
	}
}

// Invoke hands event to the runtime at its next GET /next and waits for
// its answer. A function error is a Result with Err set, not an error:
// the error return is for an invocation that never finished (ctx ended,
// or the function failed its init).
func (e *Emulator) Invoke(ctx context.Context, event []byte) (Result, error) {
	if !json.Valid(event) {
		return Result{}, errors.New("lambdaemu: the event is not JSON")
	}
	p := &pending{id: newRequestID(), event: event, done: make(chan Result, 1)}
	select {
	case e.queue <- p:
	case <-e.initErr:
		return Result{}, fmt.Errorf("%w: %v", ErrInitFailed, e.InitError())
	case <-ctx.Done():
		return Result{}, fmt.Errorf("lambdaemu: invocation %s not taken by the runtime: %w", p.id, ctx.Err())
	}
	select {
	case res := <-p.done:
		return res, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("lambdaemu: invocation %s not answered: %w", p.id, ctx.Err())
	}
}

// next is GET /invocation/next: it blocks until an invocation is queued,
// as Lambda's does (the process is frozen meanwhile).
func (e *Emulator) next(w http.ResponseWriter, r *http.Request) {
	now := e.opts.Now()
	e.mu.Lock()
	if e.firstNext.IsZero() {
		e.firstNext = now
		close(e.ready)
	}
	e.mu.Unlock()

	var p *pending
	select {
	case p = <-e.queue:
	case <-r.Context().Done():
		return
	}
	handed := e.opts.Now()
	e.mu.Lock()
	p.handed = handed
	e.inflight[p.id] = p
	e.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", p.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(handed.Add(e.opts.Timeout).UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", e.opts.FunctionARN)
	h.Set("Lambda-Runtime-Trace-Id", fmt.Sprintf("Root=1-%08x-%s;Sampled=0", handed.Unix(), strings.ReplaceAll(p.id, "-", "")[:24]))
	w.WriteHeader(http.StatusOK)
	w.Write(p.event)
}

// response is POST /invocation/{id}/response. aws-lambda-go streams the
// body and, if reading the handler's answer fails halfway, reports the
// failure in trailers, which count as a function error.
func (e *Emulator) response(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeStatus(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the response is over 6 MB")
			return
		}
		writeStatus(w, http.StatusBadRequest, "InvalidRequest", "reading the response: "+err.Error())
		return
	}
	done := e.opts.Now()
	res := Result{Payload: body}
	if t := r.Trailer.Get("Lambda-Runtime-Function-Error-Type"); t != "" {
		res = Result{Err: &FunctionError{Type: t, Message: "response stream failed: " + r.Trailer.Get("Lambda-Runtime-Function-Error-Body")}}
	}
	e.settle(w, r.PathValue("id"), done, res)
}

// invocationError is POST /invocation/{id}/error.
func (e *Emulator) invocationError(w http.ResponseWriter, r *http.Request) {
	fe, ok := readError(w, r)
	if !ok {
		return
	}
	e.settle(w, r.PathValue("id"), e.opts.Now(), Result{Err: fe})
}

// reportInitError is POST /init/error: the function could not start. Lambda
// then fails every invocation of the sandbox; so does Invoke.
func (e *Emulator) reportInitError(w http.ResponseWriter, r *http.Request) {
	fe, ok := readError(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	first := e.initError == nil
	if first {
		e.initError = fe
		close(e.initErr)
	}
	e.mu.Unlock()
	if !first {
		writeStatus(w, http.StatusForbidden, "InvalidStateTransition", "init error already reported")
		return
	}
	writeStatus(w, http.StatusAccepted, "", "")
}

// settle finishes invocation id with res; an id not in flight, or one
// already answered, is refused as Lambda refuses it.
func (e *Emulator) settle(w http.ResponseWriter, id string, done time.Time, res Result) {
	e.mu.Lock()
	p, ok := e.inflight[id]
	if ok {
		delete(e.inflight, id)
	}
	e.mu.Unlock()
	if !ok {
		writeStatus(w, http.StatusBadRequest, "InvalidRequestID", fmt.Sprintf("no invocation %q is in flight", id))
		return
	}
	res.RequestID, res.HandedOut, res.Done = p.id, p.handed, done
	p.done <- res
	writeStatus(w, http.StatusAccepted, "", "")
}

// readError decodes an error document; a runtime that posts something
// else still failed, so the raw body becomes the message.
func readError(w http.ResponseWriter, r *http.Request) (*FunctionError, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "InvalidRequest", "reading the error: "+err.Error())
		return nil, false
	}
	fe := &FunctionError{}
	if json.Unmarshal(body, fe) != nil || (fe.Message == "" && fe.Type == "") {
		fe = &FunctionError{Message: string(body)}
	}
	if t := r.Header.Get("Lambda-Runtime-Function-Error-Type"); t != "" && fe.Type == "" {
		fe.Type = t
	}
	if fe.Type == "" {
		fe.Type = "Unknown"
	}
	return fe, true
}

// writeStatus answers as the Runtime API does: {"status":"OK"} with 202,
// or an error document.
func writeStatus(w http.ResponseWriter, code int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if code == http.StatusAccepted {
		io.WriteString(w, `{"status":"OK"}`)
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"errorType": errType, "errorMessage": msg})
}

// newRequestID is a version-4 UUID, the form of Lambda's request ids.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
