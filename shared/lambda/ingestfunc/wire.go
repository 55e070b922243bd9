package ingestfunc

import (
	"github.com/plainview/serverless/shared/core/ingest"
	"github.com/plainview/serverless/shared/core/leaks"
	"github.com/plainview/serverless/shared/lambda/function"
)

// New is the ingest function over its environment: what devices send
// taken in, leaks through the same service as leaks reported by hand, and
// the operators told through n. The local stack's rules engine invokes
// the same entry point.
func New(env function.Env, n ingest.Notifier) (Handler, *ingest.Service) {
	svc := ingest.New(env.Store, leaks.New(env.Store, n, nil, env.Logger), n, env.Metrics, nil, env.Logger).WithAnomalies(env.Store)
	return Ingest(svc), svc
}
