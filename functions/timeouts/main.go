// Command timeouts is the scheduled Lambda function that ends open
// actuations past their deadline: timed_out, an event, and a notification.
// It may read and write DynamoDB and notify the operators' SNS topic.
//
// Running every minute, it is also the one place that measures the sets
// operators watch: each run emits how many actuations it timed out and the
// numbers of open incidents and active leaks, as EMF metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/core/actuation"
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

// The metrics of a run (namespace function.Namespace, dimension
// Function=timeouts); the CDK stack alarms on and graphs these names.
const (
	metricTimeouts      = "ActuationTimeouts"
	metricOpenIncidents = "OpenIncidents"
	metricActiveLeaks   = "ActiveLeaks"
	functionName        = "timeouts"
)

// handler runs one pass of the schedule and reports how many it ended.
func handler(env function.Env, n actuation.Notifier) func(ctx context.Context) (int, error) {
	t := actuation.NewTimeouts(env.Store, n, nil, env.Logger)
	return func(ctx context.Context) (int, error) {
		done, runErr := t.Run(ctx)
		env.Logger.Info("timeouts", "timed_out", done, "error", runErr)
		// The count goes out on every run, zero included, so the alarm
		// and the graph see a steady series rather than gaps; what was
		// timed out before a failure still counts.
		emit(env, metrics.Metric{Name: metricTimeouts, Unit: metrics.Count, Value: float64(done)})

		g, err := env.Store.Gauges(ctx)
		if err != nil {
			// The timeouts are done; a failed count is still a failed run
			// (the Errors alarm), and EventBridge's retry repeats both,
			// which is harmless: a second pass finds nothing due.
			return done, errors.Join(runErr, fmt.Errorf("gauges: %w", err))
		}
		emit(env,
			metrics.Metric{Name: metricOpenIncidents, Unit: metrics.Count, Value: float64(g.OpenIncidents)},
			metrics.Metric{Name: metricActiveLeaks, Unit: metrics.Count, Value: float64(g.ActiveLeaks)})
		return done, runErr
	}
}

// emit writes one EMF document; a metric that cannot be written is logged,
// never a failed run (the work it measures is done).
func emit(env function.Env, ms ...metrics.Metric) {
	if env.Metrics == nil {
		return
	}
	if err := env.Metrics.Emit(time.Now(), []metrics.Dimension{{Name: "Function", Value: functionName}}, ms, nil); err != nil {
		env.Logger.Error("emit metrics", "error", err)
	}
}
