// Package spec declares, as plain data, what the deployed system is made
// of: the Lambda functions with their sizes and the environment variables
// each one reads, and the answers API Gateway gives of its own. The CDK app
// (infra) and the SAM template generator (infra/samtemplate) both build
// from it, so the two cannot disagree on a function, a handler or a
// variable name.
//
// It must not import the CDK: the SAM generator and its test would then
// compile for about 90 seconds instead of one.
package spec

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/contract/routes"
)

// The Lambda runtime settings every function shares. Go functions are
// built by `make build` into bin/<name>/bootstrap for an OS-only runtime.
const (
	Runtime      = "provided.al2023"
	Architecture = "arm64"
	Handler      = "bootstrap"
)

// FuncAuthorizer is the API Gateway REQUEST authorizer: the only function
// that reads the key secret.
const FuncAuthorizer = "authorizer"

// AuthorizerIdentityHeader is the header the authorizer reads the key from
// (docs/API.md), and the identity source API Gateway caches its answers by.
const AuthorizerIdentityHeader = "X-API-Key"

// The environment variables the functions read (see .env.example and each
// functions/<name>/main.go).
const (
	EnvTableName          = "TABLE_NAME"
	EnvEnvironment        = "ENVIRONMENT"
	EnvVersion            = "VERSION"
	EnvLogLevel           = "LOG_LEVEL"
	EnvRequireKeyForReads = "REQUIRE_KEY_FOR_READS"
	EnvCORSOrigins        = "CORS_ORIGINS"
	EnvIoTEndpoint        = "IOT_ENDPOINT"
	EnvNotifyTopicARN     = "NOTIFY_TOPIC_ARN"
	EnvKeysSecretID       = "KEYS_SECRET_ID"
	EnvKeyCacheTTL        = "KEY_CACHE_TTL"
	// EnvDynamoDBEndpoint points a function at a DynamoDB-compatible
	// server. Deployed functions never get it; the SAM template declares
	// it for the functions that use the table, so `sam local` can reach
	// the local stack's table (SAM passes only declared variables).
	EnvDynamoDBEndpoint = "DYNAMODB_ENDPOINT"
)

// apiEnv is what every function behind the API reads through
// shared/lambda/function.Setup, followed by extra.
func apiEnv(extra ...string) []string {
	return append([]string{EnvTableName, EnvEnvironment, EnvVersion, EnvLogLevel, EnvRequireKeyForReads, EnvCORSOrigins}, extra...)
}

// Function is one Lambda function of the stack.
type Function struct {
	Name        string // functions/<Name>, bin/<Name>/bootstrap, routes.Route.Function
	Description string
	// MemoryMB and Timeout are chosen in docs/infrastructure.md.
	MemoryMB int
	Timeout  time.Duration
	// Env names the variables the function reads, each set by the stack;
	// a variable it does not read is not set (no secret or ARN travels
	// where it is not used).
	Env []string
}

// StreamTimeout is the integration timeout of a streamed route and the
// timeout of its function: API Gateway's most for a streamed integration.
const StreamTimeout = 15 * time.Minute

// The functions no route serves: the device traffic's.
const (
	// FuncIngest takes what the IoT topic rules select: directly (an
	// asynchronous invoke per message) and in batches from the telemetry
	// stream.
	FuncIngest = "ingest"
	// FuncTimeouts ends open actuations past their deadline, on a
	// schedule.
	FuncTimeouts = "timeouts"
)

// Functions returns every function of the stack: those that serve the
// route table, in table order, then the authorizer, then the device
// functions (ingest and timeouts).
func Functions() []Function {
	fns := map[string]Function{
		routes.FuncReads: {
			Description: "Plainview public and read routes (DynamoDB read only)",
			MemoryMB:    256, Timeout: 10 * time.Second,
			Env: apiEnv(),
		},
		routes.FuncValves: {
			Description: "Plainview valve actuation (DynamoDB writes, IoT publish)",
			MemoryMB:    256, Timeout: 10 * time.Second,
			Env: apiEnv(EnvIoTEndpoint),
		},
		routes.FuncIncidents: {
			Description: "Plainview incident and leak alert writes (DynamoDB writes, SNS)",
			MemoryMB:    256, Timeout: 10 * time.Second,
			Env: apiEnv(EnvNotifyTopicARN),
		},
		routes.FuncEvents: {
			Description: "Plainview event log and live event stream (DynamoDB read only, streamed answers)",
			// An open stream is one invocation that mostly waits: the
			// smallest memory, and API Gateway's 15-minute limit of a
			// streamed integration as the timeout (StreamTimeout); the
			// stream ends itself before it.
			MemoryMB: 128, Timeout: StreamTimeout,
			Env: apiEnv(),
		},
	}
	var out []Function
	for _, name := range routes.Functions(routes.Table()) {
		f, ok := fns[name]
		if !ok {
			// A route served by a function nobody sized: the zero
			// Function has no memory, which the stack refuses and the
			// tests name.
			f = Function{Description: "undeclared function " + name}
		}
		f.Name = name
		out = append(out, f)
	}
	return append(out, Function{
		Name:        FuncAuthorizer,
		Description: "Plainview API key authorizer (reads the key secret only)",
		MemoryMB:    128, Timeout: 5 * time.Second,
		Env: []string{EnvKeysSecretID, EnvKeyCacheTTL},
	}, Function{
		Name:        FuncIngest,
		Description: "Plainview device messages from the IoT topic rules and the telemetry stream (DynamoDB writes, SNS)",
		// A stream batch is up to IngestBatchSize records, the readings
		// written 25 at a time and each device's items once per batch:
		// 30 s leaves room for retries of throttled writes. A batch that
		// times out is a failed batch, retried (IngestRetryAttempts).
		MemoryMB: 256, Timeout: 30 * time.Second,
		Env: apiEnv(EnvNotifyTopicARN),
	}, Function{
		Name:        FuncTimeouts,
		Description: "Plainview actuation timeouts, every minute (DynamoDB writes, SNS)",
		MemoryMB:    256, Timeout: 30 * time.Second,
		Env: apiEnv(EnvNotifyTopicARN),
	})
}

