package rie_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/plainview/serverless/infra/spec"
)

// localOnly are the packages that stand in for AWS on this machine, or
// drive and measure it: none of them belongs in a Lambda binary.
var localOnly = []string{
	"shared/local/stack", "shared/local/apigateway", "shared/local/dynamolocal", "shared/testkit/dynamotest",
	"shared/local/mqttbroker", "shared/local/simulator", "shared/testkit/motoserver", "shared/testkit/rie",
	"shared/testkit/cpuclock", "scripts/import/legacy", "shared/testkit/functiontest",
}

// No function binary links the local stand-ins: what is deployed is the
// functions' own code and AWS's SDK.
func TestNoFunctionLinksTheLocalStandIns(t *testing.T) {
	const module = "github.com/plainview/serverless/"
	for _, fn := range spec.Functions() {
		cmd := exec.Command("go", "list", "-deps", "./functions/"+fn.Name)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps ./functions/%s: %v", fn.Name, err)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, "github.com/aws/aws-lambda-go/lambda") || !slices.Contains(deps, module+"functions/"+fn.Name) {
			t.Fatalf("%s: go list -deps gave %d packages without the function and aws-lambda-go: not a function's dependencies", fn.Name, len(deps))
		}
		for _, p := range localOnly {
			if slices.Contains(deps, module+p) {
				t.Errorf("the %s function links %s, which stands in for AWS locally", fn.Name, p)
			}
		}
	}
}
