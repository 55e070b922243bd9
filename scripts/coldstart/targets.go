package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/plainview/serverless/infra/spec"
)

// floor is the name of the hello-world function every init is compared
// with.
const floor = "hello"

// target is one function to measure: its package, the configuration the
// stack deploys it with, the event it is handed and the answer that event
// must get.
type target struct {
	name     string
	pkg      string        // the package to build, relative to the module root
	root     string        // the checkout to build it from, when not this one (-against)
	memoryMB int           // AWS_LAMBDA_FUNCTION_MEMORY_SIZE
	timeout  time.Duration // the invocation's deadline
	env      []string      // the names of the function's own variables (infra/spec)
	event    []byte
	// answer reads the first invocation's result: a short outcome for the
	// report, and an error when it is not what the event should get (a
	// cold start timed on an error path would measure the wrong thing).
	answer func(payload []byte) (string, error)
}

// sampleEvents names, for each function, the event of events/<name>/ it is
// handed and the answer it must give. timeouts runs on a schedule and has
// no sample file: it gets an EventBridge scheduled event, which it ignores.
var sampleEvents = map[string]struct {
	file   string
	answer func([]byte) (string, error)
}{
	"reads":      {"get-valve.json", proxyStatus(200)},
	"valves":     {"actuate.json", proxyStatus(202)},
	"incidents":  {"create-incident.json", proxyStatus(201)},
	"events":     {"list-events.json", streamedStatus(200)},
	"authorizer": {"request.json", allowPolicy},
	"ingest":     {"telemetry-stream.json", noBatchFailures},
	"timeouts":   {"", timedOut(0)},
}

// scheduledEvent is what EventBridge hands a scheduled function.
const scheduledEvent = `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event",` +
	`"source":"aws.events","account":"000000000000","time":"2026-01-01T00:00:00Z","region":"eu-west-1",` +
	`"resources":["arn:aws:events:eu-west-1:000000000000:rule/plainview-timeouts"],"detail":{}}`

// targets returns the floor and then every function the stack deploys, in
// the stack's order, or those named in only.
func targets(root string, only []string) ([]target, error) {
	out := []target{{
		name: floor, pkg: "./scripts/coldstart/hello", memoryMB: 128, timeout: 3 * time.Second,
		event: []byte(`{}`), answer: literal("hello"),
	}}
	known := []string{floor}
	for _, fn := range spec.Functions() {
		known = append(known, fn.Name)
		if len(only) > 0 && !slices.Contains(only, fn.Name) {
			continue
		}
		ev, ok := sampleEvents[fn.Name]
		if !ok {
			return nil, fmt.Errorf("function %s has no sample event chosen in scripts/coldstart (sampleEvents)", fn.Name)
		}
		event := []byte(scheduledEvent)
		if ev.file != "" {
			var err error
			if event, err = os.ReadFile(filepath.Join(root, "events", fn.Name, ev.file)); err != nil {
				return nil, fmt.Errorf("function %s: %w", fn.Name, err)
			}
		}
		out = append(out, target{
			name: fn.Name, pkg: "./functions/" + fn.Name, memoryMB: fn.MemoryMB, timeout: fn.Timeout,
			env: fn.Env, event: event, answer: ev.answer,
		})
	}
	for _, name := range only {
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("-only: no function %q (the stack has %v)", name, known[1:])
		}
	}
	return out, nil
}

// failed reads a function error, the document the emulator answers when
// the function reported one ({"errorMessage": ..., "errorType": ...}).
func failed(payload []byte) error {
	var fail struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	if json.Unmarshal(payload, &fail) != nil || fail.Type == "" {
		return nil
	}
	return fmt.Errorf("the function failed: %s: %s", fail.Type, fail.Message)
}

// proxyStatus expects an API Gateway proxy response with status code.
func proxyStatus(code int) func([]byte) (string, error) {
	return func(payload []byte) (string, error) {
		if err := failed(payload); err != nil {
			return "", err
		}
		var resp events.APIGatewayProxyResponse
		if err := json.Unmarshal(payload, &resp); err != nil {
			return "", fmt.Errorf("the answer is no proxy response: %w", err)
		}
		got := strconv.Itoa(resp.StatusCode)
		if resp.StatusCode != code {
			return got, fmt.Errorf("status %d, want %d: %s", resp.StatusCode, code, resp.Body)
		}
		return got, nil
	}
}

// streamedStatus expects a streamed answer (a function behind a streamed
// integration: a JSON prelude, eight zero bytes, the body) with status
// code.
func streamedStatus(code int) func([]byte) (string, error) {
	return func(payload []byte) (string, error) {
		if err := failed(payload); err != nil {
			return "", err
		}
		head, body, ok := bytes.Cut(payload, make([]byte, 8))
		var prelude struct {
			StatusCode int `json:"statusCode"`
		}
		if !ok || json.Unmarshal(head, &prelude) != nil {
			return "", fmt.Errorf("the answer is no streamed answer (prelude, eight zero bytes, body): %.200q", payload)
		}
		got := strconv.Itoa(prelude.StatusCode)
		if prelude.StatusCode != code {
			return got, fmt.Errorf("status %d, want %d: %s", prelude.StatusCode, code, body)
		}
		return got, nil
	}
}

// allowPolicy expects an authorizer's Allow.
func allowPolicy(payload []byte) (string, error) {
	if err := failed(payload); err != nil {
		return "", err
	}
	var resp events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return "", fmt.Errorf("the answer is no authorizer response: %w", err)
	}
	if len(resp.PolicyDocument.Statement) != 1 || resp.PolicyDocument.Statement[0].Effect != "Allow" {
		return "", fmt.Errorf("want one Allow statement, got %s", payload)
	}
	return "Allow", nil
}

// noBatchFailures expects a Kinesis batch answer that retries nothing.
func noBatchFailures(payload []byte) (string, error) {
	if err := failed(payload); err != nil {
		return "", err
	}
	var resp events.KinesisEventResponse
	if err := json.Unmarshal(payload, &resp); err != nil || resp.BatchItemFailures == nil {
		return "", fmt.Errorf("the answer is no Kinesis batch response (%v): %s", err, payload)
	}
	if len(resp.BatchItemFailures) != 0 {
		return "", fmt.Errorf("%d records of the batch failed: %s", len(resp.BatchItemFailures), payload)
	}
	return "0 failed", nil
}

// timedOut expects the timeouts pass to end n actuations.
func timedOut(n int) func([]byte) (string, error) {
	return func(payload []byte) (string, error) {
		if err := failed(payload); err != nil {
			return "", err
		}
		var got int
		if err := json.Unmarshal(payload, &got); err != nil {
			return "", fmt.Errorf("the answer is no count: %w", err)
		}
		if got != n {
			return "", fmt.Errorf("%d timed out, want %d", got, n)
		}
		return fmt.Sprintf("%d timed out", got), nil
	}
}

// literal expects a JSON string.
func literal(want string) func([]byte) (string, error) {
	return func(payload []byte) (string, error) {
		if err := failed(payload); err != nil {
			return "", err
		}
		var got string
		if err := json.Unmarshal(payload, &got); err != nil || got != want {
			return "", errors.New("want " + strconv.Quote(want) + ", got " + string(payload))
		}
		return got, nil
	}
}
