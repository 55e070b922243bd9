// Command hello is the cold-start floor: the smallest aws-lambda-go
// function, which does nothing at init but start the runtime loop.
// scripts/coldstart measures each real function's init against it.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, ev json.RawMessage) (string, error) {
		return "hello", nil
	})
}
