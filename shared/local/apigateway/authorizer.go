package apigateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/routes"
)

// AuthorizerHandler is a Lambda entry point for API Gateway's REQUEST
// authorizer events: what the authorizer function binary passes to
// lambda.Start.
type AuthorizerHandler func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

const (
	// apiKeyHeader is the authorizer's identity source.
	apiKeyHeader = "X-API-Key"
	// authorizerFunction names the authorizer in its Lambda context.
	authorizerFunction = "authorizer"
	// methodARNPrefix starts the ARN of every method of the local API, as
	// execute-api:Invoke policies name them.
	methodARNPrefix = "arn:aws:execute-api:local:" + accountID + ":" + apiID + "/"
	// maxCachedAuthorizations bounds the authorizer cache: its keys are
	// whatever clients put in X-API-Key, so without a bound a client could
	// fill the memory within one TTL.
	maxCachedAuthorizations = 10000
)

// refusal is an answer the gateway gives instead of invoking the function.
type refusal struct {
	status  int
	code    string
	message string
}

// authorizerFailure is API Gateway's AUTHORIZER_FAILURE and
// AUTHORIZER_CONFIGURATION_ERROR: the authorizer could not decide (the key
// store unreadable), and the client learns no more than that. The stack's
// gateway response makes it a 503 with Retry-After (infra/spec), so the
// local gateway answers the same.
func authorizerFailure() *refusal {
	return &refusal{http.StatusServiceUnavailable, apierror.CodeUnavailable, "the key store is unavailable; retry later"}
}

// isUnauthorized reports whether the authorizer said no the way API Gateway
// understands: a function error whose message is exactly "Unauthorized".
// Any other error, a wrapped one included, is a failed authorizer.
func isUnauthorized(err error) bool {
	var fe *functionError
	return errors.As(err, &fe) && fe.err.Error() == "Unauthorized"
}

// needsAuthorizer reports whether a route has the authorizer. Read routes
// have it only when keys are required for reads, which on AWS is decided at
// deploy time.
func (g *Gateway) needsAuthorizer(r routes.Route) bool {
	if g.authorizer == nil {
		return false
	}
	switch r.Scope {
	case routes.Public:
		return false
	case routes.Read:
		return g.keysForReads
	default:
		return true
	}
}

// authorize runs the authorizer for a request, as API Gateway does before
// invoking the function, and returns what goes into the proxy event's
// requestContext.authorizer, or the answer that refuses the request.
func (g *Gateway) authorize(ctx context.Context, r *http.Request, ev events.APIGatewayProxyRequest, ids requestIDs) (map[string]any, *refusal) {
	// The last value, the one the event's single-value headers carry.
	keys := r.Header.Values(apiKeyHeader)
	if len(keys) == 0 || keys[len(keys)-1] == "" {
		// API Gateway does not invoke an authorizer whose identity source
		// is missing: it answers 401 at once.
		return nil, &refusal{http.StatusUnauthorized, apierror.CodeUnauthorized, "an API key is required in the X-API-Key header"}
	}
	key := keys[len(keys)-1]
	arn := methodARN(ev)

	started := time.Now()
	resp, err := g.authorization(ctx, key, authorizerEvent(ev, arn))
	latency := time.Since(started)
	switch {
	case isUnauthorized(err):
		return nil, &refusal{http.StatusUnauthorized, apierror.CodeUnauthorized, "the API key is not valid"}
	case err != nil:
		g.log.ErrorContext(ctx, "gateway: authorizer failed",
			"request_id", ids.request, "route", ev.HTTPMethod+" "+ev.Resource, "err", err)
		return nil, authorizerFailure()
	}
	// The policy is checked on every request, cached or not: a cached
	// policy that names only the method it was first issued for refuses
	// the others, on AWS as here.
	if !policyAllows(resp.PolicyDocument, arn) {
		return nil, &refusal{http.StatusForbidden, apierror.CodeForbidden, "the API key may not call this route"}
	}
	authCtx, err := authorizerContext(resp, latency)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: authorizer response is malformed",
			"request_id", ids.request, "route", ev.HTTPMethod+" "+ev.Resource, "err", err)
		return nil, authorizerFailure()
	}
	return authCtx, nil
}

// authorization is the authorizer's answer for a key: from the cache while
// it is fresh, else from the authorizer. Only answers are cached, Deny
// included; an error is asked again next time, as API Gateway does.
func (g *Gateway) authorization(ctx context.Context, key string, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	if resp, ok := g.authCache.get(key); ok {
		return resp, nil
	}
	resp, err := g.callAuthorizer(ctx, ev)
	if err != nil {
		return events.APIGatewayCustomAuthorizerResponse{}, err
	}
	g.authCache.put(key, resp)
	return resp, nil
}

// callAuthorizer invokes the authorizer as the Lambda runtime would, with
// its own Lambda context and the gateway's deadline.
func (g *Gateway) callAuthorizer(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	var in events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := jsonRoundTrip(ev, &in); err != nil {
		return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("serialise authorizer event: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newUUID(),
		InvokedFunctionArn: arnPrefix + authorizerFunction,
	})

	resp, err := run(ctx, g.authorizer, in)
	if err != nil {
		return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("authorizer: %w", err)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("serialise authorizer response: %w", err)
	}
	// Numbers stay as the authorizer wrote them, so a context value
	// reaches the function as the same text API Gateway would pass on.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out events.APIGatewayCustomAuthorizerResponse
	if err := dec.Decode(&out); err != nil {
		return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("serialise authorizer response: %w", err)
	}
	return out, nil
}

