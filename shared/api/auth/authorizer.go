package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// APIKeyHeader is the request header that carries the key.
const APIKeyHeader = "X-API-Key"

// Authorizer is the entry point of an API Gateway Lambda authorizer of
// type REQUEST, as lambda.Start takes it.
type Authorizer func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// NewAuthorizer returns the authorizer that checks X-API-Key against the
// keyring keys gives.
//
// API Gateway reads the answer thus: an error whose text is exactly
// "Unauthorized" is a 401 to the client; an Allow policy lets the request
// through with Context in requestContext.authorizer; any other error is a
// 500. A refused key is the first; a key store that cannot be read is the
// last, so an outage is not mistaken for bad keys (and is not cached by
// API Gateway as a refusal).
func NewAuthorizer(keys Loader, logger *slog.Logger) Authorizer {
	return func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		log := logger.With("request_id", req.RequestContext.RequestID)
		presented := presentedKeys(req)
		switch len(presented) {
		case 0:
			log.InfoContext(ctx, "authorizer: deny", "outcome", "deny", "reason", "no key")
			return events.APIGatewayCustomAuthorizerResponse{}, unauthorized()
		case 1:
		default:
			// Two different keys in one request: which one is meant is
			// anyone's guess, and guessing is not authenticating.
			log.InfoContext(ctx, "authorizer: deny", "outcome", "deny", "reason", "more than one key")
			return events.APIGatewayCustomAuthorizerResponse{}, unauthorized()
		}
		key := presented[0]

		ring, err := keys.Load(ctx)
		if err != nil {
			log.ErrorContext(ctx, "authorizer: key store failed", "outcome", "error", "err", err)
			return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("authorizer: %w", err)
		}
		p, reason := ring.authenticate(key)
		if reason != "" {
			// The id a key claims is no secret (it is the part a person
			// names a key by), and it tells who is failing; the rest of
			// the key never reaches the log.
			claimed, _, _ := parseKey(key)
			log.InfoContext(ctx, "authorizer: deny", "outcome", "deny", "key_id", claimed, "reason", string(reason))
			return events.APIGatewayCustomAuthorizerResponse{}, unauthorized()
		}

		// The policy allows the whole API, not just this method: API
		// Gateway caches the result per key and applies it to every route,
		// and the scope checks are the function's, per route.
		resource, err := apiWildcard(req.MethodArn)
		if err != nil {
			log.ErrorContext(ctx, "authorizer: bad method ARN", "outcome", "error", "key_id", p.KeyID, "err", err)
			return events.APIGatewayCustomAuthorizerResponse{}, err
		}
		log.InfoContext(ctx, "authorizer: allow", "outcome", "allow", "key_id", p.KeyID)
		pc := p.Context()
		values := make(map[string]interface{}, len(pc))
		for k, v := range pc {
			values[k] = v
		}
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID: p.KeyID,
			PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
				Version: "2012-10-17",
				Statement: []events.IAMPolicyStatement{{
					Action:   []string{"execute-api:Invoke"},
					Effect:   "Allow",
					Resource: []string{resource},
				}},
			},
			Context: values,
		}, nil
	}
}

// unauthorized is the error API Gateway turns into a 401; it matches the
// text exactly, so the text must not change.
func unauthorized() error { return errors.New("Unauthorized") }

// presentedKeys returns the distinct non-empty values of the X-API-Key
// header, whatever its case, from both header maps. API Gateway fills
// Headers with the last value of each header and MultiValueHeaders with
// all of them, so the same value usually appears in both.
func presentedKeys(req events.APIGatewayCustomAuthorizerRequestTypeRequest) []string {
	var keys []string
	add := func(v string) {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(keys, v) {
			keys = append(keys, v)
		}
	}
	for name, v := range req.Headers {
		if strings.EqualFold(name, APIKeyHeader) {
			add(v)
		}
	}
	for name, vs := range req.MultiValueHeaders {
		if strings.EqualFold(name, APIKeyHeader) {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return keys
}

// apiWildcard turns the ARN of the method called,
// arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/<verb>/<path>, into
// the ARN of every method of that API and stage.
func apiWildcard(methodArn string) (string, error) {
	parts := strings.SplitN(methodArn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "execute-api" {
		return "", fmt.Errorf("method ARN %q is not an execute-api ARN", methodArn)
	}
	apiID, rest, ok1 := strings.Cut(parts[5], "/")
	stage, _, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || apiID == "" || stage == "" {
		return "", fmt.Errorf("method ARN %q has no API id and stage", methodArn)
	}
	return strings.Join(parts[:5], ":") + ":" + apiID + "/" + stage + "/*/*", nil
}
