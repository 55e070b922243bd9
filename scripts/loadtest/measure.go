package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/local/apigateway"
	"github.com/plainview/serverless/shared/local/stack"
	"github.com/plainview/serverless/shared/testkit/cpuclock"
)

// scopes are what the workload needs, and no more.
var scopes = []string{"read", "valves:actuate", "incidents:write"}

// measure runs the stack phase and, if asked, the ceiling phase, and
// writes the report.
func measure(ctx context.Context, o options, stdout, stderr io.Writer) error {
	fmt.Fprintf(stdout, "bench-load: %d clients, %s per phase%s, mix read %d %% / actuate %d %% / incident %d %%\n",
		o.clients, o.duration, bound(o.requests), o.mix.read, o.mix.actuate, o.mix.incident)
	fmt.Fprintf(stdout, "machine: %s\n", machine())

	target, key, dbPID, cleanup, err := stackTarget(ctx, o, stdout, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	before := cpuclock.Read(dbPID)
	stack, err := phase(ctx, o, "local stack", target, key)
	if err != nil {
		return err
	}
	stack.write(stdout)
	if o.url == "" {
		spent := cpuclock.Read(dbPID).Sub(before)
		fmt.Fprintf(stdout, "  CPU per request: %s in this process (load clients + gateway + handlers: ours, and the driver's)", cpuclock.PerItem(spent.Self, stack.all.n))
		if dbPID > 0 {
			fmt.Fprintf(stdout, ", %s in DynamoDB Local (the store)", cpuclock.PerItem(spent.Other, stack.all.n))
		}
		fmt.Fprintln(stdout)
	}

	var ceil *summary
	if o.ceiling {
		base, key, stop, err := noopGateway(o)
		if err != nil {
			return err
		}
		defer stop()
		s, err := phaseWithoutProfile(ctx, o, "gateway alone (no-op handler, same authorizer)", base, key)
		if err != nil {
			return err
		}
		s.write(stdout)
		ceil = &s
	}
	writeVerdict(stdout, o.mix, stack, ceil)
	fmt.Fprintf(stdout, "load average at the end: %s\n", loadAverage())
	return nil
}

func bound(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" or %d requests", n)
}

