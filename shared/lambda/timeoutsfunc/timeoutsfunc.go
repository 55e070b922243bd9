// Package timeoutsfunc is the timeouts function, which EventBridge runs
// every minute: actuations whose device never reported DONE end as
// timed_out, and the run reports the gauges the alarms watch.
package timeoutsfunc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/lambda/function"
)

// The metrics of a run (namespace function.Namespace, dimension
// Function=timeouts); the CDK stack alarms on and graphs these names.
const (
	metricTimeouts      = "ActuationTimeouts"
	metricOpenIncidents = "OpenIncidents"
	metricActiveLeaks   = "ActiveLeaks"
	functionName        = "timeouts"
)

// Handler runs one pass of the schedule and reports how many it ended.
type Handler = func(ctx context.Context) (int, error)

// New is the timeouts function over its environment: actuations past
// their deadline ended and the operators told through n; each run's
// counts emitted as metrics. The local stack runs the same on a ticker.
func New(env function.Env, n actuation.Notifier) Handler {
	t := actuation.NewTimeouts(env.Store, n, nil, env.Logger)
	return func(ctx context.Context) (int, error) {
		done, runErr := t.Run(ctx)
		// A run that did nothing logs at debug: locally the schedule runs
		// every second.
		level := slog.LevelDebug
		if done > 0 || runErr != nil {
			level = slog.LevelInfo
		}
		env.Logger.Log(ctx, level, "timeouts", "timed_out", done, "error", runErr)
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
	env.Metrics.Record(env.Logger, time.Now(), []metrics.Dimension{{Name: "Function", Value: functionName}}, ms...)
}
