package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/plainview/serverless/shared/testkit/rie"
)

// options are the command's flags, checked.
type options struct {
	runs   int           // cold starts per function
	only   []string      // the functions to measure besides the floor; all when empty
	goal   time.Duration // the most a function's median init may exceed the floor's
	goTool string        // the go command that builds the binaries
	// against is another checkout of the module (a git worktree of an
	// earlier commit): its functions are measured too, interleaved with
	// these, as <name>@against, so a change is compared within one run.
	against string
	// direct starts each bootstrap itself, without the emulator, and
	// times it to its first GET /next only: no invocation, no table.
	direct bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("coldstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var only string
	fs.IntVar(&o.runs, "n", 10, "cold starts per function (1 to 1000)")
	fs.StringVar(&only, "only", "", "comma-separated functions to measure (the floor always runs); default all")
	fs.DurationVar(&o.goal, "goal", 2*time.Millisecond, "the goal: each function's median init at most this much above the floor's, in the same run")
	fs.StringVar(&o.goTool, "go", "go", "the go command to build with")
	fs.BoolVar(&o.direct, "direct", false, "start each bootstrap without the emulator and time it to its first request for an event (no invocation): less work per start, so more starts fit and a loaded machine blurs less")
	fs.StringVar(&o.against, "against", "", "another checkout of the module (git worktree add DIR COMMIT) whose functions are measured too, interleaved, as NAME@against")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.runs < 1 || o.runs > 1000 {
		return o, fmt.Errorf("-n %d: want 1 to 1000 cold starts", o.runs)
	}
	if o.goal < 0 || o.goal > time.Second {
		return o, fmt.Errorf("-goal %v: want 0 to 1s above the floor", o.goal)
	}
	if strings.TrimSpace(o.goTool) == "" {
		return o, errors.New("-go: empty")
	}
	for _, name := range strings.Split(only, ",") {
		if name = strings.TrimSpace(name); name != "" && name != floor {
			o.only = append(o.only, name)
		}
	}
	return o, nil
}

// measure builds every target and cold-starts each opts.runs times. The
// runs are interleaved (every function once, in a random order, then
// again), so a neighbour loading the machine for a while weighs on all
// functions alike.
func measure(ctx context.Context, opts options, progress io.Writer) ([]row, error) {
	root, err := moduleRoot(ctx, opts.goTool)
	if err != nil {
		return nil, err
	}
	ts, err := targets(root, opts.only)
	if err != nil {
		return nil, err
	}
	if opts.against != "" {
		ts = withAgainst(ts, opts.against)
	}
	dir, err := os.MkdirTemp("", "coldstart-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	binaries := make([]string, len(ts))
	sizes := make([]int64, len(ts))
	for i, t := range ts {
		fmt.Fprintf(progress, "build %s\n", t.name)
		from := root
		if t.root != "" {
			from = t.root
		}
		if binaries[i], err = build(ctx, opts.goTool, from, dir, t); err != nil {
			return nil, err
		}
		fi, err := os.Stat(binaries[i])
		if err != nil {
			return nil, err
		}
		sizes[i] = fi.Size()
	}

	emulator := filepath.Join(dir, "aws-lambda-rie")
	if !opts.direct {
		fmt.Fprintf(progress, "build the Lambda Runtime Interface Emulator\n")
		if err := rie.BuildEmulator(ctx, opts.goTool, root, emulator); err != nil {
			return nil, err
		}
	}
	w, err := newWorld(dir)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	samples := make([][]sample, len(ts))
	for run := range opts.runs {
		fmt.Fprintf(progress, "run %d/%d\n", run+1, opts.runs)
		// Each round in a new order: a start measured right after another
		// (or after the table's set-up) in every round was seen to come out
		// up to 1 ms slower on a loaded machine, which a fixed order would
		// charge to one function.
		for _, i := range rand.Perm(len(ts)) {
			t := ts[i]
			start := coldStart
			if opts.direct {
				start = directStart
			}
			s, err := start(ctx, w, emulator, t, binaries[i])
			if err != nil {
				return nil, err
			}
			samples[i] = append(samples[i], s)
		}
	}
	rows := make([]row, len(ts))
	for i, t := range ts {
		rows[i] = summarize(t.name, sizes[i], samples[i])
	}
	return rows, nil
}

// withAgainst adds, after each function of ts but the floor, the same
// function built from the checkout in dir, named <name>@against.
func withAgainst(ts []target, dir string) []target {
	var out []target
	for _, t := range ts {
		out = append(out, t)
		if t.name != floor {
			t.name += "@against"
			t.root = dir
			out = append(out, t)
		}
	}
	return out
}

// moduleRoot is the folder of the main module, where the packages and
// events/ are.
func moduleRoot(ctx context.Context, goTool string) (string, error) {
	out, err := exec.CommandContext(ctx, goTool, "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root (run from inside the repository): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// machine describes where the figures were measured.
func machine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s/%s, %d CPUs (%s), %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, runtime.Version())
}
