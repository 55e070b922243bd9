// Command reads is the Lambda function that serves the public and read
// routes of the API; it may only read DynamoDB.
package main

import (
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/function"
)

func main() {
	function.Start(func(env function.Env) (apifunc.Handler, error) { return handler(env), nil })
}

// handler is the function's entry point, built from its environment. It
// has no MQTT connection of its own: /health reports mqtt "disabled".
func handler(env function.Env) apifunc.Handler {
	return apifunc.Proxy(apifunc.Reads(env, apifunc.Options{}))
}
