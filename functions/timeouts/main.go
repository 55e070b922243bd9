// Command timeouts is the scheduled Lambda function that ends open
// actuations past their deadline: timed_out, an event, and a notification.
// It may read and write DynamoDB and notify the operators' SNS topic.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/plainview/serverless/shared/actuation"
	"github.com/plainview/serverless/shared/function"
	"github.com/plainview/serverless/shared/notify"
)

func main() {
	env, err := function.Setup(context.Background(), os.Getenv, os.Stdout)
	var operators *notify.SNS
	if err == nil {
		operators, err = function.Operators(env, os.Getenv)
	}
	if err != nil {
		slog.Error("start", "error", err)
		os.Exit(1)
	}
	lambda.Start(handler(env, operators))
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
