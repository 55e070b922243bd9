package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/contract/metrics"
)

// The metric of a key store that could not be read: the CDK stack alarms
// on it. The namespace is shared/lambda/function's Namespace, written out so the
// authorizer does not link the HTTP layer that package brings (a test
// holds the two equal).
const (
	metricsNamespace   = "Plainview"
	metricStoreFailure = "KeyStoreFailures"
	functionName       = "authorizer"
)

// countingLoader counts each request the key store failed, as an EMF
// metric. The function's Errors metric counts those too, but also every
// other error result (a malformed method ARN); this one says "the keys
// could not be read", which is what API Gateway answers 503 for.
type countingLoader struct {
	next    auth.Loader
	metrics *metrics.Emitter
	now     func() time.Time
	log     *slog.Logger
}

func newCountingLoader(next auth.Loader, m *metrics.Emitter, now func() time.Time, log *slog.Logger) countingLoader {
	return countingLoader{next: next, metrics: m, now: now, log: log}
}

func (c countingLoader) Load(ctx context.Context) (auth.Keyring, error) {
	ring, err := c.next.Load(ctx)
	if err != nil {
		c.metrics.Record(c.log, c.now(), []metrics.Dimension{{Name: "Function", Value: functionName}},
			metrics.Metric{Name: metricStoreFailure, Unit: metrics.Count, Value: 1})
	}
	return ring, err
}
