// Command migratereadings moves the readings stored in the old layout (an
// item a reading, before December 2026) into blocks, the layout the
// service reads (docs/data-model.md, "Readings"):
//
//	go run ./scripts/migratereadings          # a dry run: counts them
//	go run ./scripts/migratereadings -apply   # moves them
//
// It works on the table named by TABLE_NAME through DYNAMODB_ENDPOINT (the
// local stack's) or, with that unset, AWS with the usual credentials. Run
// it once after deploying the block layout; without it, the old readings
// are not listed and expire with their TTL (30 days).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/lambda/config"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "migratereadings:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migratereadings", flag.ContinueOnError)
	fs.SetOutput(stderr)
	apply := fs.Bool("apply", false, "move the readings (without it, only count them)")
	page := fs.Int("page", 500, "readings read and moved at a time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *page < 1 || *page > 1000 {
		return fmt.Errorf("usage: migratereadings [-apply] [-page 1..1000]")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	rep, err := st.MigrateReadings(ctx, *apply, *page)
	fmt.Fprintf(stdout, "old layout: %d readings found, %d of them expired; %d moved into blocks\n", rep.Found, rep.Expired, rep.Moved)
	if err == nil && !*apply && rep.Found > 0 {
		fmt.Fprintln(stdout, "a dry run: -apply moves them")
	}
	return err
}

func openStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	if cfg.DynamoDBEndpoint != "" {
		return store.New(store.NewClient(store.LocalConfig(), cfg.DynamoDBEndpoint), cfg.TableName, nil), nil
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	return store.New(store.NewClient(aws, ""), cfg.TableName, nil), nil
}
