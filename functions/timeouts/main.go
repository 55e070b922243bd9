// Command timeouts is the scheduled Lambda function that ends open
// actuations past their deadline: timed_out, an event, and a notification.
// It may read and write DynamoDB and notify the operators' SNS topic.
//
// Running every minute, it is also the one place that measures the sets
// operators watch: each run emits how many actuations it timed out and the
// numbers of open incidents and active leaks, as EMF metrics.
package main

import (
	"os"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/lambda/timeoutsfunc"
)

func main() {
	function.Start(func(env function.Env) (timeoutsfunc.Handler, error) {
		operators, err := notify.Operators(env.AWS, os.Getenv)
		return timeoutsfunc.New(env, operators), err
	})
}
