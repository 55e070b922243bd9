package spec

import (
	"fmt"
	"net/http"

	"github.com/plainview/serverless/shared/contract/apierror"
)

// GatewayResponse is an answer API Gateway makes itself, without a
// function: a refused key, a throttle, an unknown route, a timeout. Each is
// set to the API's one error shape, so a client parses every error alike.
type GatewayResponse struct {
	Type   string // API Gateway's response type, such as "UNAUTHORIZED"
	Status int    // the status to answer; 0 keeps API Gateway's own
	Code   string // the error code, one of package apierror's
	// Message is the fixed text of the answer; empty means API Gateway's
	// own message for the error, which names what was wrong (a bad
	// header, a bad body) without saying anything about our side.
	Message string
	// RetryAfter is the Retry-After header in seconds, for the answers
	// docs/API.md promises one on (429 and 503); empty for none.
	RetryAfter string
}

// MaxBody is API Gateway's fixed 10 MB payload limit of REST APIs.
const MaxBody = 10 << 20

// GatewayResponses returns the gateway responses the stack sets. The
// texts and codes follow shared/local/apigateway, the local stand-in for API
// Gateway, so an error reads the same on a laptop and deployed.
func GatewayResponses() []GatewayResponse {
	const (
		notFound = "no such route"
		internal = "internal server error"
	)
	return []GatewayResponse{
		// The defaults catch every type not named below.
		{Type: "DEFAULT_4XX", Code: apierror.CodeBadRequest},
		{Type: "DEFAULT_5XX", Code: apierror.CodeInternal, Message: internal},
		{Type: "UNAUTHORIZED", Status: http.StatusUnauthorized, Code: apierror.CodeUnauthorized,
			Message: "a valid API key is required in the " + AuthorizerIdentityHeader + " header"},
		{Type: "ACCESS_DENIED", Status: http.StatusForbidden, Code: apierror.CodeForbidden,
			Message: "the API key may not call this route"},
		// API Gateway answers an unknown path or method with 403 "Missing
		// Authentication Token"; docs/API.md promises 404 for an unknown route.
		{Type: "MISSING_AUTHENTICATION_TOKEN", Status: http.StatusNotFound, Code: apierror.CodeNotFound, Message: notFound},
		{Type: "RESOURCE_NOT_FOUND", Status: http.StatusNotFound, Code: apierror.CodeNotFound, Message: notFound},
		{Type: "THROTTLED", Status: http.StatusTooManyRequests, Code: apierror.CodeThrottled,
			Message: "too many requests", RetryAfter: "1"},
		{Type: "REQUEST_TOO_LARGE", Status: http.StatusRequestEntityTooLarge, Code: apierror.CodeTooLarge,
			Message: fmt.Sprintf("request body is larger than %d bytes", MaxBody)},
		{Type: "UNSUPPORTED_MEDIA_TYPE", Status: http.StatusUnsupportedMediaType, Code: apierror.CodeUnsupported},
		{Type: "INTEGRATION_FAILURE", Status: http.StatusBadGateway, Code: apierror.CodeInternal, Message: internal},
		{Type: "INTEGRATION_TIMEOUT", Status: http.StatusGatewayTimeout, Code: apierror.CodeInternal,
			Message: "endpoint request timed out"},
		// The authorizer fails (rather than refuses) when it cannot read
		// the key store: that is a dependency down, which docs/API.md answers
		// with 503 and Retry-After, not a 500 the client cannot act on.
		{Type: "AUTHORIZER_FAILURE", Status: http.StatusServiceUnavailable, Code: apierror.CodeUnavailable,
			Message: "the key store is unavailable; retry later", RetryAfter: "5"},
		{Type: "AUTHORIZER_CONFIGURATION_ERROR", Status: http.StatusServiceUnavailable, Code: apierror.CodeUnavailable,
			Message: "the key store is unavailable; retry later", RetryAfter: "5"},
	}
}

// Template is the response's body as an API Gateway mapping template
// (VTL) for application/json. A fixed message is JSON-encoded by apierror;
// API Gateway's own message comes from $context.error.messageString, which
// API Gateway gives already quoted and escaped as a JSON string.
func (g GatewayResponse) Template() string {
	if g.Message != "" {
		return string(apierror.Body(g.Code, g.Message))
	}
	// The code is one of apierror's constants, plain ASCII letters and
	// underscores: nothing in it needs escaping in JSON or VTL.
	return `{"error":{"code":"` + g.Code + `","message":$context.error.messageString}}`
}

// StatusCode is the status as API Gateway wants it in a gateway response,
// a string; "" keeps the response type's own status.
func (g GatewayResponse) StatusCode() string {
	if g.Status == 0 {
		return ""
	}
	return fmt.Sprint(g.Status)
}
