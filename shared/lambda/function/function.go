// Package function holds what every Lambda function's main does before it
// starts: read the configuration, build the logger, the metrics emitter and
// the store. Keeping it here keeps each main.go to its own wiring.
package function

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/lambda/config"
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

// Start runs a function on Lambda: Setup from the process's environment,
// then build its entry point from it. A function that cannot start logs
// why and exits 1, which Lambda reports as an init error.
func Start[H any](build func(Env) (H, error)) {
	env, err := Setup(context.Background(), os.Getenv, os.Stdout)
	var h H
	if err == nil {
		h, err = build(env)
	}
	if err != nil {
		slog.Error("start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
