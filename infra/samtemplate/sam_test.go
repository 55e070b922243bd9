package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/plainview/serverless/infra/cfnlint"
	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/contract/routes"
)

// templatePath is the committed template, seen from infra/samtemplate.
const templatePath = "../../template.yaml"

// cfn-lint, AWS's CloudFormation linter, reads the SAM template (it
// applies the SAM transform itself): no error, no warning.
func TestTemplatePassesCFNLint(t *testing.T) {
	cfnlint.Check(t, templatePath, nil)
}

// AWS's SAM translator, the transform `sam` and CloudFormation apply,
// turns the template into CloudFormation: every function, and every route
// of the table on its function.
func TestSAMTranslatorTransformsTheTemplate(t *testing.T) {
	if err := exec.Command("python3", "-c", "import samtranslator").Run(); err != nil {
		t.Fatalf("python3 cannot import samtranslator: install it (pip install aws-sam-translator; .ci/run does): %v", err)
	}
	cmd := exec.Command("python3", "testdata/transform.py", templatePath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the SAM translator refused template.yaml: %v\n%s", err, stderr.String())
	}
	var cfn struct {
		Resources map[string]struct {
			Type       string         `json:"Type"`
			Properties map[string]any `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(out, &cfn); err != nil {
		t.Fatalf("the translator's output is no template: %v", err)
	}
	for _, fn := range spec.Functions() {
		r, ok := cfn.Resources[spec.LogicalID(fn.Name)]
		if !ok || r.Type != "AWS::Lambda::Function" {
			t.Errorf("%s: no AWS::Lambda::Function %s in the transformed template", fn.Name, spec.LogicalID(fn.Name))
			continue
		}
		if r.Properties["Runtime"] != spec.Runtime || r.Properties["Handler"] != spec.Handler {
			t.Errorf("%s: runtime %v, handler %v", fn.Name, r.Properties["Runtime"], r.Properties["Handler"])
		}
	}
	var api map[string]any
	for _, r := range cfn.Resources {
		if r.Type == "AWS::ApiGateway::RestApi" {
			if api != nil {
				t.Fatal("two REST APIs")
			}
			api, _ = r.Properties["Body"].(map[string]any)
		}
	}
	paths, _ := api["paths"].(map[string]any)
	for _, r := range routes.Table() {
		ops, _ := paths[r.Path].(map[string]any)
		op, _ := ops[strings.ToLower(r.Method)].(map[string]any)
		integration, _ := op["x-amazon-apigateway-integration"].(map[string]any)
		uri, _ := json.Marshal(integration["uri"])
		if !strings.Contains(string(uri), spec.LogicalID(r.Function)+".Arn") {
			t.Errorf("%s: integration %s, want function %s", r.Pattern(), uri, spec.LogicalID(r.Function))
		}
	}
}

// sam build runs the Makefile's build-<LogicalId> for each function
// (BuildMethod makefile): a rule that builds that function, for Lambda,
// with make build's flags, into SAM's ARTIFACTS_DIR.
func TestSAMBuildsEachFunctionWithTheMakefile(t *testing.T) {
	artifacts := t.TempDir()
	for _, fn := range spec.Functions() {
		out, err := exec.Command("make", "-s", "-n", "-C", "../..", "build-"+spec.LogicalID(fn.Name), "ARTIFACTS_DIR="+artifacts).CombinedOutput()
		if err != nil {
			t.Fatalf("make build-%s: %v\n%s", spec.LogicalID(fn.Name), err, out)
		}
		cmd := strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\\\n", " ")), " ")
		want := "GOOS=linux GOARCH=" + spec.Architecture + " CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o " +
			artifacts + "/bootstrap ./functions/" + fn.Name
		if !strings.Contains(cmd, want) {
			t.Errorf("make build-%s runs\n%s\nwant\n%s", spec.LogicalID(fn.Name), cmd, want)
		}
	}
}
