// Command coldstart measures each Lambda function's cold start as Lambda
// reports it (init duration, first invocation, peak memory) against a
// hello-world aws-lambda-go function, the floor, on this machine: each
// binary runs in a clean environment under AWS's Lambda Runtime Interface
// Emulator (shared/testkit/rie), against a seeded table in DynamoDB Local and
// local stand-ins for the AWS APIs. Usage: go run ./scripts/coldstart
// [-n 10] [-only reads,valves] [-goal 2ms].
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

// run measures and prints the report to stdout; progress goes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rows, err := measure(ctx, opts, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n%d cold starts per function, interleaved; median (p50) and max.\n\n", machine(), opts.runs)
	return writeReport(stdout, rows, floor, opts.goal)
}
