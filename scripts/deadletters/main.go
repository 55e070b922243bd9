// Command deadletters lists the device messages that could not be
// ingested, with their reasons, and redrives them after a fix.
//
//	go run ./scripts/deadletters list [-limit 50] [-queue <url> [-records]]
//	go run ./scripts/deadletters redrive [-queue <url>] [-all | <id> ...]
//
// Without -queue it works on the table's dead letters (what ingest itself
// set aside: unknown devices, bad payloads), in the table named by
// TABLE_NAME through DYNAMODB_ENDPOINT (the local stack's) or, with that
// unset, AWS with the usual credentials. With -queue it works on the
// stack's dead-letter queue (output DeadLetterQueueUrl), which holds what
// failed on AWS before ingest could decide: IoT rule error records, failed
// asynchronous invokes, and the records of telemetry stream batches that
// ingest's event source mapping discarded. Such a record names a range of
// one shard's records rather than carrying them: list shows the range
// (-records reads and shows its records too), and redrive reads them from
// the stream, which holds them only for its retention (24 hours in
// development, 7 days in production). Redriven messages are ingested into
// the table and deleted from the queue; a stream batch only once every
// record of its range is. The SQS and Kinesis clients take the SDK's
// standard settings (AWS_REGION, AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_KINESIS...).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/lambda/config"

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
		return errors.New("usage: deadletters list [-limit n] [-queue <url> [-records]] | redrive [-queue <url>] [-all | <id> ...]")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	return command(ctx, st, args, stdout, stderr, awsClients)
}

// clients are the AWS clients of a -queue run.
type clients struct {
	queue  QueueAPI
	stream StreamAPI
}

// awsClients are the SQS and Kinesis clients of the default AWS
// configuration.
func awsClients(ctx context.Context) (clients, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return clients{}, fmt.Errorf("aws configuration: %w", err)
	}
	if cfg.Region == "" {
		return clients{}, errors.New("no AWS region: set AWS_REGION (the stack's region)")
	}
	return clients{queue: sqs.NewFromConfig(cfg), stream: kinesis.NewFromConfig(cfg)}, nil
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

func command(ctx context.Context, st *store.Store, args []string, stdout, stderr io.Writer, awsAPIs func(context.Context) (clients, error)) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	limit := fs.Int("limit", 50, "how many to list (newest first)")
	all := fs.Bool("all", false, "redrive every dead letter not yet redriven")
	queue := fs.String("queue", "", "the dead-letter queue's URL (stack output DeadLetterQueueUrl) instead of the table")
	records := fs.Bool("records", false, "with list -queue: read each stream batch's records from the stream and show them")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *limit < 1 {
		return fmt.Errorf("-limit %d: want 1 or more", *limit)
	}
	newService := func() *ingest.Service {
		log := slog.New(slog.NewJSONHandler(stderr, nil))
		n := notify.NewLog(log)
		return ingest.New(st, leaks.New(st, n, nil, log), n, nil, nil, log)
	}
	if *records && (*queue == "" || args[0] != "list") {
		return errors.New("-records shows the records of the queue's stream batches: it goes with list -queue")
	}
	if *queue != "" {
		if u, err := url.Parse(*queue); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("-queue %q is not a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)", *queue)
		}
		c, err := awsAPIs(ctx)
		if err != nil {
			return err
		}
		return queueCommand(ctx, args[0], queueRun{queue: c.queue, stream: c.stream, url: *queue, limit: *limit, records: *records,
			all: *all, ids: fs.Args(), svc: func() redriver { return newService() }, out: stdout})
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
		svc := newService()
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
func everyLetter(ctx context.Context, st *store.Store) ([]domain.DeadLetter, error) {
	var all []domain.DeadLetter
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