// The telemetry stream's event source mapping of the ingest function
// (issue 17's cost goal, docs/DEPLOYMENT.md "Per million device
// messages"): the stream is keyed by the publishing device, so a batch
// holds all of a device's readings of the window, and a reading costs
// about 4/k + 0.07 write units for k readings of its device in a batch.
const (
	// IngestBatchSize is the most records in one invocation: a shard
	// takes at most 1,000 records a second, split over
	// IngestParallelization batches, so at its full rate a batch
	// gathers about 500 in the window: the window, not the size, ends a
	// batch (k stays about five), and a batch's work stays well inside
	// ingest's timeout.
	IngestBatchSize = 1000
	// IngestBatchingWindow is how long Lambda gathers records before it
	// invokes: a device reporting every second has about five readings
	// in a batch (k ~ 5), at the price of up to 5 s more before a
	// reading is stored. Lambda's window is whole seconds, up to 300.
	IngestBatchingWindow = 5 * time.Second
	// IngestParallelization is the concurrent batches per shard: Lambda
	// splits a shard's records by partition key (the device), so a
	// device's records stay in order in one of them while one slow batch
	// does not hold up the other devices of the shard. Kinesis allows
	// 1..10.
	IngestParallelization = 10
	// IngestRetryAttempts is how often a failed batch is retried (from
	// the first record ingest reported not stored, and halved on a
	// function error, BisectBatchOnError) before its records go to the
	// dead-letter queue: the three tries the telemetry queue gave a
	// message, and the local engine's. Without a bound, one failing
	// batch would hold up its devices until its records left the
	// stream.
	IngestRetryAttempts = 3
	// IngestMaxRecordAge is the oldest record Lambda still delivers;
	// older ones go to the dead-letter queue. An hour, as for the direct
	// rules' asynchronous invokes: a reading that has waited longer is
	// history for a person to redrive, not live telemetry to hold the
	// shard up with.
	IngestMaxRecordAge = time.Hour
)

// Pending returns the functions of functions/ that the stack does not
// deploy yet, with what deploys them. A function directory in neither
// this list nor Functions fails the tests.
func Pending() map[string]string {
	return map[string]string{}
}

// LogicalID is the function's name as a CloudFormation logical id part:
// "reads" becomes "Reads". SAM templates and sample event docs name the
// functions by it.
func LogicalID(name string) string {
	var b strings.Builder
	upper := true
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			upper = true // CloudFormation ids are alphanumeric
			continue
		}
		if upper {
			c = unicode.ToUpper(c)
		}
		upper = false
		b.WriteRune(c)
	}
	return b.String()
}

// NeedsAuthorizer reports whether API Gateway runs the authorizer before
// the route: every route that needs a scope, except the read routes while
// reads are public. The handlers check the scope again, so a route wired
// without the authorizer fails closed.
func NeedsAuthorizer(r routes.Route, requireKeyForReads bool) bool {
	switch r.Scope {
	case routes.Public:
		return false
	case routes.Read:
		return requireKeyForReads
	default:
		return true
	}
}

// CORS is what the gateway's CORS answers carry besides the origin: the
// values of shared/api/cors, read from its policy so that the gateway (CDK or
// SAM) and the functions cannot disagree.
type CORS struct {
	AllowHeaders  []string // request headers a page may send
	ExposeHeaders []string // answer headers a page may read
	MaxAge        int      // seconds a browser may keep a preflight's answer
}

// CORSHeaders returns the header values of shared/api/cors's policy.
func CORSHeaders() (CORS, error) {
	const probe = "https://probe.invalid"
	p, err := cors.Parse(probe)
	if err != nil {
		return CORS{}, err
	}
	pre, act := http.Header{}, http.Header{}
	p.Preflight(pre, probe, []string{http.MethodGet})
	p.Apply(act, probe)
	maxAge, err := strconv.Atoi(pre.Get("Access-Control-Max-Age"))
	if err != nil {
		return CORS{}, fmt.Errorf("cors: preflight max age: %w", err)
	}
	return CORS{
		AllowHeaders:  fields(pre.Get("Access-Control-Allow-Headers")),
		ExposeHeaders: fields(act.Get("Access-Control-Expose-Headers")),
		MaxAge:        maxAge,
	}, nil
}

// Origins splits a CORS_ORIGINS list into its entries.
func Origins(list string) []string { return fields(list) }

func fields(list string) []string {
	var out []string
	for f := range strings.SplitSeq(list, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
