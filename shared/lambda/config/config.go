// Package config reads a function's or the local stack's settings from the
// environment. Every setting is documented in .env.example; a bad value is
// an error at start, never a surprise at the first request.
package config

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/plainview/serverless/shared/api/cors"
)

// Environments, the same words as the CDK context "environment".
const (
	Development = "development"
	Production  = "production"
)

// Config holds the settings shared by every function.
type Config struct {
	Environment      string     // ENVIRONMENT: development (default) or production
	TableName        string     // TABLE_NAME: the DynamoDB table, default "plainview"
	DynamoDBEndpoint string     // DYNAMODB_ENDPOINT: a DynamoDB-compatible server instead of AWS
	Version          string     // VERSION: reported by / and /health, default "dev"
	LogLevel         slog.Level // LOG_LEVEL: debug, info (default), warn, error
	// RequireKeyForReads: REQUIRE_KEY_FOR_READS=true puts the read routes
	// behind API keys too (default false: reads are public).
	RequireKeyForReads bool
	// CORSOrigins: CORS_ORIGINS, a comma-separated allow-list of browser
	// origins, or "*". Default in development: pages on this machine
	// (cors.Loopback, any port); in production none.
	CORSOrigins string
}

// validTableName reports whether s is a DynamoDB table name: 3 to 255 of
// A-Z, a-z, 0-9, "_", "-" and ".". A loop, not a regexp: compiling
// [...]{3,255} unrolls the repetition, which cost every function 0.8 ms
// of its cold start (docs/PERFORMANCE.md, "Cold start").
func validTableName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// Load reads the settings through getenv (os.Getenv in production, a map
// in tests).
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		Environment:      or(getenv("ENVIRONMENT"), Development),
		TableName:        or(getenv("TABLE_NAME"), "plainview"),
		DynamoDBEndpoint: getenv("DYNAMODB_ENDPOINT"),
		Version:          or(getenv("VERSION"), "dev"),
	}
	if c.Environment != Development && c.Environment != Production {
		return c, fmt.Errorf("ENVIRONMENT must be %q or %q, not %q", Development, Production, c.Environment)
	}
	if !validTableName(c.TableName) {
		return c, fmt.Errorf("TABLE_NAME %q is not a DynamoDB table name", c.TableName)
	}
	if c.DynamoDBEndpoint != "" {
		u, err := url.Parse(c.DynamoDBEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("DYNAMODB_ENDPOINT %q is not an http(s) URL", c.DynamoDBEndpoint)
		}
	}
	if len(c.Version) > 64 {
		return c, fmt.Errorf("VERSION is longer than 64 characters")
	}
	switch v := strings.TrimSpace(getenv("REQUIRE_KEY_FOR_READS")); v {
	case "", "false":
	case "true":
		c.RequireKeyForReads = true
	default:
		return c, fmt.Errorf("REQUIRE_KEY_FOR_READS must be true or false, not %q", v)
	}
	c.CORSOrigins = strings.TrimSpace(getenv("CORS_ORIGINS"))
	if c.CORSOrigins == "" && c.Environment == Development {
		c.CORSOrigins = cors.Loopback
	}
	if err := c.LogLevel.UnmarshalText([]byte(or(getenv("LOG_LEVEL"), "info"))); err != nil {
		return c, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	return c, nil
}

func or(v, fallback string) string {
	if v = strings.TrimSpace(v); v == "" {
		return fallback
	}
	return v
}

// AWS is the SDK configuration of a function in its Lambda sandbox:
// the region and the role's credentials, which Lambda puts in the
// environment (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), as `sam local invoke` does too.
//
// It replaces config.LoadDefaultConfig on purpose: the default chain
// links SSO, STS, the shared-files parser and IMDS, about 1.9 MB of
// every binary that a function never uses (docs/decisions.md, binary
// sizes), and reads files at start. Scripts run by people keep the default
// chain, with profiles and SSO.
func AWS(getenv func(string) string) (aws.Config, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		return aws.Config{}, fmt.Errorf("AWS_REGION is not set (Lambda sets it)")
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return aws.Config{}, fmt.Errorf("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set (Lambda sets them from the function's role)")
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN")),
	}
	if err := endpoints(getenv, &cfg); err != nil {
		return aws.Config{}, err
	}
	return cfg, nil
}

// The SDK's standard endpoint settings
// (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html):
// AWS_ENDPOINT_URL for every service, AWS_ENDPOINT_URL_<SERVICE> for one
// (the SDK's service id in capitals, spaces as underscores), and
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true to ignore both. Tests and local
// runs point the functions at emulators with them.
const (
	envEndpointURL     = "AWS_ENDPOINT_URL"
	envIgnoreEndpoints = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
)

// services are the SDK service ids of the clients the functions build;
// their endpoint settings are checked at start.
func services() []string {
	return []string{"DynamoDB", "Secrets Manager", "SNS", "IoT Data Plane"}
}

// EndpointVariable is the variable that sets one service's endpoint, such
// as AWS_ENDPOINT_URL_IOT_DATA_PLANE for "IoT Data Plane".
func EndpointVariable(serviceID string) string {
	return envEndpointURL + "_" + strings.ReplaceAll(strings.ToUpper(serviceID), " ", "_")
}

// endpoints adds the endpoint settings to cfg. The default chain
// (config.LoadDefaultConfig) would read them, but AWS does not use it;
// a service client asks cfg.ConfigSources for its own endpoint, which
// envEndpoints answers through getenv.
func endpoints(getenv func(string) string, cfg *aws.Config) error {
	switch v := strings.TrimSpace(getenv(envIgnoreEndpoints)); v {
	case "", "false":
	case "true":
		return nil
	default:
		return fmt.Errorf("%s must be true or false, not %q", envIgnoreEndpoints, v)
	}
	if v := getenv(envEndpointURL); v != "" {
		if err := checkEndpoint(envEndpointURL, v); err != nil {
			return err
		}
		cfg.BaseEndpoint = aws.String(v)
	}
	for _, id := range services() {
		name := EndpointVariable(id)
		if err := checkEndpoint(name, getenv(name)); err != nil {
			return err
		}
	}
	cfg.ConfigSources = append(cfg.ConfigSources, envEndpoints(getenv))
	return nil
}

// checkEndpoint refuses a set endpoint that is no http(s) URL with a host.
func checkEndpoint(name, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q is not an http(s) URL", name, v)
	}
	return nil
}

// envEndpoints answers a service client's question for its own endpoint
// (the SDK's ServiceBaseEndpointProvider) from AWS_ENDPOINT_URL_<SERVICE>.
type envEndpoints func(string) string

func (getenv envEndpoints) GetServiceBaseEndpoint(_ context.Context, serviceID string) (string, bool, error) {
	v := getenv(EndpointVariable(serviceID))
	return v, v != "", nil
}
