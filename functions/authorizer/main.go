// Command authorizer is the API Gateway Lambda authorizer (REQUEST type):
// it checks a request's X-API-Key against the keys in Secrets Manager. It
// is the only function that may read the key secret.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/plainview/serverless/shared/adapters/secretstore"
	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/contract/metrics"
	pvconfig "github.com/plainview/serverless/shared/lambda/config"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr}))
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		logger.Error("start", "err", err)
		os.Exit(1)
	}
	awsCfg, err := pvconfig.AWS(os.Getenv)
	if err != nil {
		logger.Error("start: aws configuration", "err", err)
		os.Exit(1)
	}
	store := secretstore.New(secretsmanager.NewFromConfig(awsCfg), cfg.secretID)
	keys := newCountingLoader(auth.NewCache(store, cfg.cacheTTL, time.Now), metrics.NewEmitter(os.Stdout, metricsNamespace), time.Now, logger)
	lambda.Start(handler(keys, logger))
}

// config is the function's settings.
type config struct {
	secretID string        // KEYS_SECRET_ID: the secret holding the keyring (name or ARN)
	cacheTTL time.Duration // KEY_CACHE_TTL: how long a loaded keyring is used, default 60s
}

// defaultCacheTTL is docs/API.md's secret cache lifetime: with API Gateway's own
// result cache, a revoked key stops working within two minutes.
const defaultCacheTTL = 60 * time.Second

func loadConfig(getenv func(string) string) (config, error) {
	c := config{secretID: getenv("KEYS_SECRET_ID"), cacheTTL: defaultCacheTTL}
	if c.secretID == "" {
		return c, fmt.Errorf("KEYS_SECRET_ID is required: the secret that holds the API keys")
	}
	if v := getenv("KEY_CACHE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return c, fmt.Errorf("KEY_CACHE_TTL %q is not a duration of 0 or more (such as 60s)", v)
		}
		c.cacheTTL = d
	}
	return c, nil
}

// handler is the function's entry point over a key source: Secrets
// Manager behind a cache when deployed, a key file in tests.
func handler(keys auth.Loader, logger *slog.Logger) auth.Authorizer {
	return auth.NewAuthorizer(keys, logger)
}
