// Command incidents is the Lambda function that serves incident and
// leak-alert writes; it may write DynamoDB and notify the operators' SNS
// topic.
package main

import (
	"os"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/core/incidents"
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/function"
)

func main() {
	function.Start(func(env function.Env) (apifunc.Handler, error) {
		operators, err := notify.Operators(env.AWS, os.Getenv)
		return handler(env, operators), err
	})
}

// handler is the function's entry point: incidents and leaks recorded in
// the store, critical ones sent to n.
func handler(env function.Env, n incidents.Notifier) apifunc.Handler {
	return apifunc.Proxy(apifunc.Incidents(env, n, apifunc.Options{}))
}
