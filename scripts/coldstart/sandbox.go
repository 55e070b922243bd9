package main

import (
	"bufio"
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

	"github.com/plainview/serverless/shared/testkit/rie"
	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

// build compiles t as `make build` does for Lambda (rie.BuildFlags), but
// for this machine's architecture, into dir/<name>/bootstrap, and returns
// the path.
func build(ctx context.Context, goTool, root, dir string, t target) (string, error) {
	out := filepath.Join(dir, t.name, "bootstrap")
	if err := rie.BuildFunction(ctx, goTool, root, t.pkg, out); err != nil {
		return "", fmt.Errorf("build %s: %w", t.name, err)
	}
	return out, nil
}

// coldStart starts binary as Lambda does, under AWS's Runtime Interface
// Emulator (the program of Lambda's base images), hands it t's event, and
// takes what Lambda reports: the init (the emulator's INIT REPORT, from
// the process's start to its first request for an event), the first
// invocation (its REPORT line's Duration) and the peak memory. The
// emulator and the function are killed afterwards: the next sample is a
// cold start again.
func coldStart(ctx context.Context, w *world, emulator string, t target, binary string) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	dynamoURL, stopTable, err := w.table(ctx)
	if err != nil {
		return sample{}, err
	}
	defer stopTable()

	env, err := w.env(t, filepath.Dir(binary), dynamoURL)
	if err != nil {
		return sample{}, err
	}
	sb, err := rie.Start(ctx, rie.Options{Emulator: emulator, Bootstrap: binary, Env: env, Timeout: t.timeout})
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", t.name, err)
	}
	defer sb.Close()
	fail := func(step string, err error) (sample, error) {
		return sample{}, fmt.Errorf("%s %s: %w\n%s", t.name, step, err, sb.Output())
	}

	// The emulator starts the function when the first invocation comes.
	start := time.Now()
	res, err := sb.Invoke(ctx, t.event)
	if err != nil {
		return fail("invocation", err)
	}
	if res.Status != http.StatusOK {
		return fail("invocation", fmt.Errorf("the emulator answered %d: %s", res.Status, res.Payload))
	}
	init, err := sb.InitDuration()
	if err != nil {
		return fail("init", err)
	}
	durations, err := sb.InvokeDurations(ctx, 1)
	if err != nil || len(durations) != 1 {
		return fail("invocation", fmt.Errorf("want one REPORT line: %v (%v)", durations, err))
	}
	// VmHWM of the live function, not the rusage of a reaped process:
	// Go starts a child with vfork semantics, so the child's ru_maxrss can
	// carry the parent's peak from before exec.
	pid, err := sb.FunctionPID()
	if err != nil {
		return fail("peak memory", err)
	}
	rssKB, err := peakRSS(pid)
	if err != nil {
		return fail("peak memory", err)
	}
	outcome, err := t.answer(res.Payload)
	if err != nil {
		return fail("answer", err)
	}
	return sample{
		init:   init,
		invoke: durations[0],
		rssKB:  rssKB,
		// The init began after the invocation was sent, so this window
		// holds it, and the emulator's own start-up precedes it.
		initCalls: w.calls.between(start, start.Add(init)),
		outcome:   outcome,
	}, nil
}

// directStart starts binary itself, with the environment coldStart gives
// it but no emulator, serves it the Runtime API's GET /next and never
// answers: the sample is the time from the process's start to that first
// request (what RIE's INIT REPORT times), and its peak memory then. Nothing
// is invoked, so no table is made and the function's first invocation is
// not measured (the emulator argument is unused).
func directStart(ctx context.Context, w *world, _ string, t target, binary string) (sample, error) {
	env, err := w.env(t, filepath.Dir(binary), "http://127.0.0.1:9")
	if err != nil {
		return sample{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return sample{}, err
	}
	next := make(chan time.Time, 1)
	api := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/2018-06-01/runtime/invocation/next" {
			select {
			case next <- time.Now():
			default:
			}
		}
		<-r.Context().Done() // no event: the process waits until it is killed
	})}
	go api.Serve(ln)
	defer api.Close()

	var out syncbuf.Buffer
	cmd := exec.CommandContext(ctx, binary)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, fmt.Errorf("%s: %w", t.name, err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var at time.Time
	select {
	case at = <-next:
	case <-time.After(30 * time.Second):
		return sample{}, fmt.Errorf("%s: no request for an event within 30s:\n%s", t.name, out.String())
	case <-ctx.Done():
		return sample{}, ctx.Err()
	}
	rssKB, err := peakRSS(cmd.Process.Pid)
	if err != nil {
		return sample{}, fmt.Errorf("%s peak memory: %w", t.name, err)
	}
	return sample{init: at.Sub(start), rssKB: rssKB, initCalls: w.calls.between(start, at), outcome: "(not invoked)"}, nil
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
