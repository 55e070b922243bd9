// Package apierror writes the one error shape of the Plainview API:
//
//	{"error": {"code": "<machine_code>", "message": "<human text>"}}
//
// The Lambda handlers, the local gateway and API Gateway's gateway responses
// all answer with it.
package apierror

import (
	"encoding/json"
	"net/http"
)

// Codes used across the API. A code is part of the contract: clients
// branch on it, so it never changes once shipped.
const (
	CodeBadRequest     = "bad_request"
	CodeUnauthorized   = "unauthorized"
	CodeForbidden      = "forbidden"
	CodeNotFound       = "not_found"
	CodeConflict       = "conflict"
	CodeTooLarge       = "payload_too_large"
	CodeUnsupported    = "unsupported_media_type"
	CodeUnprocessable  = "unprocessable"
	CodeThrottled      = "throttled"
	CodeInternal       = "internal_error"
	CodeNotImplemented = "not_implemented"
	CodeUnavailable    = "unavailable"
	// CodeMethodNotAllowed: the path exists, not with this method (405,
	// with Allow listing those it has).
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeRequestTimeout: the request body did not arrive in time (408).
	CodeRequestTimeout = "request_timeout"
)

// Error is the body of an error answer.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type envelope struct {
	Error Error `json:"error"`
}

// Body returns the JSON body of an error answer.
func Body(code, message string) []byte {
	b, _ := json.Marshal(envelope{Error{Code: code, Message: message}}) // strings always marshal
	return b
}

// Write sends an error answer.
func Write(w http.ResponseWriter, status int, code, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(Body(code, message))
}
