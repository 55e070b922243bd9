// Command timeouts is the scheduled Lambda function that ends open
// actuations past their deadline: timed_out, an event, and a notification.
// It may read and write DynamoDB and notify the operators' SNS topic.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/plainview/serverless/shared/actuation"
	"github.com/plainview/serverless/shared/function"
	"github.com/plainview/serverless/shared/notify"
)

func main() {
	env, err := function.Setup(context.Background(), os.Getenv, os.Stdout)
	if err == nil && os.Getenv("NOTIFY_TOPIC_ARN") == "" {
		err = fmt.Errorf("NOTIFY_TOPIC_ARN (the operators' SNS topic) is not set")
	}
	if err != nil {
		slog.Error("start", "error", err)
		os.Exit(1)
	}
	lambda.Start(handler(env, notify.NewSNS(sns.NewFromConfig(env.AWS), os.Getenv("NOTIFY_TOPIC_ARN"))))
}

// handler runs one pass of the schedule and reports how many it ended.
func handler(env function.Env, n actuation.Notifier) func(ctx context.Context) (int, error) {
	t := actuation.NewTimeouts(env.Store, n, nil, env.Logger)
	return func(ctx context.Context) (int, error) {
		done, err := t.Run(ctx)
		env.Logger.Info("timeouts", "timed_out", done, "error", err)
		return done, err
	}
}