// methodARN is the ARN of the method a request calls, as API Gateway gives
// it to the authorizer and matches it against the returned policy:
// arn:aws:execute-api:region:account:api/stage/METHOD/path.
func methodARN(ev events.APIGatewayProxyRequest) string {
	return methodARNPrefix + ev.RequestContext.Stage + "/" + ev.HTTPMethod + "/" + strings.TrimPrefix(ev.Path, "/")
}

// authorizerEvent is the REQUEST authorizer event for a request, built from
// its proxy event so that both carry the same request and ids.
func authorizerEvent(ev events.APIGatewayProxyRequest, arn string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	rc := ev.RequestContext
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:                            "REQUEST",
		MethodArn:                       arn,
		Resource:                        ev.Resource,
		Path:                            ev.Path,
		HTTPMethod:                      ev.HTTPMethod,
		Headers:                         ev.Headers,
		MultiValueHeaders:               ev.MultiValueHeaders,
		QueryStringParameters:           ev.QueryStringParameters,
		MultiValueQueryStringParameters: ev.MultiValueQueryStringParameters,
		PathParameters:                  ev.PathParameters,
		StageVariables:                  ev.StageVariables,
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			Path:       rc.Path,
			AccountID:  rc.AccountID,
			ResourceID: rc.ResourceID,
			Stage:      rc.Stage,
			RequestID:  rc.RequestID,
			// identity.apiKey is API Gateway's own usage-plan key, which
			// this API does not use: it stays empty, as on AWS.
			Identity:     events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: rc.Identity.SourceIP},
			ResourcePath: rc.ResourcePath,
			HTTPMethod:   rc.HTTPMethod,
			APIID:        rc.APIID,
		},
	}
}

// policyAllows evaluates an authorizer's policy for the execute-api:Invoke
// of one method ARN as IAM does: an explicit Deny wins, else an Allow is
// needed, and no statement that applies is a Deny.
func policyAllows(doc events.APIGatewayCustomAuthorizerPolicy, arn string) bool {
	allowed := false
	for _, st := range doc.Statement {
		if !matchesAny(st.Action, "execute-api:Invoke", strings.ToLower) || !matchesAny(st.Resource, arn, nil) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

// matchesAny reports whether one of the IAM patterns matches s, after fold
// (when not nil) is applied to both: action names compare without case,
// ARNs with.
func matchesAny(patterns []string, s string, fold func(string) string) bool {
	if fold != nil {
		s = fold(s)
	}
	for _, p := range patterns {
		if fold != nil {
			p = fold(p)
		}
		if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against an IAM pattern, where * stands for any
// run of characters (slashes and colons included) and ? for any one.
func wildcardMatch(pattern, s string) bool {
	// The classic linear-time matcher: on a mismatch, go back to the last
	// star and let it swallow one more character.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// authorizerContext is requestContext.authorizer as API Gateway builds it
// for a REST proxy integration: the authorizer's context values as strings,
// principalId, and the authorizer's latency in milliseconds. A context
// value that is an object or an array is a configuration error on AWS
// (the request fails with 500), so it is one here.
func authorizerContext(resp events.APIGatewayCustomAuthorizerResponse, latency time.Duration) (map[string]any, error) {
	out := make(map[string]any, len(resp.Context)+2)
	for k, v := range resp.Context {
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		case bool:
			out[k] = strconv.FormatBool(v)
		case nil:
			out[k] = nil
		default:
			return nil, fmt.Errorf("context value %q is a %T: only strings, numbers and booleans may be passed on", k, v)
		}
	}
	out["principalId"] = resp.PrincipalID
	out["integrationLatency"] = latency.Milliseconds()
	return out, nil
}

// authCache keeps the authorizer's answers per identity source (the key)
// for a TTL, as API Gateway's authorizer result cache does. A nil
// *authCache caches nothing, which is a TTL of 0.
type authCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]cachedAuthorization
}

type cachedAuthorization struct {
	resp    events.APIGatewayCustomAuthorizerResponse
	expires time.Time
}

func newAuthCache(ttl time.Duration) *authCache {
	if ttl <= 0 {
		return nil
	}
	return &authCache{ttl: ttl, entries: map[string]cachedAuthorization{}}
}

func (c *authCache) get(key string) (events.APIGatewayCustomAuthorizerResponse, bool) {
	if c == nil {
		return events.APIGatewayCustomAuthorizerResponse{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return events.APIGatewayCustomAuthorizerResponse{}, false
	}
	if !time.Now().Before(e.expires) {
		delete(c.entries, key)
		return events.APIGatewayCustomAuthorizerResponse{}, false
	}
	return e.resp, true
}

func (c *authCache) put(key string, resp events.APIGatewayCustomAuthorizerResponse) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if len(c.entries) >= maxCachedAuthorizations {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedAuthorizations {
			// Full of live answers: this one goes uncached, which costs
			// an authorizer call later, never a wrong answer.
			return
		}
	}
	c.entries[key] = cachedAuthorization{resp: resp, expires: now.Add(c.ttl)}
}
