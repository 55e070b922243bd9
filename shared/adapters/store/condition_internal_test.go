package store

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestIsOneOf(t *testing.T) {
	values := map[string]types.AttributeValue{":to": str("failed")}
	got := isOneOf("#state", "from", []string{"queued", "sent"}, values)
	if want := "#state IN (:from0, :from1)"; got != want {
		t.Errorf("condition %q, want %q", got, want)
	}
	want := map[string]string{":to": "failed", ":from0": "queued", ":from1": "sent"}
	if len(values) != len(want) {
		t.Errorf("values %v, want %v", values, want)
	}
	for k, v := range want {
		if s, ok := values[k].(*types.AttributeValueMemberS); !ok || s.Value != v {
			t.Errorf("values[%s] = %v, want %q", k, values[k], v)
		}
	}
}
