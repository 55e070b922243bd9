package lambdaemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/plainview/serverless/shared/lambdaemu"
)

// runtimeEnv marks the test binary re-run as a function process: it then
// runs the real aws-lambda-go runtime loop against the emulator instead of
// the tests.
const runtimeEnv = "LAMBDAEMU_TEST_RUNTIME"

func TestMain(m *testing.M) {
	if os.Getenv(runtimeEnv) == "1" {
		lambda.Start(echo) // never returns
	}
	os.Exit(m.Run())
}

// seen is what the function saw of its invocation, answered back so the
// tests can check what the emulator sent.
type seen struct {
	Event       json.RawMessage `json:"event"`
	RequestID   string          `json:"request_id"`
	FunctionARN string          `json:"function_arn"`
	DeadlineMs  int64           `json:"deadline_ms"`
}

// echo answers what it was given, or fails when the event asks it to.
func echo(ctx context.Context, ev json.RawMessage) (seen, error) {
	var ask struct {
		Fail  string `json:"fail"`
		Panic string `json:"panic"`
	}
	_ = json.Unmarshal(ev, &ask)
	if ask.Panic != "" {
		panic(ask.Panic)
	}
	if ask.Fail != "" {
		return seen{}, errors.New(ask.Fail)
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	return seen{Event: ev, RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn, DeadlineMs: deadline.UnixMilli()}, nil
}

const arn = "arn:aws:lambda:eu-west-1:000000000000:function:echo"

// startRuntime serves an emulator and starts this test binary as the
// function process pointed at it, the way a Lambda sandbox starts one.
func startRuntime(t *testing.T, timeout time.Duration) (*lambdaemu.Emulator, time.Time) {
	t.Helper()
	emu := lambdaemu.New(lambdaemu.Options{FunctionARN: arn, Timeout: timeout})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{
		runtimeEnv + "=1",
		"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(srv.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME=echo",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
	}
	cmd.Stderr = os.Stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the function process: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return emu, started
}

func TestARealRuntimeAnswersAnInvocation(t *testing.T) {
	emu, started := startRuntime(t, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ready, err := emu.WaitReady(ctx)
	if err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if !ready.After(started) || !ready.Equal(emu.FirstNext()) {
		t.Errorf("first GET /next at %v; the process started at %v and FirstNext says %v", ready, started, emu.FirstNext())
	}

	res, err := emu.Invoke(ctx, []byte(`{"valve":"v-101"}`))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if res.Err != nil {
		t.Fatalf("the function failed: %v", res.Err)
	}
	var got seen
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatalf("response %q: %v", res.Payload, err)
	}
	if string(got.Event) != `{"valve":"v-101"}` {
		t.Errorf("the function was handed %s", got.Event)
	}
	if got.RequestID == "" || got.RequestID != res.RequestID {
		t.Errorf("the function saw request id %q, the emulator recorded %q", got.RequestID, res.RequestID)
	}
	if got.FunctionARN != arn {
		t.Errorf("the function saw ARN %q, want %q", got.FunctionARN, arn)
	}
	if want := res.HandedOut.Add(5 * time.Second).UnixMilli(); got.DeadlineMs != want {
		t.Errorf("the function's deadline is %d ms, want the hand-out time plus the timeout, %d", got.DeadlineMs, want)
	}
	if res.HandedOut.Before(ready) || res.Done.Before(res.HandedOut) || res.Duration() != res.Done.Sub(res.HandedOut) {
		t.Errorf("timestamps out of order: ready %v, handed out %v, done %v", ready, res.HandedOut, res.Done)
	}
}

func TestAWarmSandboxServesInvocationsInTurn(t *testing.T) {
	emu, _ := startRuntime(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var last lambdaemu.Result
	ids := map[string]bool{}
	for i := range 3 {
		ev := fmt.Sprintf(`{"n":%d}`, i)
		res, err := emu.Invoke(ctx, []byte(ev))
		if err != nil || res.Err != nil {
			t.Fatalf("invocation %d: %v %v", i, err, res.Err)
		}
		var got seen
		if err := json.Unmarshal(res.Payload, &got); err != nil || string(got.Event) != ev {
			t.Errorf("invocation %d answered %s (%v), want the echo of %s", i, res.Payload, err, ev)
		}
		if ids[res.RequestID] {
			t.Errorf("request id %s handed out twice", res.RequestID)
		}
		ids[res.RequestID] = true
		if i > 0 && res.HandedOut.Before(last.Done) {
			t.Errorf("invocation %d handed out at %v, before the previous one finished at %v", i, res.HandedOut, last.Done)
		}
		last = res
	}
}

func TestAFunctionErrorIsAResultNotAnInvokeFailure(t *testing.T) {
	emu, _ := startRuntime(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	res, err := emu.Invoke(ctx, []byte(`{"fail":"valve v-999 is not in the inventory"}`))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if res.Err == nil || res.Err.Message != "valve v-999 is not in the inventory" || res.Err.Type != "errorString" {
		t.Fatalf("want the handler's error (errorString), got %+v, payload %q", res.Err, res.Payload)
	}
	if res.Payload != nil {
		t.Errorf("a failed invocation has payload %q", res.Payload)
	}

	// The sandbox lives on after a returned error.
	res, err = emu.Invoke(ctx, []byte(`{}`))
	if err != nil || res.Err != nil {
		t.Fatalf("the invocation after an error: %v %v", err, res.Err)
	}
}

func TestAPanicIsReportedWithItsStack(t *testing.T) {
	emu, _ := startRuntime(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	res, err := emu.Invoke(ctx, []byte(`{"panic":"boom"}`))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if res.Err == nil || res.Err.Message != "boom" || len(res.Err.Trace) == 0 {
		t.Fatalf("want the panic with a stack trace, got %+v", res.Err)
	}
}

// post sends body to the emulator's path as a runtime would.
func post(t *testing.T, url, body string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var doc map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("POST %s: answer is not a JSON object: %v", url, err)
	}
	return resp.StatusCode, doc
}

func TestAnInitErrorFailsTheSandbox(t *testing.T) {
	emu := lambdaemu.New(lambdaemu.Options{})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	code, doc := post(t, srv.URL+"/2018-06-01/runtime/init/error", `{"errorMessage":"TABLE_NAME is required","errorType":"Runtime.ConfigError"}`)
	if code != http.StatusAccepted || doc["status"] != "OK" {
		t.Fatalf("init error answered %d %v, want 202 {status: OK}", code, doc)
	}
	if fe := emu.InitError(); fe == nil || fe.Type != "Runtime.ConfigError" || fe.Message != "TABLE_NAME is required" {
		t.Errorf("InitError() = %+v", fe)
	}
	if _, err := emu.WaitReady(ctx); !errors.Is(err, lambdaemu.ErrInitFailed) {
		t.Errorf("WaitReady after an init error: %v, want ErrInitFailed", err)
	}
	if _, err := emu.Invoke(ctx, []byte(`{}`)); !errors.Is(err, lambdaemu.ErrInitFailed) {
		t.Errorf("Invoke after an init error: %v, want ErrInitFailed", err)
	}
	if code, _ := post(t, srv.URL+"/2018-06-01/runtime/init/error", `{}`); code != http.StatusForbidden {
		t.Errorf("a second init error answered %d, want 403", code)
	}
}

func TestAnswersForNoInvocationInFlightAreRefused(t *testing.T) {
	srv := httptest.NewServer(lambdaemu.New(lambdaemu.Options{}))
	defer srv.Close()
	for _, path := range []string{"/response", "/error"} {
		code, doc := post(t, srv.URL+"/2018-06-01/runtime/invocation/not-a-request"+path, `{}`)
		if code != http.StatusBadRequest || doc["errorType"] != "InvalidRequestID" {
			t.Errorf("%s for an unknown id answered %d %v, want 400 InvalidRequestID", path, code, doc)
		}
	}
}

func TestInvokeRefusesAnEventThatIsNotJSON(t *testing.T) {
	emu := lambdaemu.New(lambdaemu.Options{})
	if _, err := emu.Invoke(context.Background(), []byte(`{"unterminated`)); err == nil {
		t.Fatal("Invoke accepted an event that is not JSON")
	}
}

func TestInvokeGivesUpWhenNoRuntimeAsks(t *testing.T) {
	emu := lambdaemu.New(lambdaemu.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := emu.Invoke(ctx, []byte(`{}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Invoke with no runtime and an ended context: %v, want context.Canceled", err)
	}
}
