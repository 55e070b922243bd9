package main

import (
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/lambda/config"
)

// settings is one deployment's choices, read from the CDK context
// (cdk.json, or `-c key=value` on the command line).
type settings struct {
	environment        string // development or production: ENVIRONMENT of every function
	requireKeyForReads bool   // the read routes get the authorizer too
	corsOrigins        string // CORS_ORIGINS: comma-separated origins, or *
	alarmEmail         string // subscribed to the operators' topic when set
	domainName         string // a custom domain for the API, with certificateARN
	certificateARN     string
	iotEndpoint        string // the account's IoT data endpoint, for the valves function; found at deploy time when empty
	assetsDir          string // where bin/<function>/bootstrap are, relative to infra/
	version            string // VERSION of every function
	logLevel           string // LOG_LEVEL of every function
	authorizerCacheTTL time.Duration
	keyCacheTTL        time.Duration
	stageRate          float64 // the stage's throttle, requests per second
	stageBurst         int
	telemetryShards    int // the telemetry stream's shards
}

// The context keys a deployment may set; docs/infrastructure.md lists them.
const (
	ctxEnvironment        = "environment"
	ctxRequireKeyForReads = "require_key_for_reads"
	ctxCORSOrigins        = "cors_origins"
	ctxAlarmEmail         = "alarm_email"
	ctxDomainName         = "domain_name"
	ctxCertificateARN     = "certificate_arn"
	ctxIoTEndpoint        = "iot_endpoint"
	ctxAssetsDir          = "assets_dir"
	ctxVersion            = "version"
	ctxLogLevel           = "log_level"
	ctxAuthorizerCacheTTL = "authorizer_cache_ttl"
	ctxKeyCacheTTL        = "key_cache_ttl"
	ctxStageRate          = "throttle_rate"
	ctxStageBurst         = "throttle_burst"
	ctxTelemetryShards    = "telemetry_shards"
)

// Defaults of the settings a deployment may leave out.
const (
	// defaultCacheTTL is docs/API.md's lifetime of both caches: the
	// authorizer's result cache and the key secret cache, so a revoked key
	// stops working within two minutes.
	defaultCacheTTL = 60 * time.Second
	// maxAuthorizerCacheTTL is the longest result cache API Gateway takes.
	maxAuthorizerCacheTTL = time.Hour
	// API Gateway's account-level default per region; the stage takes it
	// all unless told otherwise (shared/local/apigateway uses the same numbers).
	defaultStageRate  = 10000
	defaultStageBurst = 5000
	// defaultAssetsDir is where `make build` puts the binaries, seen from
	// infra/, where the CDK CLI runs the app.
	defaultAssetsDir = "../bin"
	// A shard takes 1,000 records (1 MB) a second: one carries up to
	// 1,000 device messages a second of the stream rules together. A
	// fleet that sends more sets telemetry_shards; past the shards' rate
	// the topic rules' puts are refused and go to the dead-letter queue.
	defaultTelemetryShards = 1
	// maxTelemetryShards is Kinesis's default shard quota per account
	// and region in the large regions (200 in others): more needs a
	// quota increase first, and a typo such as 10000 should not reach
	// CloudFormation as a bill.
	maxTelemetryShards = 500
)

