// Command ingest is the Lambda function behind the IoT topic rules: valve
// statuses and leaks arrive directly (asynchronous invokes), telemetry in
// batches from the telemetry queue. It may write DynamoDB and notify the
// operators' SNS topic.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/plainview/serverless/shared/function"
	"github.com/plainview/serverless/shared/ingest"
	"github.com/plainview/serverless/shared/leaks"
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

// handler is the function's entry point over its environment.
func handler(env function.Env, n ingest.Notifier) ingest.Handler {
	l := leaks.New(env.Store, n, nil, env.Logger)
	return ingest.Lambda(ingest.New(env.Store, l, n, env.Metrics, nil, env.Logger))
}
