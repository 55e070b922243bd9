package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/plainview/serverless/shared/core/actuation"
	"github.com/plainview/serverless/shared/core/domain"
)

// Every error becomes one answer, and a client reads only what the domain
// wrote for clients: never the text of an adapter's error.
func TestAnErrorIsClassifiedOnceAndLeaksNoInternalText(t *testing.T) {
	const secret = "TransactionCanceledException: ConditionalCheckFailed on table plainview-prod"
	cases := []struct {
		name    string
		err     error
		status  int
		class   string
		message string
	}{
		{"rule", &domain.RuleError{Code: "valve_unavailable", Message: "valve v-101 is in maintenance"}, 422, "valve_unavailable", "valve v-101 is in maintenance"},
		{"conflict", &domain.ConflictError{Code: "actuation_in_progress", Message: "valve v-101 has an open actuation"}, 409, "actuation_in_progress", "valve v-101 has an open actuation"},
		{"plain conflict", fmt.Errorf("%w: %s", domain.ErrConflict, secret), 409, "error", "the record changed meanwhile; read it again and retry"},
		{"invalid", fmt.Errorf("%w: limit must be 1 to 100", domain.ErrInvalid), 400, "invalid", "limit must be 1 to 100"},
		{"not found", fmt.Errorf("valve v-9: %w (%s)", domain.ErrNotFound, secret), 404, "not_found", "no such record"},
		{"undeliverable", fmt.Errorf("publish: %s: %w", secret, actuation.ErrUndeliverable), 503, domain.ActuationRejected, actuation.ErrUndeliverable.Error()},
		{"dynamodb down", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "Query", Err: errors.New(secret)}, 503, "error", "a dependency is unavailable, retry later"},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), 503, "error", "a dependency is unavailable, retry later"},
		{"anything else", errors.New(secret), 500, "error", "internal error"},
		{"handler's own", badRequest("from must be before to"), 400, "error", "from must be before to"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := classify(c.err)
			if f.status != c.status || f.class != c.class || f.message != c.message {
				t.Errorf("classify = %d %q %q, want %d %q %q", f.status, f.class, f.message, c.status, c.class, c.message)
			}
			if strings.Contains(f.message, "plainview-prod") {
				t.Errorf("the client would read %q", f.message)
			}
			// The cause of a failure that is ours or a dependency's goes to
			// the request's log line; an undeliverable command is the
			// device's, and its reason is already the answer.
			if want := f.status == http.StatusInternalServerError || f.class == "error" && f.status == http.StatusServiceUnavailable; f.cause != want {
				t.Errorf("cause logged = %v, want %v for a %d", f.cause, want, f.status)
			}
		})
	}
}
