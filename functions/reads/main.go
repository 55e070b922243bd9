// Command reads is the Lambda function that serves the public and read
// routes of the API; it may only read DynamoDB.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/function"
)

func main() {
	env, err := function.Setup(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		slog.Error("start", "error", err)
		os.Exit(1)
	}
	lambda.Start(handler(env))
}

// handler is the function's entry point, built from its environment. It
// has no MQTT connection of its own: /health reports mqtt "disabled".
func handler(env function.Env) apifunc.Handler {
	return apifunc.Proxy(apifunc.Reads(env, apifunc.Options{}))
}
