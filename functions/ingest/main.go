// Command ingest is the Lambda function behind the IoT topic rules: valve
// statuses and leaks arrive directly (asynchronous invokes), telemetry in
// batches from the telemetry stream (Kinesis). It may write DynamoDB and
// notify the operators' SNS topic.
package main

import (
	"os"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/lambda/ingestfunc"
)

func main() {
	function.Start(func(env function.Env) (ingestfunc.Handler, error) {
		operators, err := notify.Operators(env.AWS, os.Getenv)
		return handler(env, operators), err
	})
}

// handler is the function's entry point over its environment.
func handler(env function.Env, n ingest.Notifier) ingestfunc.Handler {
	h, _ := ingestfunc.New(env, n)
	return h
}
