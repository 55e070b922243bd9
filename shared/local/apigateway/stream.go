package apigateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/routes"
)

// maxPrelude is how far into a streamed answer the prelude must have
// ended: API Gateway's limit.
const maxPrelude = 16 << 10

// prelude is the JSON head of a streamed answer, the members API Gateway
// reads.
type prelude struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
}

// serveStream invokes a streamed integration and passes its body on as it
// comes, as API Gateway does with responseTransferMode STREAM: the
// function's bytes are read as Lambda's runtime reads them, the prelude
// becomes the status and headers, and the rest goes to the client piece
// by piece, each flushed. The answer ends when the function ends it, at
// the stream timeout, when the client goes, or when the client takes
// nothing for the stall time; the function's side is closed then, so its
// writes fail and it stops.
func (g *Gateway) serveStream(w http.ResponseWriter, r *http.Request, route routes.Route, fn StreamHandler, ev events.APIGatewayProxyRequest, ids requestIDs) {
	// As for a buffered integration, the function does not learn that the
	// client hung up from its context; it learns it from its writes.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), g.streamTimeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       ids.lambda,
		InvokedFunctionArn: arnPrefix + route.Function,
	})
	failed := func(msg string, err error) {
		g.log.ErrorContext(r.Context(), "gateway: "+msg,
			"request_id", ids.request, "aws_request_id", ids.lambda,
			"route", route.Pattern(), "function", route.Function, "err", err)
		g.fail(w, r, http.StatusBadGateway, apierror.CodeInternal, internalMessage)
	}

	var in events.APIGatewayProxyRequest
	if err := jsonRoundTrip(ev, &in); err != nil {
		failed("function failed", fmt.Errorf("serialise event: %w", err))
		return
	}
	// The prelude must come within the buffered timeout; the body may run
	// to the stream timeout.
	startCtx, startCancel := context.WithTimeout(ctx, g.timeout)
	resp, err := run(startCtx, func(_ context.Context, in events.APIGatewayProxyRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
		return fn(ctx, in)
	}, in)
	startCancel()
	if err != nil {
		failed("function failed", err)
		return
	}
	if resp == nil {
		failed("function failed", errors.New("no streamed answer"))
		return
	}
	// Whatever ends the answer, the function's side is closed, so a
	// function still writing finds out.
	defer resp.Close()
	stopReading := context.AfterFunc(ctx, func() { resp.Close() })
	defer stopReading()
	clientGone := context.AfterFunc(r.Context(), func() { resp.Close() })
	defer clientGone()

	body := bufio.NewReaderSize(resp, maxPrelude)
	head, err := readPrelude(body)
	if err != nil {
		failed("malformed streamed answer", err)
		return
	}
	if err := writeHead(w, head); err != nil {
		failed("malformed streamed answer", err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.Flush() // the status and headers now: an EventSource opens on them

	buf := make([]byte, 32<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			// A client that takes nothing for the stall time is cut off;
			// the deadline is per piece, not for the whole answer.
			_ = rc.SetWriteDeadline(time.Now().Add(g.stall))
			_, werr := w.Write(buf[:n])
			if werr == nil {
				werr = rc.Flush() // net/http's buffer may take the piece; the flush meets the stall
			}
			if werr != nil {
				g.log.WarnContext(r.Context(), "gateway: client stalled or gone, stream cut off",
					"request_id", ids.request, "route", route.Pattern(), "err", werr)
				return
			}
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) && ctx.Err() == nil && r.Context().Err() == nil {
				// The function's stream broke off: the client sees the
				// answer end early, as it would on AWS.
				g.log.ErrorContext(r.Context(), "gateway: streamed answer failed",
					"request_id", ids.request, "route", route.Pattern(), "err", rerr)
			}
			return
		}
	}
}

// readPrelude reads a streamed answer up to and including the eight zero
// bytes, and decodes the JSON before them. JSON holds no zero byte, so the
// first one ends it; it must come within r's buffer (maxPrelude).
func readPrelude(r *bufio.Reader) (prelude, error) {
	var p prelude
	head, err := r.ReadSlice(0)
	if errors.Is(err, bufio.ErrBufferFull) {
		return p, fmt.Errorf("no prelude end (eight zero bytes) in the first %d bytes", len(head))
	}
	if err != nil {
		return p, fmt.Errorf("read prelude: %w", err)
	}
	if err := json.Unmarshal(head[:len(head)-1], &p); err != nil {
		return p, fmt.Errorf("prelude: %w", err)
	}
	var rest [7]byte
	if _, err := io.ReadFull(r, rest[:]); err != nil || rest != [7]byte{} {
		return p, fmt.Errorf("prelude: not followed by eight zero bytes (%v)", err)
	}
	return p, nil
}

// writeHead sends a streamed answer's status and headers, with the
// gateway's own as for a buffered one.
func writeHead(w http.ResponseWriter, p prelude) error {
	if p.StatusCode == 0 {
		p.StatusCode = http.StatusOK
	}
	if p.StatusCode < 200 || p.StatusCode > 599 {
		return fmt.Errorf("status code %d", p.StatusCode)
	}
	h := w.Header()
	setHeaders(h, p.Headers, p.MultiValueHeaders)
	for _, c := range p.Cookies {
		h.Add("Set-Cookie", c)
	}
	w.WriteHeader(p.StatusCode)
	return nil
}
