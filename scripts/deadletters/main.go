// Command deadletters lists the device messages that could not be
// ingested, with their reasons, and redrives them after a fix.
//
//	go run ./scripts/deadletters list [-limit 50]
//	go run ./scripts/deadletters redrive [-all | <id> ...]
//
// It talks to the table named by TABLE_NAME through DYNAMODB_ENDPOINT (the
// local stack's by default) or, with that unset, AWS with the usual
// credentials.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/plainview/serverless/shared/config"
	"github.com/plainview/serverless/shared/domain"
	"github.com/plainview/serverless/shared/ingest"
	"github.com/plainview/serverless/shared/leaks"
	"github.com/plainview/serverless/shared/notify"
	"github.com/plainview/serverless/shared/store"

	"log/slog"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "deadletters:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: deadletters list [-limit n] | redrive [-all | <id> ...]")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	return command(ctx, st, args, stdout, stderr)
}

func openStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	if cfg.DynamoDBEndpoint != "" {
		return store.New(store.NewClient(store.LocalConfig(), cfg.DynamoDBEndpoint), cfg.TableName, nil), nil
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	return store.New(store.NewClient(aws, ""), cfg.TableName, nil), nil
}

func command(ctx context.Context, st *store.Store, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	limit := fs.Int("limit", 50, "how many to list (newest first)")
	all := fs.Bool("all", false, "redrive every dead letter not yet redriven")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	letters, err := everyLetter(ctx, st)
	if err != nil {
		return err
	}
	switch args[0] {
	case "list":
		fmt.Fprintf(stdout, "%-40s %-9s %-36s %-12s %s\n", "ID", "REDRIVEN", "TOPIC", "CLIENT", "REASON")
		for i, d := range letters {
			if i == *limit {
				break
			}
			fmt.Fprintf(stdout, "%-40s %-9t %-36s %-12s %s\n", d.ID, d.Redriven, d.Topic, d.ClientID, d.Reason)
		}
		return nil
	case "redrive":
		want := map[string]bool{}
		for _, id := range fs.Args() {
			want[id] = true
		}
		if !*all && len(want) == 0 {
			return errors.New("redrive: name dead letter ids, or -all")
		}
		log := slog.New(slog.NewJSONHandler(stderr, nil))
		n := notify.NewLog(log)
		svc := ingest.New(st, leaks.New(st, n, nil, log), n, nil, nil, log)
		var failed []string
		done := 0
		for _, d := range letters {
			if d.Redriven || (!*all && !want[d.ID]) {
				continue
			}
			delete(want, d.ID)
			if err := svc.Redrive(ctx, d); err != nil {
				failed = append(failed, d.ID+": "+err.Error())
				continue
			}
			if err := st.MarkRedriven(ctx, d.ID); err != nil {
				return err
			}
			done++
		}
		for id := range want {
			failed = append(failed, id+": no such dead letter (or already redriven)")
		}
		fmt.Fprintf(stdout, "redriven: %d\n", done)
		if len(failed) > 0 {
			return fmt.Errorf("%d not redriven:\n  %s", len(failed), strings.Join(failed, "\n  "))
		}
		return nil
	}
	return fmt.Errorf("unknown command %q: list or redrive", args[0])
}

// everyLetter reads every dead letter, newest first.
func everyLetter(ctx context.Context, st *store.Store) ([]store.DeadLetter, error) {
	var all []store.DeadLetter
	cursor := ""
	for {
		page, next, err := st.DeadLetters(ctx, domain.Page{Limit: domain.MaxLimit, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		cursor = next
	}
}
