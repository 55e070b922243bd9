// Package motoserver starts moto's server for a test: a widely used
// emulator of the AWS APIs (Secrets Manager, SNS, SQS, IoT, the IoT data
// plane...), so our AWS adapters are tested over the wire, with the SDK's
// own serializers, signers and error decoding, rather than against
// answers we wrote ourselves. moto is a Python package (`pip install
// 'moto[server]'`; .ci/run installs it where it is missing).
package motoserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

// The region and account moto answers for. Its account is fixed unless
// told otherwise; ARNs the tests build use it.
const (
	Region  = "eu-west-1"
	Account = "123456789012"
)

// Server is one moto server of a test.
type Server struct {
	URL string // http://127.0.0.1:<port>
}

// Start starts moto's server on a free port of 127.0.0.1 and stops it when
// the test ends. A machine without moto fails the test, saying what to
// install: a check that cannot run is not skipped.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Fatalf("moto_server is not on PATH: install moto's server (pip install 'moto[server]'; .ci/run does): %v", err)
	}
	for attempt := 1; ; attempt++ {
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		// The port was free when chosen; another process may have taken it
		// before moto bound it.
		if attempt == 3 {
			t.Fatalf("moto_server: %v", err)
		}
	}
}

func start(t testing.TB, bin string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	var out syncbuf.Buffer
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its group, in case a shim forks
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}

	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		// moto's own API answers once the server is up.
		if resp, err := http.Get(s.URL + "/moto-api/data.json"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("exited at start:\n%s", out.String())
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("not answering on %s after 60 s:\n%s", s.URL, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Cleanup(stop)
	return s, nil
}

// Config is an SDK configuration that sends every service's calls to the
// server, with placeholder credentials (moto takes any).
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", "testing"),
		BaseEndpoint: aws.String(s.URL),
	}
}

// Env is the environment that points a process's SDK at the server: the
// standard endpoint setting, a region and placeholder credentials.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_SESSION_TOKEN=testing",
	}
}

// Setenv points this process's SDK at the server for the test (the
// variables of Env), for code that loads the default configuration.
func (s *Server) Setenv(t *testing.T) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	// No profile or shared file of the developer's may add to it.
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_PROFILE", "")
}
