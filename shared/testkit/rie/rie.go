// Package rie runs a function's bootstrap under AWS's Lambda Runtime
// Interface Emulator (RIE), the program inside every Lambda base image and
// under `sam local`: the emulator starts the bootstrap, serves it the
// Runtime API, and takes invocations over HTTP, one at a time, as a Lambda
// execution environment does. The emulator is the Go module
// github.com/aws/aws-lambda-runtime-interface-emulator, pinned in go.mod as
// a tool, and built from the module cache.
package rie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

// EmulatorPackage is the emulator's main package, a tool of go.mod.
const EmulatorPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// invokePath is where the emulator takes invocations (Lambda's Invoke API
// path, with the one function it serves named "function").
const invokePath = "/2015-03-31/functions/function/invocations"

// BuildFlags are `make build`'s flags for a function binary (a test keeps
// the two in agreement); Build adds CGO_ENABLED=0 and leaves GOOS and
// GOARCH to the machine, so the binary runs here.
func BuildFlags() []string {
	return []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}
}

// BuildFunction compiles pkg (relative to the module root) into out with
// BuildFlags, for this machine.
func BuildFunction(ctx context.Context, goTool, root, pkg, out string) error {
	args := append([]string{"build"}, BuildFlags()...)
	return goBuild(ctx, goTool, root, append(args, "-o", out, pkg), "CGO_ENABLED=0")
}

// BuildEmulator compiles the emulator pinned in go.mod into out.
func BuildEmulator(ctx context.Context, goTool, root, out string) error {
	return goBuild(ctx, goTool, root, []string{"build", "-o", out, EmulatorPackage})
}

func goBuild(ctx context.Context, goTool, root string, args []string, env ...string) error {
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %v: %w\n%s", goTool, args, err, msg)
	}
	return nil
}

// Options say what to run.
type Options struct {
	Emulator  string // the aws-lambda-rie binary
	Bootstrap string // the function's binary; it runs in its own folder
	// Env is the whole environment of the emulator, which hands it on to
	// the function: what Lambda sets (AWS_REGION, the role's credentials,
	// AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_MEMORY_SIZE...) and the
	// function's own variables. The emulator also reads LOG_LEVEL, which is
	// one of ours: its own level is set by flag, so that does not matter.
	Env []string
	// Timeout is the function's timeout (AWS_LAMBDA_FUNCTION_TIMEOUT, whole
	// seconds); 3 s, Lambda's default, when zero.
	Timeout time.Duration
}

// Sandbox is one emulator process with its function: one execution
// environment. The function starts (its init) at the first invocation,
// as the emulator does it.
type Sandbox struct {
	addr   string // the emulator's invocation address
	cmd    *exec.Cmd
	out    *syncbuf.Buffer
	exited chan struct{}
	err    error // how the process ended, once exited is closed
}

// startAttempts: the ports are found free and then handed to the
// emulator, so another process may take one in between; the emulator then
// exits at once and the start is tried again on other ports.
const startAttempts = 3

// Start starts the emulator on two free ports of 127.0.0.1 and waits until
// it takes invocations. Close stops it.
func Start(ctx context.Context, o Options) (*Sandbox, error) {
	var err error
	for range startAttempts {
		var s *Sandbox
		if s, err = start(ctx, o); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func start(ctx context.Context, o Options) (*Sandbox, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	s := &Sandbox{addr: "127.0.0.1:" + ports[0], out: &syncbuf.Buffer{}, exited: make(chan struct{})}
	// The debug level logs INIT REPORT, the init duration as Lambda
	// measures it (process start to the runtime's first /next); the REPORT
	// line's Init Duration only times the emulator's dispatch of the init.
	s.cmd = exec.Command(o.Emulator, "--log-level", "debug",
		"--runtime-interface-emulator-address", s.addr,
		"--runtime-api-address", "127.0.0.1:"+ports[1],
		o.Bootstrap)
	s.cmd.Dir = filepath.Dir(o.Bootstrap)
	s.cmd.Env = append(append([]string{}, o.Env...),
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(int((timeout+time.Second-1)/time.Second)))
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// Its own process group, so Close also ends the function it started.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the emulator: %w", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitListening(ctx, 30*time.Second); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w\n%s", err, s.out.String())
	}
	return s, nil
}

// waitListening waits until the emulator accepts connections.
func (s *Sandbox) waitListening(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("the emulator exited at start (%v)", s.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the emulator did not listen on %s within %s", s.addr, limit)
		}
	}
}

// Result is the emulator's answer to one invocation.
type Result struct {
	// Status is the emulator's HTTP status: 200 for an answer or a
	// function error, 502 when the function could not start or crashed.
	Status  int
	Payload []byte // the function's answer, or its error document
}

