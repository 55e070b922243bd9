// Command events is the Lambda function that serves the event log,
// GET /events: the listing, and for an EventSource a stream of server-sent
// events. API Gateway invokes it with InvokeWithResponseStream (the
// route's integration streams), so every answer, the listing's too, goes
// out in Lambda's streamed format. It may only read DynamoDB.
package main

import (
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/function"
)

func main() {
	function.Start(func(env function.Env) (apifunc.StreamHandler, error) { return handler(env), nil })
}

// handler is the function's entry point, built from its environment. The
// stream ends itself before the function's timeout (the request's
// deadline), so the close is clean and EventSource reconnects.
func handler(env function.Env) apifunc.StreamHandler {
	return apifunc.Stream(apifunc.Events(env, apifunc.Options{}), apifunc.DefaultStall)
}
