// Package function holds what every Lambda function's main does before it
// starts: read the configuration, build the logger, the metrics emitter and
// the store. Keeping it here keeps each main.go to its own wiring.
package function

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/aws/aws-lambda-go/events"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/plainview/serverless/shared/config"
	"github.com/plainview/serverless/shared/cors"
	"github.com/plainview/serverless/shared/httpapi"
	"github.com/plainview/serverless/shared/metrics"
	"github.com/plainview/serverless/shared/store"
)

// Namespace is the CloudWatch namespace of every Plainview metric.
const Namespace = "Plainview"

// Env is a function's configuration and the clients built from it.
type Env struct {
	Config  config.Config
	AWS     aws.Config
	CORS    cors.Policy
	Logger  *slog.Logger
	Metrics *metrics.Emitter
	Store   *store.Store
}

// Setup reads the configuration through getenv and builds the clients.
// Logs are JSON lines with Lambda's key names (timestamp, message; through
// lambdacontext.ReplaceAttr) whatever the function's log format setting,
// so CloudWatch Logs Insights can query them; metrics go to out as EMF
// documents, which CloudWatch turns into metrics.
func Setup(ctx context.Context, getenv func(string) string, out io.Writer) (Env, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return Env{}, fmt.Errorf("configuration: %w", err)
	}
	policy, err := cors.Parse(cfg.CORSOrigins)
	if err != nil {
		return Env{}, fmt.Errorf("configuration: CORS_ORIGINS: %w", err)
	}
	awsCfg, err := config.AWS(getenv)
	if err != nil {
		return Env{}, fmt.Errorf("aws configuration: %w", err)
	}
	return Env{
		Config:  cfg,
		AWS:     awsCfg,
		CORS:    policy,
		Logger:  slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: cfg.LogLevel, ReplaceAttr: lambdacontext.ReplaceAttr})),
		Metrics: metrics.NewEmitter(out, Namespace),
		Store:   store.New(store.NewClient(awsCfg, cfg.DynamoDBEndpoint), cfg.TableName, nil),
	}, nil
}

// APIConfig is the handler configuration of a function that serves its
// routes of the route table; the function adds the services its routes
// need. The local stack builds its functions the same way, so the same
// code answers on AWS and on localhost.
func APIConfig(env Env, fn string) httpapi.Config {
	return httpapi.Config{
		Function:           fn,
		Version:            env.Config.Version,
		Store:              env.Store,
		Logger:             env.Logger,
		Metrics:            env.Metrics,
		RequireKeyForReads: env.Config.RequireKeyForReads,
		CORS:               env.CORS,
		Idempotency:        env.Store,
	}
}

// Handler is the Lambda entry point of an API function: the same type as
// gateway.Handler, which the local gateway invokes. It is declared here so
// that a function binary does not link the local gateway and its
// authorizer (docs/decisions.md, binary sizes).
type Handler = func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// Proxy is the Lambda entry point of an HTTP handler behind API Gateway
// (REST API, proxy integration).
//
// The adapter builds its URL by pasting the event's path in unescaped, so a
// path holding "%", "?" or "#" would reach the handler cut or mangled, or
// fail to parse (a 502). Escaping the path first keeps such a request what
// it is: a path segment that is no valid id, which the handler answers 404.
func Proxy(h http.Handler) Handler {
	a := httpadapter.New(h)
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		ev.Path = (&url.URL{Path: ev.Path}).EscapedPath()
		return a.ProxyWithContext(ctx, ev)
	}
}
