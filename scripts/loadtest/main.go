// Command loadtest drives a mixed API workload (mostly reads, some
// actuations, some incident updates) from many concurrent clients against
// the local stack, and then the same workload against the same gateway
// serving a no-op handler: the local gateway's own ceiling. It reports
// requests per second, p50/p95/p99 latency, and status counts, with the
// intended 409s and 429s apart from the errors. docs/PERFORMANCE.md has
// the method and the figures.
//
//	make bench-load
//	go run ./scripts/loadtest -clients 16 -duration 20s
//	go run ./scripts/loadtest -url http://127.0.0.1:3000 -keys-file .localstack/keys.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return measure(ctx, o, stdout, stderr)
}
