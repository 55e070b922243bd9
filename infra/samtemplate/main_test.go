package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/contract/routes"
)

// The committed template.yaml is what the generator writes from today's
// route table and functions: a route, a function or a variable added in
// Go and not in the template fails here.
func TestTemplateIsUpToDate(t *testing.T) {
	var b strings.Builder
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatalf("%v: run `make generate`", err)
	}
	if string(committed) != b.String() {
		t.Errorf("template.yaml is out of date with shared/contract/routes and infra/spec: run `make generate`")
	}
}

// lookup walks the template's keys.
func lookup(t *testing.T, m mapping, keys ...string) any {
	t.Helper()
	var v any = m
	for _, k := range keys {
		mm, ok := v.(mapping)
		if !ok {
			t.Fatalf("%v: not a mapping at %s", keys, k)
		}
		i := slices.IndexFunc(mm, func(e kv) bool { return e.k == k })
		if i < 0 {
			t.Fatalf("no %s in %v", k, keys)
		}
		v = mm[i].v
	}
	return v
}

// The template agrees with the CDK stack: the same functions, handler,
// runtime and architecture, the same environment names (plus the local
// DynamoDB endpoint), and every route of the table on its function.
func TestTemplateAgreesWithTheStack(t *testing.T) {
	tpl, err := build()
	if err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, tpl, "Globals", "Function", "Handler"); got != spec.Handler {
		t.Errorf("handler %v, want %s", got, spec.Handler)
	}
	if got := lookup(t, tpl, "Globals", "Function", "Runtime"); got != spec.Runtime {
		t.Errorf("runtime %v, want %s", got, spec.Runtime)
	}
	if got := lookup(t, tpl, "Globals", "Function", "Architectures"); !slices.Equal(got.(sequence), sequence{spec.Architecture}) {
		t.Errorf("architectures %v, want %s", got, spec.Architecture)
	}

	resources := lookup(t, tpl, "Resources").(mapping)
	var functions []string
	for _, r := range resources {
		if lookup(t, r.v.(mapping), "Type") == "AWS::Serverless::Function" {
			functions = append(functions, r.k)
		}
	}
	var want []string
	for _, f := range spec.Functions() {
		want = append(want, spec.LogicalID(f.Name))
	}
	if !slices.Equal(functions, want) {
		t.Fatalf("functions %v, want %v", functions, want)
	}

	seen := map[string]bool{}
	for _, f := range spec.Functions() {
		props := lookup(t, resources, spec.LogicalID(f.Name), "Properties").(mapping)
		if got := lookup(t, props, "CodeUri"); got != "." {
			t.Errorf("%s: code %v, want the repository (the Makefile's folder)", f.Name, got)
		}
		if got := lookup(t, resources, spec.LogicalID(f.Name), "Metadata", "BuildMethod"); got != "makefile" {
			t.Errorf("%s: build method %v, want makefile", f.Name, got)
		}
		var env []string
		for _, e := range lookup(t, props, "Environment", "Variables").(mapping) {
			env = append(env, e.k)
		}
		wantEnv := slices.Clone(f.Env)
		if slices.Contains(f.Env, spec.EnvTableName) {
			wantEnv = append(wantEnv, spec.EnvDynamoDBEndpoint)
		}
		if !slices.Equal(env, wantEnv) {
			t.Errorf("%s: environment %v, want %v", f.Name, env, wantEnv)
		}
		i := slices.IndexFunc(props, func(e kv) bool { return e.k == "Events" })
		if i < 0 {
			continue
		}
		for _, ev := range props[i].v.(mapping) {
			p := lookup(t, ev.v.(mapping), "Properties").(mapping)
			key := lookup(t, p, "Method").(string) + " " + lookup(t, p, "Path").(string)
			r, _, ok := routes.Match(routes.Table(), lookup(t, p, "Method").(string), lookup(t, p, "Path").(string))
			if !ok || r.Path != lookup(t, p, "Path") || r.Function != f.Name {
				t.Errorf("%s serves %s, which the route table gives to %q", f.Name, key, r.Function)
			}
			var auth any
			if slices.ContainsFunc(p, func(e kv) bool { return e.k == "Auth" }) {
				auth = lookup(t, p, "Auth", "Authorizer")
			}
			if needs := spec.NeedsAuthorizer(r, false); (auth == authorizerName) != needs || (!needs && auth != nil) {
				t.Errorf("%s: authorizer %v, want one: %v", key, auth, needs)
			}
			seen[key] = true
		}
	}
	for _, r := range routes.Table() {
		if !seen[r.Method+" "+r.Path] {
			t.Errorf("route %s %s is not in the template", r.Method, r.Path)
		}
	}
}

func TestEveryVariableHasALocalDefault(t *testing.T) {
	for _, f := range spec.Functions() {
		for _, e := range localEnv(f) {
			if _, ok := parameters()[e]; !ok {
				t.Errorf("%s reads %s, which has no parameter default", f.Name, e)
			}
		}
	}
}

func TestYAMLScalars(t *testing.T) {
	for in, want := range map[any]string{
		"plainview":                  "plainview",
		"AWS::Serverless-2016-10-31": "AWS::Serverless-2016-10-31",
		"2010-09-09":                 `"2010-09-09"`,
		"false":                      `"false"`,
		"yes":                        `"yes"`,
		"":                           `""`,
		"*":                          `"*"`,
		"60s":                        `"60s"`,
		"/valves/{id}":               `"/valves/{id}"`,
		`{"error":"x"}`:              `"{\"error\":\"x\"}"`,
		"a: b":                       `"a: b"`,
		"key:":                       `"key:"`,
		"<b>":                        `"<b>"`,
		60:                           "60",
		0.5:                          "0.5",
		tag("!Ref", "Api"):           "!Ref Api",
	} {
		if got := scalar(in); got != want {
			t.Errorf("scalar(%#v) = %s, want %s", in, got, want)
		}
	}
}

func TestYAMLBlocks(t *testing.T) {
	var b strings.Builder
	emit(&b, mapping{
		{"A", mapping{{"B", 1}}},
		{"L", sequence{"x", mapping{{"K", "v"}, {"J", sequence{}}}}},
		{"E", mapping{}},
	}, 0)
	want := "A:\n  B: 1\nL:\n  - x\n  - K: v\n    J: []\nE: {}\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// samconfig.toml parses, leaves the local commands on the template that
// sam build writes (.aws-sam/build/template.yaml, SAM's default once it
// exists: template.yaml itself has the repository as code), and overrides
// only parameters the template has.
func TestSAMConfig(t *testing.T) {
	var cfg map[string]map[string]map[string]map[string]any
	if _, err := toml.DecodeFile("../../samconfig.toml", &cfg); err != nil {
		t.Fatalf("samconfig.toml: %v", err)
	}
	tpl, err := build()
	if err != nil {
		t.Fatal(err)
	}
	params := lookup(t, tpl, "Parameters").(mapping)
	for _, cmd := range []string{"local_invoke", "local_start_api"} {
		p := cfg["default"][cmd]["parameters"]
		if tf, set := p["template_file"]; set {
			t.Errorf("%s: template_file %v, want SAM's default, the built template", cmd, tf)
		}
		overrides, _ := p["parameter_overrides"].(string)
		for _, o := range strings.Fields(overrides) {
			name, _, _ := strings.Cut(o, "=")
			if !slices.ContainsFunc(params, func(e kv) bool { return e.k == name }) {
				t.Errorf("%s overrides %s, which template.yaml does not have", cmd, name)
			}
		}
	}
}
