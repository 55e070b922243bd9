// Command incidents is the Lambda function that serves incident and
// leak-alert writes; it may write DynamoDB and notify the operators' SNS
// topic.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/core/incidents"
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/function"
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

// handler is the function's entry point: incidents and leaks recorded in
// the store, critical ones sent to n.
func handler(env function.Env, n incidents.Notifier) apifunc.Handler {
	return apifunc.Proxy(apifunc.Incidents(env, n, apifunc.Options{}))
}
