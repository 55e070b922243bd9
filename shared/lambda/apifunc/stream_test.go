package apifunc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/plainview/serverless/shared/lambda/apifunc"
)

var getEvents = events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, Path: "/events", Resource: "/events"}

// The bytes Lambda streams for the answer: the prelude aws-lambda-go
// writes, eight zero bytes, then the body as the handler wrote it.
func TestStreamAnswersInLambdasStreamedFormat(t *testing.T) {
	h := apifunc.Stream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Vary", "Accept")
		w.WriteHeader(http.StatusCreated)
		w.Header().Set("X-Late", "not sent") // after WriteHeader: too late
		io.WriteString(w, "data: one\n\n")
		http.NewResponseController(w).Flush()
		io.WriteString(w, "data: two\n\n")
	}), time.Second)
	resp, err := h(context.Background(), getEvents)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp)
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := bytes.Cut(b, make([]byte, 8))
	if !ok {
		t.Fatalf("answer %q has no eight zero bytes", b)
	}
	var prelude struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(head, &prelude); err != nil {
		t.Fatalf("prelude %q: %v", head, err)
	}
	want := map[string]string{"Content-Type": "text/event-stream", "Vary": "Origin, Accept"}
	if prelude.StatusCode != http.StatusCreated || len(prelude.Headers) != len(want) ||
		prelude.Headers["Content-Type"] != want["Content-Type"] || prelude.Headers["Vary"] != want["Vary"] {
		t.Errorf("prelude = %+v, want 201 and %v", prelude, want)
	}
	if string(body) != "data: one\n\ndata: two\n\n" {
		t.Errorf("body = %q", body)
	}
	if ct := resp.ContentType(); ct != "application/vnd.awslambda.http-integration-response" {
		t.Errorf("content type %q, want API Gateway's streamed integration response", ct)
	}
}

// A reader that takes nothing for the stall time ends the answer: the
// handler's write fails and its request's context is cancelled, so it
// cannot hold the function until its timeout.
func TestStreamCutsOffAStalledReader(t *testing.T) {
	done := make(chan error, 1)
	h := apifunc.Stream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := io.WriteString(w, "data: x\n\n"); err != nil {
				<-r.Context().Done()
				done <- err
				return
			}
		}
	}), 100*time.Millisecond)
	resp, err := h(context.Background(), getEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if _, err := resp.Read(make([]byte, 64)); err != nil { // some of the prelude, then nothing
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("write error is nil")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still writes to a reader that stalled 5 s ago")
	}
}

// A handler that panics before it answers gives a 500, not a hung reader.
func TestStreamPanicBeforeTheAnswerIs500(t *testing.T) {
	h := apifunc.Stream(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), time.Second)
	resp, err := h(context.Background(), getEvents)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp); err == nil {
		t.Error("the body ends cleanly, want an error: the answer failed")
	}
}
