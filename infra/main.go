// Command infra is the AWS CDK app of Plainview: one stack per
// environment, holding every AWS resource the system runs on. The CDK CLI
// runs it (`make synth`, `make deploy`; see docs/infrastructure.md).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	err := run()
	// The jsii runtime is a Node process of its own: end it before
	// exiting, which skips deferred calls.
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "plainview infra:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	if _, err := build(app); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}

// build reads the app's context and adds the stack of the environment it
// names, "Plainview-<environment>", so development and production can
// share an account.
func build(app awscdk.App) (awscdk.Stack, error) {
	s, err := readSettings(func(key string) any {
		return app.Node().TryGetContext(jsii.String(key))
	})
	if err != nil {
		return nil, err
	}
	return newStack(app, "Plainview-"+s.environment, s)
}
