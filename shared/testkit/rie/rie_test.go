package rie

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

// root is the module root, seen from shared/testkit/rie.
const root = "../../.."

// The functions the tests run are built as `make build` builds the ones
// we deploy: the Makefile's flags and BuildFlags are the same.
func TestBuildFlagsAreTheMakefiles(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var shell []string
	for _, f := range BuildFlags() {
		if v, ok := strings.CutPrefix(f, "-ldflags="); ok {
			f = "-ldflags='" + v + "'"
		}
		shell = append(shell, f)
	}
	want := "CGO_ENABLED=0 $(GO) build " + strings.Join(shell, " ") + " "
	if !strings.Contains(string(b), want) {
		t.Errorf("the Makefile's build recipe has no %q: make build and BuildFlags disagree", want)
	}
}

func TestAFunctionAnswersUnderTheEmulator(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	emulator, bootstrap := filepath.Join(dir, "aws-lambda-rie"), filepath.Join(dir, "hello", "bootstrap")
	if err := BuildEmulator(ctx, "go", root, emulator); err != nil {
		t.Fatal(err)
	}
	if err := BuildFunction(ctx, "go", root, "./scripts/coldstart/hello", bootstrap); err != nil {
		t.Fatal(err)
	}
	env := LambdaEnv("hello", 128, "eu-west-1", [3]string{"id", "secret", "token"})
	s, err := Start(ctx, Options{Emulator: emulator, Bootstrap: bootstrap, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.InitDuration(); err == nil {
		t.Error("an init duration before the first invocation: the emulator starts the function at the first one")
	}

	for range 2 { // cold, then warm
		res, err := s.Invoke(ctx, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != 200 || string(res.Payload) != `"hello"` {
			t.Fatalf("answer %d %s, want 200 \"hello\"\n%s", res.Status, res.Payload, s.Output())
		}
	}
	init, err := s.InitDuration()
	if err != nil || init <= 0 || init > time.Minute {
		t.Errorf("init duration %v (%v)\n%s", init, err, s.Output())
	}
	if ds, err := s.InvokeDurations(ctx, 2); err != nil || len(ds) != 2 || ds[0] <= 0 || ds[1] <= 0 {
		t.Errorf("invoke durations %v (%v), want two", ds, err)
	}
	if n := strings.Count(s.Output(), "INIT REPORT"); n != 1 {
		t.Errorf("%d INIT REPORT lines, want 1: the second invocation is warm", n)
	}

	// Close ends the function too, not only the emulator.
	pid, err := s.FunctionPID()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// SIGKILL is delivered asynchronously: give it a moment.
	for deadline := time.Now().Add(5 * time.Second); running(pid) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if running(pid) {
		t.Errorf("process %d (the function) still runs after Close", pid)
	}
}

func TestInitDurationParsesTheEmulatorsReport(t *testing.T) {
	s := &Sandbox{out: &syncbuf.Buffer{}}
	s.out.Write([]byte("05 Dec 2026 12:52:39,917 [INFO] (rapid) INIT RTDONE(status: success)\n" +
		"05 Dec 2026 12:52:39,917 [INFO] (rapid) INIT REPORT(durationMs: 62.021000)\n"))
	if d, err := s.InitDuration(); err != nil || d != 62021*time.Microsecond {
		t.Errorf("InitDuration = %v, %v; want 62.021ms", d, err)
	}
	s = &Sandbox{out: &syncbuf.Buffer{}}
	s.out.Write([]byte("INIT REPORT(durationMs: soon)\n"))
	if _, err := s.InitDuration(); err == nil {
		t.Error("a report with no number parsed")
	}
}

// running reports whether a process runs: it exists and is no zombie
// (one that ended, waiting for its parent to reap it).
func running(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}
