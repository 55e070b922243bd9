package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/plainview/serverless/infra/cfnlint"
)

// lintIgnores are the cfn-lint rules that do not apply to the synthesized
// templates, each with its reason.
var lintIgnores = cfnlint.Ignore{
	// aws-cdk-lib's Function lists its role in DependsOn beside the
	// role's default policy, which the Role property's GetAtt already
	// orders: redundant, harmless, and written by the CDK, not by us (the
	// policy entry is the one that matters: the function must not start
	// before its permissions exist).
	"W3005": "aws-cdk-lib's Function repeats its role in DependsOn",
}

// checkLint runs cfn-lint, AWS's CloudFormation linter, over the template
// as synthesized.
func checkLint(t *testing.T, tpl template) {
	path := filepath.Join(t.TempDir(), "stack.template.json")
	if err := os.WriteFile(path, tpl.raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cfnlint.Check(t, path, lintIgnores)
}
