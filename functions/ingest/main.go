// Command ingest is the Lambda function behind the IoT topic rules: valve
// statuses and leaks arrive directly (asynchronous invokes), telemetry in
// batches from the telemetry queue. It may write DynamoDB and notify the
// operators' SNS topic.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/lambda/ingestfunc"
)

func main() {
	env, err := function.Setup(context.Background(), os.Getenv, os.Stdout)
	var operators *notify.SNS
	if err == nil {
		operators, err = notify.Operators(env.AWS, os.Getenv)
	}
	if err != nil {
		slog.Error("start", "error", err)
		os.Exit(1)
	}
	lambda.Start(handler(env, operators))
}

// handler is the function's entry point over its environment.
func handler(env function.Env, n ingest.Notifier) ingestfunc.Handler {
	h, _ := ingestfunc.New(env, n)
	return h
}
