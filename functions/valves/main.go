// Command valves is the Lambda function that serves valve actuation; it
// may write DynamoDB and publish commands to IoT Core.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"

	"github.com/plainview/serverless/shared/adapters/publish"
	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/function"
)

func main() {
	function.Start(func(env function.Env) (apifunc.Handler, error) {
		endpoint := os.Getenv("IOT_ENDPOINT")
		if endpoint == "" {
			return nil, fmt.Errorf("IOT_ENDPOINT (the account's IoT data endpoint) is not set")
		}
		iot := iotdataplane.NewFromConfig(env.AWS, func(o *iotdataplane.Options) {
			// The account's own endpoint, unless the SDK's endpoint
			// settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_IOT_DATA_PLANE)
			// name another, such as an emulator's in tests.
			if o.BaseEndpoint == nil {
				o.BaseEndpoint = aws.String("https://" + endpoint)
			}
		})
		return handler(env, publish.NewIoT(iot)), nil
	})
}

// handler is the function's entry point: actuations recorded in the
// store, commands published through pub; the inventory's changes.
func handler(env function.Env, pub actuation.Publisher) apifunc.Handler {
	return apifunc.Proxy(apifunc.Valves(env, pub, 0, apifunc.Options{}))
}
