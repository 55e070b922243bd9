package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/plainview/serverless/shared/lambdaemu"
)

// build compiles t as `make build` does for Lambda, but for this machine's
// architecture, into dir/<name>/bootstrap, and returns the path.
func build(ctx context.Context, goTool, root, dir string, t target) (string, error) {
	out := filepath.Join(dir, t.name, "bootstrap")
	cmd := exec.CommandContext(ctx, goTool, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, t.pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", t.name, err, msg)
	}
	return out, nil
}

// coldStart starts binary as a fresh Lambda sandbox would, hands it t's
// event once it asks for one, and measures the init, the invocation and
// the peak memory. The process is killed afterwards: the next sample is a
// cold start again.
func coldStart(ctx context.Context, w *world, t target, binary string) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	dynamoURL, stopTable, err := w.table(ctx)
	if err != nil {
		return sample{}, err
	}
	defer stopTable()

	emu := lambdaemu.New(lambdaemu.Options{
		FunctionARN: "arn:aws:lambda:" + region + ":000000000000:function:plainview-" + t.name,
		Timeout:     t.timeout,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return sample{}, fmt.Errorf("runtime API listener: %w", err)
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	env, err := w.env(t, ln.Addr().String(), filepath.Dir(binary), dynamoURL)
	if err != nil {
		return sample{}, err
	}
	var logs bytes.Buffer // the function's log lines, shown only if it fails
	cmd := exec.Command(binary)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, filepath.Dir(binary), &logs, &logs

	// A process that dies ends the wait for it, with its logs as the cause.
	alive, died := context.WithCancelCause(ctx)
	defer died(nil)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, fmt.Errorf("start %s: %w", t.name, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		died(fmt.Errorf("the process exited (%v)", err))
		close(exited)
	}()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	fail := func(step string, err error) (sample, error) {
		if cause := context.Cause(alive); cause != nil && !errors.Is(cause, err) {
			err = fmt.Errorf("%w: %w", err, cause)
		}
		return sample{}, fmt.Errorf("%s %s: %w\n%s", t.name, step, err, logs.String())
	}
	ready, err := emu.WaitReady(alive)
	if err != nil {
		return fail("init", err)
	}
	res, err := emu.Invoke(alive, t.event)
	if err != nil {
		return fail("invocation", err)
	}
	// VmHWM, not the rusage of the reaped process: Go starts a child with
	// vfork semantics, so the child's ru_maxrss can carry the parent's
	// (this harness's) peak from before exec.
	rssKB, err := peakRSS(cmd.Process.Pid)
	if err != nil {
		return fail("peak memory", err)
	}
	outcome, err := t.answer(res.Payload, res.Err)
	if err != nil {
		return fail("answer", err)
	}
	return sample{
		init:      ready.Sub(start),
		invoke:    res.Duration(),
		rssKB:     rssKB,
		initCalls: w.calls.between(start, ready),
		outcome:   outcome,
	}, nil
}

// peakRSS reads a live process's peak resident set (VmHWM, in KiB) from
// /proc: Linux only, as is Lambda.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak memory needs Linux's /proc: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM in /proc status")
}
