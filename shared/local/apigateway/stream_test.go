package apigateway_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/local/apigateway"
	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

// pipeStream is a streamed function whose body the test writes: what it
// writes goes to the gateway as Lambda's runtime would send it.
type pipeStream struct {
	w       *io.PipeWriter
	invoked chan events.APIGatewayProxyRequest
}

func newPipeStream(status int, headers map[string]string) (*pipeStream, apigateway.StreamHandler) {
	p := &pipeStream{invoked: make(chan events.APIGatewayProxyRequest, 1)}
	pr, pw := io.Pipe()
	p.w = pw
	return p, func(_ context.Context, ev events.APIGatewayProxyRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
		p.invoked <- ev
		return &events.LambdaFunctionURLStreamingResponse{StatusCode: status, Headers: headers, Body: pr}, nil
	}
}

// streamServer serves the route table with fn as the events function.
func streamServer(t *testing.T, fn apigateway.StreamHandler, opts apigateway.Options) *httptest.Server {
	t.Helper()
	opts.Streams = map[string]apigateway.StreamHandler{routes.FuncEvents: fn}
	opts.DisableThrottling = true
	return serve(t, every(nil), opts)
}

func TestStreamedAnswerGoesOutPieceByPiece(t *testing.T) {
	p, fn := newPipeStream(http.StatusOK, map[string]string{"Content-Type": "text/event-stream", "X-Amzn-RequestId": "forged"})
	srv := streamServer(t, fn, apigateway.Options{})

	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("answer %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if id := resp.Header.Get("X-Amzn-RequestId"); id == "" || id == "forged" {
		t.Errorf("X-Amzn-RequestId = %q, want the gateway's", id)
	}
	if ev := <-p.invoked; ev.HTTPMethod != http.MethodGet || ev.Resource != "/events" {
		t.Errorf("event = %s %s", ev.HTTPMethod, ev.Resource)
	}
	r := bufio.NewReader(resp.Body)
	for _, piece := range []string{"data: one\n\n", "data: two\n\n"} {
		// The next piece is written only once the client has the last
		// one: a gateway that buffered would never let this pass.
		if _, err := io.WriteString(p.w, piece); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(piece))
		if _, err := io.ReadFull(r, got); err != nil || string(got) != piece {
			t.Fatalf("read %q (%v), want %q", got, err, piece)
		}
	}
	p.w.Close()
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Errorf("after the function's end: %q %v, want a clean end", rest, err)
	}
}

func TestMalformedStreamedAnswerIs502(t *testing.T) {
	_, fn := newPipeStream(99, nil)
	srv := streamServer(t, fn, apigateway.Options{})
	resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/events", nil))
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), `"internal_error"`) {
		t.Errorf("answer %d %s, want 502 in the error shape", resp.StatusCode, body)
	}
}

func TestStreamedAnswerEndsAtTheStreamTimeout(t *testing.T) {
	p, fn := newPipeStream(http.StatusOK, nil)
	srv := streamServer(t, fn, apigateway.Options{StreamTimeout: 300 * time.Millisecond})
	werr := make(chan error, 1)
	go func() {
		for {
			if _, err := io.WriteString(p.w, "data: x\n\n"); err != nil {
				werr <- err
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("read: %v, want the answer to end", err)
	}
	select {
	case err := <-werr:
		if !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("the function's write failed with %v, want io.ErrClosedPipe", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the function's writes still go through after the stream timeout")
	}
}

// smallBuffers is a listener whose connections have small socket buffers,
// so that a client that stops reading fills them after kilobytes, not
// megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func TestAStalledClientIsCutOff(t *testing.T) {
	p, fn := newPipeStream(http.StatusOK, map[string]string{"Content-Type": "text/event-stream"})
	var logs syncbuf.Buffer
	opts := apigateway.Options{
		Streams: map[string]apigateway.StreamHandler{routes.FuncEvents: fn}, DisableThrottling: true,
		Stall: 300 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	}
	srv := httptest.NewUnstartedServer(apigateway.New(routes.Table(), every(nil), opts))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)

	// A client that sends its request and then reads nothing, with a
	// small receive window.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
		t.Fatal(err)
	}

	werr := make(chan error, 1)
	go func() {
		piece := []byte("data: " + strings.Repeat("x", 16<<10) + "\n\n")
		for {
			if _, err := p.w.Write(piece); err != nil {
				werr <- err
				return
			}
		}
	}()
	select {
	case err := <-werr:
		if !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("the function's write failed with %v, want io.ErrClosedPipe", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the function still writes to a client that reads nothing, 10 s on")
	}
	// The write's failure also cancels the request, which may close the
	// function's side before the gateway's log line is out.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "stream cut off"); {
		if time.Now().After(deadline) {
			t.Fatalf("log = %s, want the cut-off said", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAStreamedRouteWithoutItsFunctionIs502(t *testing.T) {
	srv := serve(t, every(nil), apigateway.Options{DisableThrottling: true})
	resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/events", nil))
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("answer %d %s, want 502", resp.StatusCode, body)
	}
}
