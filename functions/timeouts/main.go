// Command timeouts is the scheduled Lambda function that ends open
// actuations past their deadline: timed_out, an event, and a notification.
// It may read and write DynamoDB and notify the operators' SNS topic.
//
// Running every minute, it is also the one place that measures the sets
// operators watch: each run emits how many actuations it timed out and the
// numbers of open incidents and active leaks, as EMF metrics.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/lambda/timeoutsfunc"
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
	lambda.Start(timeoutsfunc.New(env, operators))
}
