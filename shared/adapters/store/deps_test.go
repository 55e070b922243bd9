package store_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The DynamoDB client is pinned to v1.68.0, the last before schema-based
// serialization: from v1.69.0 the client links a generated schema registry
// whose package init costs every function that uses the table about
// 0.7 ms of cold start, which put them over the goal of 1.5x the
// floor (docs/PERFORMANCE.md, "The DynamoDB client's version"). An
// upgrade that brings the registry back fails here, not silently in the
// next cold-start run.
func TestStoreDoesNotLinkTheSchemaRegistry(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !slices.Contains(deps, "github.com/aws/aws-sdk-go-v2/service/dynamodb") {
		t.Fatalf("go list -deps gave %d packages without the DynamoDB client: not the store's dependencies", len(deps))
	}
	for _, p := range deps {
		if strings.HasSuffix(p, "/schemas") && strings.HasPrefix(p, "github.com/aws/aws-sdk-go-v2/") {
			t.Errorf("the store links %s: the DynamoDB client was upgraded past v1.68.0; see docs/PERFORMANCE.md before keeping it", p)
		}
	}
}
