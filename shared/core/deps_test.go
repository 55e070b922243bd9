package core_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The core (domain, the business rules and their ports) depends on
// nothing that talks to AWS, serves HTTP or stands in for AWS locally:
// docs/ARCHITECTURE.md. Adapters import the core, never the reverse.
var forbidden = []string{
	"github.com/aws/aws-sdk-go-v2",
	"github.com/aws/smithy-go",
	"github.com/awslabs/aws-lambda-go-api-proxy",
	"github.com/eclipse/paho.mqtt.golang",
	"github.com/mochi-mqtt/server",
	"net/http",
	"github.com/plainview/serverless/shared/adapters/",
	"github.com/plainview/serverless/shared/api/",
	"github.com/plainview/serverless/shared/lambda/",
	"github.com/plainview/serverless/shared/local/",
	"github.com/plainview/serverless/shared/testkit/",
	"github.com/plainview/serverless/functions/",
}

func TestTheCoreLinksNoAdapter(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 6 {
		t.Fatalf("go list ./... gave %d core packages, want the six or more of shared/core", len(lines))
	}
	for _, line := range lines {
		deps := strings.Fields(line)
		pkg := deps[0]
		for _, d := range deps[1:] {
			if slices.ContainsFunc(forbidden, func(f string) bool { return d == f || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") }) {
				t.Errorf("%s links %s; the core may link only the standard library, shared/core and shared/contract", pkg, d)
			}
		}
	}
}