// readSettings reads and checks the settings through get, which returns a
// context value: a string from the command line, or any JSON value from
// cdk.json; nil when unset. Production refuses to be built without what
// it cannot run safely without.
func readSettings(get func(key string) any) (settings, error) {
	var s settings
	var errs []string
	str := func(key string) string {
		switch v := get(key).(type) {
		case nil:
			return ""
		case string:
			return strings.TrimSpace(v)
		default:
			return strings.TrimSpace(fmt.Sprint(v))
		}
	}
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	s.environment = or(str(ctxEnvironment), config.Development)
	production := s.environment == config.Production
	if s.environment != config.Development && !production {
		fail("context %s must be %q or %q, not %q", ctxEnvironment, config.Development, config.Production, s.environment)
	}

	switch v := str(ctxRequireKeyForReads); v {
	case "", "false":
	case "true":
		s.requireKeyForReads = true
	default:
		fail("context %s must be true or false, not %q", ctxRequireKeyForReads, v)
	}

	// CORS: the same parser as the functions, so a list the functions
	// would refuse at start is refused here, before anything deploys.
	s.corsOrigins = str(ctxCORSOrigins)
	if _, err := cors.Parse(s.corsOrigins); err != nil {
		fail("context %s: %v", ctxCORSOrigins, err)
	}
	for _, o := range spec.Origins(s.corsOrigins) {
		if strings.HasSuffix(o, ":*") {
			// API Gateway's preflight (a mock integration) compares
			// origins exactly: an any-port entry would never match there.
			fail("context %s: %q: name the port; API Gateway cannot match any port", ctxCORSOrigins, o)
		}
	}
	if s.corsOrigins == "" {
		if production {
			fail("production needs context %s: the browser origins allowed to call the API (comma-separated, or *)", ctxCORSOrigins)
		}
		s.corsOrigins = "*"
	}

	s.alarmEmail = str(ctxAlarmEmail)
	if s.alarmEmail != "" {
		if a, err := mail.ParseAddress(s.alarmEmail); err != nil || a.Address != s.alarmEmail {
			fail("context %s %q is not an e-mail address", ctxAlarmEmail, s.alarmEmail)
		}
	} else if production {
		fail("production needs context %s: where the alarms go", ctxAlarmEmail)
	}

	s.domainName, s.certificateARN = str(ctxDomainName), str(ctxCertificateARN)
	if (s.domainName == "") != (s.certificateARN == "") {
		fail("context %s and %s go together: the custom domain needs its certificate", ctxDomainName, ctxCertificateARN)
	}
	if s.certificateARN != "" && !strings.HasPrefix(s.certificateARN, "arn:") {
		fail("context %s %q is not an ARN", ctxCertificateARN, s.certificateARN)
	}

	// The valves function cannot start without the endpoint; in
	// development the stack warns instead, so a first deploy to try the
	// read API needs nothing looked up.
	s.iotEndpoint = str(ctxIoTEndpoint)
	if strings.Contains(s.iotEndpoint, "/") {
		fail("context %s %q must be a host name (aws iot describe-endpoint --endpoint-type iot:Data-ATS), without a scheme", ctxIoTEndpoint, s.iotEndpoint)
	}

	s.assetsDir = or(str(ctxAssetsDir), defaultAssetsDir)
	s.version = or(str(ctxVersion), "dev")
	if len(s.version) > 64 {
		fail("context %s is longer than 64 characters", ctxVersion)
	}
	s.logLevel = or(str(ctxLogLevel), "info")
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.logLevel)); err != nil {
		fail("context %s: %v", ctxLogLevel, err)
	}

	duration := func(key string, max time.Duration) time.Duration {
		v := str(key)
		if v == "" {
			return defaultCacheTTL
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > max || d%time.Second != 0 {
			fail("context %s %q must be whole seconds from 0s to %v (such as 60s)", key, v, max)
		}
		return d
	}
	s.authorizerCacheTTL = duration(ctxAuthorizerCacheTTL, maxAuthorizerCacheTTL)
	s.keyCacheTTL = duration(ctxKeyCacheTTL, 24*time.Hour)

	s.stageRate, s.stageBurst = defaultStageRate, defaultStageBurst
	if v := str(ctxStageRate); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			fail("context %s %q must be a positive number of requests per second", ctxStageRate, v)
		}
		s.stageRate = r
	}
	if v := str(ctxStageBurst); v != "" {
		b, err := strconv.Atoi(v)
		if err != nil || b < 1 {
			fail("context %s %q must be a positive whole number of requests", ctxStageBurst, v)
		}
		s.stageBurst = b
	}

	s.telemetryShards = defaultTelemetryShards
	if v := str(ctxTelemetryShards); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTelemetryShards {
			fail("context %s %q must be a whole number of shards from 1 to %d", ctxTelemetryShards, v, maxTelemetryShards)
		}
		s.telemetryShards = n
	}

	if len(errs) > 0 {
		return s, fmt.Errorf("settings: %s", strings.Join(errs, "; "))
	}
	return s, nil
}

func (s settings) production() bool { return s.environment == config.Production }

func or(v, fallback string) string {
	if v == "" {
		return fallback
	}
	return v
}