// Invoke hands the function one event and waits for its answer.
func (s *Sandbox) Invoke(ctx context.Context, event []byte) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.addr+invokePath, bytes.NewReader(event))
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 7<<20)) // Lambda's 6 MB, and some
	if err != nil {
		return Result{}, fmt.Errorf("invoke: read the answer: %w", err)
	}
	return Result{Status: resp.StatusCode, Payload: body}, nil
}

// Output is what the emulator and the function wrote so far, both
// streams: the emulator's log, and the function's log lines and EMF
// documents, as CloudWatch Logs would receive them.
func (s *Sandbox) Output() string { return s.out.String() }

// initReport starts the emulator's debug line for a finished init:
// "INIT REPORT(durationMs: 62.021000)".
const initReport = "INIT REPORT(durationMs: "

// InitDuration is the init duration as Lambda measures it: from the start
// of the function's process to its first request for an event. It is
// known once the first invocation has begun.
func (s *Sandbox) InitDuration() (time.Duration, error) {
	_, rest, ok := strings.Cut(s.out.String(), initReport)
	if !ok {
		return 0, errors.New("the emulator logged no INIT REPORT (has the function been invoked?)")
	}
	v, _, _ := strings.Cut(rest, ")")
	ms, err := strconv.ParseFloat(v, 64)
	if err != nil || ms < 0 {
		return 0, fmt.Errorf("INIT REPORT %q is no duration", v)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// InvokeDurations waits for the REPORT lines of the first n invocations
// and returns their durations ("Duration: 196.41 ms"): from the event
// handed to the function (after its init) to its answer. The emulator
// writes a REPORT line once the function asks for its next event, which
// may be just after the answer reached the caller.
func (s *Sandbox) InvokeDurations(ctx context.Context, n int) ([]time.Duration, error) {
	for {
		ds, err := reports(s.out.String())
		if err != nil || len(ds) >= n {
			return ds, err
		}
		select {
		case <-ctx.Done():
			return ds, fmt.Errorf("%d REPORT lines, want %d: %w", len(ds), n, ctx.Err())
		case <-s.exited:
			return ds, fmt.Errorf("%d REPORT lines, want %d: the emulator exited", len(ds), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// reports reads the durations of the REPORT lines in out.
func reports(out string) ([]time.Duration, error) {
	var ds []time.Duration
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "REPORT RequestId: ") {
			continue
		}
		_, rest, ok := strings.Cut(line, "\tDuration: ")
		v, _, _ := strings.Cut(rest, " ms")
		ms, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || ms < 0 {
			return nil, fmt.Errorf("REPORT line without a duration: %q", line)
		}
		ds = append(ds, time.Duration(ms*float64(time.Millisecond)))
	}
	return ds, nil
}

// FunctionPID is the process id of the function, the emulator's one
// child, once the first invocation has started it (Linux: /proc).
func (s *Sandbox) FunctionPID() (int, error) {
	files, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(s.cmd.Process.Pid), "task", "*", "children"))
	if err != nil {
		return 0, err
	}
	var pids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		for _, field := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(field)
			if err != nil {
				return 0, fmt.Errorf("%s: %q is no process id", f, field)
			}
			pids = append(pids, pid)
		}
	}
	if len(pids) != 1 {
		return 0, fmt.Errorf("the emulator has %d child processes, want 1 (the function): %v", len(pids), pids)
	}
	return pids[0], nil
}

// Close stops the emulator and the function, and waits for the emulator.
func (s *Sandbox) Close() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	// The emulator starts the function in a process group of its own:
	// both groups go.
	if pid, err := s.FunctionPID(); err == nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	return nil
}

// freePorts finds n ports of 127.0.0.1 that are free now.
func freePorts(n int) ([]string, error) {
	var ports []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// LambdaEnv is what Lambda itself sets in a function's environment
// (provided.al2023, on-demand init) for a function named name with
// memoryMB of memory in region, with credentials as Lambda passes a
// role's: in the environment, so the SDK never asks IMDS. The caller adds
// the function's own variables.
func LambdaEnv(name string, memoryMB int, region string, credentials [3]string) []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(memoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[$LATEST]00000000000000000000000000000000",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"_HANDLER=bootstrap",
		"AWS_ACCESS_KEY_ID=" + credentials[0],
		"AWS_SECRET_ACCESS_KEY=" + credentials[1],
		"AWS_SESSION_TOKEN=" + credentials[2],
	}
}

// OwnEnv is a function's own variables, as the stack sets them: each name
// the function reads (infra/spec) with its value from values. A name with
// no value is an error: a function is never run with a variable the
// harness forgot.
func OwnEnv(function string, reads []string, values map[string]string) ([]string, error) {
	var env []string
	for _, name := range reads {
		v, ok := values[name]
		if !ok {
			return nil, fmt.Errorf("function %s reads %s, which has no value here", function, name)
		}
		env = append(env, name+"="+v)
	}
	return env, nil
}