// phase runs the workload once against base, under the CPU profile when
// one is asked for.
func phase(ctx context.Context, o options, name, base, key string) (summary, error) {
	if o.cpuProf == "" {
		return phaseWithoutProfile(ctx, o, name, base, key)
	}
	f, err := os.Create(o.cpuProf)
	if err != nil {
		return summary{}, fmt.Errorf("cpu profile: %w", err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return summary{}, fmt.Errorf("cpu profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	return phaseWithoutProfile(ctx, o, name, base, key)
}

func phaseWithoutProfile(ctx context.Context, o options, name, base, key string) (summary, error) {
	tr := &http.Transport{MaxIdleConns: o.clients, MaxIdleConnsPerHost: o.clients, IdleConnTimeout: time.Minute, DisableCompression: true}
	defer tr.CloseIdleConnections()
	// The timeout only keeps a hung server from hanging the command.
	w := &workload{base: base, key: key, mix: o.mix, budget: o.requests, http: &http.Client{Transport: tr, Timeout: time.Minute}}
	rs, elapsed := w.run(ctx, o.clients, o.duration)
	if ctx.Err() != nil {
		return summary{}, ctx.Err()
	}
	return summarise(name, rs, elapsed), nil
}

// stackTarget is the API to load: a stack started here on free loopback
// ports with a data folder of its own, or the one -url names.
func stackTarget(ctx context.Context, o options, stdout, stderr io.Writer) (base, key string, dbPID int, cleanup func(), err error) {
	if o.url != "" {
		key = o.key
		if o.keysFile != "" {
			if key, err = addKey(ctx, o.keysFile); err != nil {
				return "", "", 0, nil, err
			}
		}
		fmt.Fprintf(stdout, "target: %s (its own throttles and settings; 429s are counted as intended)\n", o.url)
		return o.url, key, 0, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "plainview-loadtest-")
	if err != nil {
		return "", "", 0, nil, err
	}
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	// A table of its own: DYNAMODB_ENDPOINT may name a DynamoDB that holds
	// someone's plainview table.
	table := "plainview-loadtest-" + strings.ToLower(rand.Text()[:8])
	st, err := stack.Start(ctx, stack.Config{
		DynamoAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: dir, TableName: table, Version: "loadtest", Logger: logger,
		DisableThrottling: !o.throttles,
		DynamoEndpoint:    o.dynamoURL, DynamoInMemory: !o.onDisk,
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", "", 0, nil, fmt.Errorf("start the local stack: %w", err)
	}
	cleanup = func() {
		if o.dynamoURL != "" {
			if _, err := store.NewClient(store.LocalConfig(), o.dynamoURL).DeleteTable(context.Background(),
				&dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
				fmt.Fprintln(stderr, "loadtest: deleting table", table+":", err)
			}
		}
		if err := st.Close(); err != nil {
			fmt.Fprintln(stderr, "loadtest: closing the stack:", err)
		}
		os.RemoveAll(dir)
	}
	if key, err = addKey(ctx, st.KeysFile); err != nil {
		cleanup()
		return "", "", 0, nil, err
	}
	throttles := "route throttles off (stack.Config.DisableThrottling; -throttles keeps them)"
	if o.throttles {
		throttles = "route throttles on, as routes.Table sets them (429s are counted as intended)"
	}
	db := "DynamoDB Local in memory"
	switch {
	case o.dynamoURL != "":
		db = "the DynamoDB at " + o.dynamoURL
	case o.onDisk:
		db = "DynamoDB Local on disk"
	}
	fmt.Fprintf(stdout, "target: local stack in this process at %s over %s, data in a temporary folder, no device simulator; %s\n", st.APIURL, db, throttles)
	return st.APIURL, key, st.DynamoPID(), cleanup, nil
}

// addKey adds a key with the workload's scopes to a key file and returns
// it. The key is never printed: it lives as long as the file keeps it
// (scripts/keys revokes it).
func addKey(ctx context.Context, path string) (string, error) {
	file := auth.FileStore{Path: path}
	ring, err := file.Load(ctx)
	if err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	id := fmt.Sprintf("loadtest-%d", time.Now().UnixMilli())
	plain, k, err := auth.Generate(id, scopes, nil, time.Now())
	if err != nil {
		return "", err
	}
	if err := ring.Add(k); err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	if err := file.Save(ctx, ring); err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	return plain, nil
}

// noopGateway serves the route table through the same gateway, with the
// same authorizer over a key file of its own, but every function answers
// at once: what is left is the gateway's own cost, and the driver's.
func noopGateway(o options) (base, key string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "plainview-loadtest-ceiling-")
	if err != nil {
		return "", "", nil, err
	}
	keys := filepath.Join(dir, "keys.json")
	if key, err = addKey(context.Background(), keys); err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	noop := func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Content-Type": "application/json"},
			Body: `{"id":"noop","version":1}`}, nil
	}
	// A streamed route's function answers in Lambda's streamed format.
	noopStream := func(ctx context.Context, ev events.APIGatewayProxyRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
		return &events.LambdaFunctionURLStreamingResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Content-Type": "application/json"},
			Body: strings.NewReader(`{"id":"noop","version":1}`)}, nil
	}
	table := routes.Table()
	fns := map[string]apigateway.Handler{}
	streams := map[string]apigateway.StreamHandler{}
	for _, fn := range routes.Functions(table) {
		fns[fn] = noop
		if routes.Streams(table, fn) {
			streams[fn] = noopStream
		}
	}
	discard := slog.New(slog.DiscardHandler)
	gw := apigateway.New(table, fns, apigateway.Options{
		Logger:            discard,
		Authorizer:        apigateway.AuthorizerHandler(auth.NewAuthorizer(auth.NewCache(auth.FileStore{Path: keys}, 0, nil), discard)),
		DisableThrottling: !o.throttles,
		Streams:           streams,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "loadtest: no-op gateway:", err)
		}
		os.RemoveAll(dir)
	}
	return "http://" + ln.Addr().String(), key, stop, nil
}

// machine says where the figures come from.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS %d), %s %s; load average at the start %s",
		cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.Version(), loadAverage())
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute figures: on a shared
// machine, what else was running.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
