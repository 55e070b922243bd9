// Command import brings the first Plainview backend's files (valves.json,
// incidents.json) into the table: a report of what would change, and with
// -apply the writes. Running it again changes nothing. See docs/import.md.
//
//	go run ./scripts/import -valves old/valves.json -incidents old/incidents.json [-apply]
//
// Like the other scripts it talks to the table TABLE_NAME through
// DYNAMODB_ENDPOINT (the local stack: http://127.0.0.1:8000), or, with no
// endpoint, to AWS with the usual credentials; -table and -endpoint
// override both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/plainview/serverless/scripts/import/legacy"
	"github.com/plainview/serverless/shared/lambda/config"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "import:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	valves := fs.String("valves", "", "the old `valves.json`")
	incidents := fs.String("incidents", "", "the old `incidents.json`")
	apply := fs.Bool("apply", false, "write the changes (default: only report them)")
	skip := fs.Bool("skip-unknown-valves", false, "leave out valves that are not in the inventory instead of refusing the import")
	fs.StringVar(&cfg.TableName, "table", cfg.TableName, "the DynamoDB `table` (default TABLE_NAME, or plainview)")
	fs.StringVar(&cfg.DynamoDBEndpoint, "endpoint", cfg.DynamoDBEndpoint, "a DynamoDB-compatible `url` (default DYNAMODB_ENDPOINT; none: AWS)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *valves == "" && *incidents == "" {
		return errors.New("nothing to import: give -valves, -incidents, or both")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: the files go in -valves and -incidents", fs.Args())
	}
	// The flags go through the same checks as the environment.
	cfg, err = config.Load(func(k string) string {
		switch k {
		case "TABLE_NAME":
			return cfg.TableName
		case "DYNAMODB_ENDPOINT":
			return cfg.DynamoDBEndpoint
		}
		return getenv(k)
	})
	if err != nil {
		return fmt.Errorf("-table or -endpoint: %w", err)
	}
	var files legacy.Files
	if files.Valves, err = read(*valves); err != nil {
		return err
	}
	if files.Incidents, err = read(*incidents); err != nil {
		return err
	}
	st, where, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "table %s %s\n", cfg.TableName, where)
	if err := st.Ping(ctx); err != nil {
		return err
	}
	im := legacy.New(st)
	plan, err := im.Plan(ctx, files, legacy.Options{SkipUnknownValves: *skip})
	if err != nil {
		return err
	}
	plan.Report(stdout)
	switch {
	case plan.Empty():
		fmt.Fprintln(stdout, "nothing to change")
		return nil
	case !*apply:
		fmt.Fprintln(stdout, "dry run: nothing written; run again with -apply to write these changes")
		return nil
	}
	if err := im.Apply(ctx, plan); err != nil {
		return fmt.Errorf("%w\nwhat was written before the failure is complete and consistent; run the import again to write the rest", err)
	}
	fmt.Fprintln(stdout, "applied")
	return nil
}
