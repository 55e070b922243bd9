package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/contract/topics"
)

// Each synthesis runs in the jsii Node process this binary starts once;
// jsii.Close ends it.
//
// Under the race detector (make test) Close is skipped: jsii-runtime-go
// v1.119.0 calls exec.Cmd.Wait from Close while its own goroutine already
// waits on the same process, a data race the detector reports after the
// tests have passed, failing the run. Without Close the Node process ends
// by itself when this process exits and its stdin closes.
func TestMain(m *testing.M) {
	code := m.Run()
	if !raceDetector {
		jsii.Close()
	}
	os.Exit(code)
}

// The contexts the tests deploy: development with the defaults, and
// production with everything production asks for and every option on.
func developmentContext() map[string]any {
	return map[string]any{"environment": "development"}
}

func productionContext() map[string]any {
	return map[string]any{
		"environment":           "production",
		"cors_origins":          "https://ops.example.com, https://status.example.com",
		"alarm_email":           "oncall@example.com",
		"iot_endpoint":          "abc123-ats.iot.eu-west-1.amazonaws.com",
		"require_key_for_reads": "true",
		"domain_name":           "api.example.com",
		"certificate_arn":       "arn:aws:acm:eu-west-1:000000000000:certificate/00000000-0000-0000-0000-000000000000",
		"authorizer_cache_ttl":  "30s",
		"version":               "1.2.3",
		"telemetry_shards":      "4",
	}
}

// TestStack synthesizes each environment once and checks it part by part.
func TestStack(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  map[string]any
	}{
		{"development", developmentContext()},
		{"production", productionContext()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stack, tpl := synth(t, tc.ctx)
			production := tc.name == "production"
			t.Run("table", func(t *testing.T) { checkTable(t, tpl, production) })
			t.Run("functions", func(t *testing.T) { checkFunctions(t, tpl, tc.ctx) })
			t.Run("permissions", func(t *testing.T) { checkPermissions(t, tpl) })
			t.Run("secret", func(t *testing.T) { checkSecret(t, tpl, production) })
			t.Run("topic", func(t *testing.T) { checkTopic(t, tpl, tc.ctx) })
			t.Run("routes", func(t *testing.T) { checkRoutes(t, tpl, production) })
			t.Run("throttles", func(t *testing.T) { checkThrottles(t, tpl) })
			t.Run("authorizer", func(t *testing.T) { checkAuthorizer(t, tpl, tc.ctx) })
			t.Run("cors", func(t *testing.T) { checkCORS(t, tpl, tc.ctx) })
			t.Run("gateway responses", func(t *testing.T) { checkGatewayResponses(t, tpl) })
			t.Run("stage", func(t *testing.T) { checkStage(t, tpl) })
			t.Run("custom domain", func(t *testing.T) { checkDomain(t, tpl, tc.ctx) })
			t.Run("alarms", func(t *testing.T) { checkAlarms(t, tpl) })
			t.Run("stream alarm", func(t *testing.T) { checkStreamAlarm(t, tpl) })
			t.Run("dashboard", func(t *testing.T) { checkDashboard(t, tpl, tc.name) })
			t.Run("outputs", func(t *testing.T) { checkOutputs(t, tpl, tc.ctx) })
			t.Run("dead letters", func(t *testing.T) { checkDeadLetters(t, tpl, production) })
			t.Run("stream", func(t *testing.T) { checkStream(t, tpl, tc.ctx, production) })
			t.Run("ingest sources", func(t *testing.T) { checkIngestSources(t, tpl) })
			t.Run("topic rules", func(t *testing.T) { checkTopicRules(t, tpl, tc.ctx) })
			t.Run("device policy", func(t *testing.T) { checkDevicePolicy(t, tpl, tc.name) })
			t.Run("thing type", func(t *testing.T) { checkThingType(t, tpl, tc.name, production) })
			t.Run("timeouts schedule", func(t *testing.T) { checkTimeoutsSchedule(t, tpl) })
			t.Run("cdk-nag", func(t *testing.T) { checkNag(t, stack) })
			t.Run("cfn-lint", func(t *testing.T) { checkLint(t, tpl) })
			t.Run("iot endpoint", func(t *testing.T) { checkIoTEndpoint(t, tpl, tc.ctx) })
			t.Run("metrics are emitted", func(t *testing.T) { checkMetricsAreEmitted(t, tpl) })
		})
	}
}

func TestProductionRefusesWithoutItsSettings(t *testing.T) {
	for _, key := range []string{"cors_origins", "alarm_email"} {
		t.Run(key, func(t *testing.T) {
			ctx := productionContext()
			delete(ctx, key)
			app := newApp(t, ctx)
			stack, err := buildRecovered(app)
			if err == nil {
				t.Fatalf("production without %s synthesized stack %v", key, *stack.StackName())
			}
			if !strings.Contains(err.Error(), key) {
				t.Errorf("the error does not name %s: %v", key, err)
			}
			if n := len(*app.Node().Children()); n != 0 {
				t.Errorf("the refused app holds %d constructs, want none", n)
			}
		})
	}
}

func TestSettingsRefuseBadValues(t *testing.T) {
	for name, ctx := range map[string]map[string]any{
		"unknown environment":        {"environment": "staging"},
		"require key not a bool":     {"require_key_for_reads": "yes"},
		"origin with a path":         {"cors_origins": "https://ops.example.com/"},
		"origin on any port":         {"cors_origins": "http://localhost:*"},
		"not an e-mail":              {"alarm_email": "oncall"},
		"domain without certificate": {"domain_name": "api.example.com"},
		"certificate without domain": {"certificate_arn": "arn:aws:acm:eu-west-1:0:certificate/x"},
		"endpoint with a scheme":     {"iot_endpoint": "https://abc-ats.iot.eu-west-1.amazonaws.com"},
		"cache over an hour":         {"authorizer_cache_ttl": "2h"},
		"cache not whole seconds":    {"authorizer_cache_ttl": "1.5s"},
		"key cache not a duration":   {"key_cache_ttl": "60"},
		"bad log level":              {"log_level": "loud"},
		"rate zero":                  {"throttle_rate": "0"},
		"burst not a number":         {"throttle_burst": "many"},
		"no shards":                  {"telemetry_shards": "0"},
		"negative shards":            {"telemetry_shards": "-1"},
		"shards over the quota":      {"telemetry_shards": "501"},
		"part of a shard":            {"telemetry_shards": "1.5"},
		"shards not a number":        {"telemetry_shards": "two"},
		"shards from cdk.json, part": {"telemetry_shards": 2.5},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := readSettings(func(k string) any { return ctx[k] }); err == nil {
				t.Errorf("settings %v accepted", ctx)
			}
		})
	}
}

func TestSettingsDefaults(t *testing.T) {
	s, err := readSettings(func(string) any { return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := settings{
		environment: "development", corsOrigins: "*", assetsDir: "../bin", version: "dev", logLevel: "info",
		authorizerCacheTTL: defaultCacheTTL, keyCacheTTL: defaultCacheTTL, stageRate: 10000, stageBurst: 5000,
		telemetryShards: 1,
	}
	if s != want {
		t.Errorf("defaults\n got %+v\nwant %+v", s, want)
	}
	// cdk.json holds JSON values, not only strings.
	s, err = readSettings(func(k string) any {
		return map[string]any{"require_key_for_reads": true, "throttle_rate": 50.0, "throttle_burst": 100.0, "telemetry_shards": 500.0}[k]
	})
	if err != nil || !s.requireKeyForReads || s.stageRate != 50 || s.stageBurst != 100 || s.telemetryShards != 500 {
		t.Errorf("JSON context values: %+v, %v", s, err)
	}
}

func TestGatewayResponseOriginHeader(t *testing.T) {
	for origins, want := range map[string]string{
		"*":                                    "'*'",
		"https://ops.example.com":              "'https://ops.example.com'",
		"https://a.example, https://b.example": "method.request.header.Origin",
	} {
		h, err := gatewayResponseHeaders(origins)
		if err != nil {
			t.Fatal(err)
		}
		if got := *h["Access-Control-Allow-Origin"]; got != want {
			t.Errorf("origins %q: Access-Control-Allow-Origin %s, want %s", origins, got, want)
		}
	}
}

// --- synthesis ---------------------------------------------------------

// newApp is an app as the CDK CLI would run it: cdk.json's context, the
// context the CLI injects, the test's context, function binaries in a
// temporary folder, and the cloud assembly in another.
func newApp(t *testing.T, ctx map[string]any) awscdk.App {
	t.Helper()
	var cdkJSON struct {
		Context map[string]any `json:"context"`
	}
	b, err := os.ReadFile("cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cdkJSON); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	assets := t.TempDir()
	for _, f := range spec.Functions() {
		dir := filepath.Join(assets, f.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Distinct contents, so each function's asset differs and a
		// function pointed at another's binary would show.
		if err := os.WriteFile(filepath.Join(dir, spec.Handler), []byte(f.Name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	all := map[string]any{
		"aws:cdk:enable-asset-metadata": true,
		"aws:cdk:enable-path-metadata":  true,
	}
	maps.Copy(all, cdkJSON.Context)
	all["assets_dir"] = assets
	maps.Copy(all, ctx)
	return awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir()), Context: &all})
}

// buildRecovered builds the stack, turning a panic of the CDK (a jsii
// error) into an error.
func buildRecovered(app awscdk.App) (stack awscdk.Stack, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return build(app)
}

// synth builds the stack with the cdk-nag AwsSolutions checks and returns
// it and its template.
func synth(t *testing.T, ctx map[string]any) (awscdk.Stack, template) {
	t.Helper()
	app := newApp(t, ctx)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	stack, err := buildRecovered(app)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("synthesis: %v", r)
			}
		}()
		raw, err = json.Marshal(assertions.Template_FromStack(stack, nil).ToJSON())
	}()
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	tpl.stack = *stack.StackName() + "/"
	tpl.raw = raw
	return stack, tpl
}

// --- the template, in plain Go -------------------------------------------

type template struct {
	Resources map[string]resource `json:"Resources"`
	Outputs   map[string]struct {
		Value any `json:"Value"`
	} `json:"Outputs"`
	stack string // the prefix of every construct path
	raw   []byte // the whole template, as synthesized
}

type resource struct {
	Type           string         `json:"Type"`
	Properties     map[string]any `json:"Properties"`
	Metadata       map[string]any `json:"Metadata"`
	DeletionPolicy string         `json:"DeletionPolicy"`
	UpdateReplace  string         `json:"UpdateReplacePolicy"`
}

// ofType returns the logical ids of the resources of a type, sorted.
func (tpl template) ofType(typ string) []string {
	var ids []string
	for id, r := range tpl.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// at returns the logical id of the resource a construct path names
// ("Table" for Plainview-development/Table/Resource).
func (tpl template) at(t *testing.T, path string) string {
	t.Helper()
	for id, r := range tpl.Resources {
		if p, _ := r.Metadata["aws:cdk:path"].(string); p == tpl.stack+path+"/Resource" || p == tpl.stack+path {
			return id
		}
	}
	t.Fatalf("no resource at %s", path)
	return ""
}

// render writes CloudFormation's intrinsic functions as text: Ref as
// ${Id}, Fn::GetAtt as ${Id.Attr}, Fn::Join joined, so an expected value
// reads like the ARN it becomes.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"].(string); ok {
			return "${" + r + "}"
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return fmt.Sprintf("${%v.%v}", g[0], g[1])
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			parts, _ := j[1].([]any)
			var s []string
			for _, p := range parts {
				s = append(s, render(p))
			}
			return strings.Join(s, fmt.Sprint(j[0]))
		}
	case []any:
		var s []string
		for _, e := range x {
			s = append(s, render(e))
		}
		return strings.Join(s, ",")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// optional renders v, or "" when the template leaves it out.
func optional(v any) string {
	if v == nil {
		return ""
	}
	return render(v)
}

// ctxString is a context value as the stack reads it, or fallback.
func ctxString(ctx map[string]any, key, fallback string) string {
	if v, ok := ctx[key]; ok {
		return fmt.Sprint(v)
	}
	return fallback
}

// get walks a path of map keys in a decoded JSON value.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, render(e))
		}
		return out
	case nil:
		return nil
	}
	return []string{render(v)}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// --- the checks ------------------------------------------------------------

func checkTable(t *testing.T, tpl template, production bool) {
	ids := tpl.ofType("AWS::DynamoDB::Table")
	if len(ids) != 1 {
		t.Fatalf("%d tables, want the one of docs/data-model.md", len(ids))
	}
	table := tpl.Resources[ids[0]]
	p := table.Properties
	def := store.TableDefinition("plainview")

	keySchema := func(v any) string {
		var out []string
		for _, k := range v.([]any) {
			out = append(out, render(get(k, "AttributeName"))+" "+render(get(k, "KeyType")))
		}
		return strings.Join(out, ", ")
	}
	var wantKeys []string
	for _, k := range def.KeySchema {
		wantKeys = append(wantKeys, *k.AttributeName+" "+string(k.KeyType))
	}
	if got, want := keySchema(p["KeySchema"]), strings.Join(wantKeys, ", "); got != want {
		t.Errorf("key schema %q, want %q", got, want)
	}

	var gotAttrs, wantAttrs []string
	for _, a := range p["AttributeDefinitions"].([]any) {
		gotAttrs = append(gotAttrs, render(get(a, "AttributeName"))+":"+render(get(a, "AttributeType")))
	}
	for _, a := range def.AttributeDefinitions {
		wantAttrs = append(wantAttrs, *a.AttributeName+":"+string(a.AttributeType))
	}
	if !slices.Equal(sorted(gotAttrs), sorted(wantAttrs)) {
		t.Errorf("attributes %v, want %v", sorted(gotAttrs), sorted(wantAttrs))
	}

	gotGSI := map[string]string{}
	for _, g := range p["GlobalSecondaryIndexes"].([]any) {
		gotGSI[render(get(g, "IndexName"))] = keySchema(get(g, "KeySchema")) + " / " + render(get(g, "Projection", "ProjectionType"))
	}
	wantGSI := map[string]string{}
	for _, g := range def.GlobalSecondaryIndexes {
		var ks []string
		for _, k := range g.KeySchema {
			ks = append(ks, *k.AttributeName+" "+string(k.KeyType))
		}
		wantGSI[*g.IndexName] = strings.Join(ks, ", ") + " / " + string(g.Projection.ProjectionType)
	}
	if !maps.Equal(gotGSI, wantGSI) {
		t.Errorf("indexes %v, want %v", gotGSI, wantGSI)
	}

	retain := map[bool]string{true: "Retain", false: "Delete"}[production]
	for prop, c := range map[string]struct{ got, want string }{
		"BillingMode":         {optional(p["BillingMode"]), "PAY_PER_REQUEST"},
		"point-in-time":       {optional(get(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled")), "true"},
		"encryption":          {optional(get(p, "SSESpecification", "SSEEnabled")), "true"},
		"TTL attribute":       {optional(get(p, "TimeToLiveSpecification", "AttributeName")), "expires_at"},
		"TTL enabled":         {optional(get(p, "TimeToLiveSpecification", "Enabled")), "true"},
		"deletion protection": {optional(p["DeletionProtectionEnabled"]), fmt.Sprint(production)},
		"DeletionPolicy":      {table.DeletionPolicy, retain},
		"UpdateReplacePolicy": {table.UpdateReplace, retain},
	} {
		if c.got != c.want {
			t.Errorf("table %s = %q, want %q", prop, c.got, c.want)
		}
	}
}

func checkFunctions(t *testing.T, tpl template, ctx map[string]any) {
	fns := spec.Functions()
	want := len(fns)
	if _, named := ctx["iot_endpoint"]; !named {
		want++ // the provider of the IoT endpoint's discovery (checkIoTEndpoint)
	}
	if got := len(tpl.ofType("AWS::Lambda::Function")); got != want {
		t.Errorf("%d functions, want %d (infra/spec, and the discovery's provider without iot_endpoint)", got, want)
	}
	codes := map[string]string{}
	roles := map[string]string{}
	for _, f := range fns {
		id := spec.LogicalID(f.Name)
		fn := tpl.Resources[tpl.at(t, id)]
		p := fn.Properties
		for prop, want := range map[string]string{
			"Runtime":           spec.Runtime,
			"Architectures":     spec.Architecture,
			"Handler":           spec.Handler,
			"MemorySize":        fmt.Sprint(f.MemoryMB),
			"Timeout":           fmt.Sprint(f.Timeout.Seconds()),
			"TracingConfig":     `{"Mode":"Active"}`,
			"LoggingFormat":     "JSON",
			"LogGroup":          "${" + tpl.at(t, id+"Logs") + "}",
			"Role":              "${" + tpl.at(t, id+"Role") + ".Arn}",
			"ReservedConcurren": "null",
		} {
			var got string
			switch prop {
			case "LoggingFormat":
				got = render(get(p, "LoggingConfig", "LogFormat"))
			case "LogGroup":
				got = render(get(p, "LoggingConfig", "LogGroup"))
			case "ReservedConcurren":
				got = render(p["ReservedConcurrentExecutions"])
			default:
				got = render(p[prop])
			}
			if got != want {
				t.Errorf("%s: %s = %s, want %s", f.Name, prop, got, want)
			}
		}
		codes[render(get(p, "Code", "S3Key"))] = f.Name
		roles[render(p["Role"])] = f.Name

		logs := tpl.Resources[tpl.at(t, id+"Logs")]
		if got := render(logs.Properties["RetentionInDays"]); got != "30" {
			t.Errorf("%s: log retention %s days, want 30", f.Name, got)
		}

		vars, _ := get(p, "Environment", "Variables").(map[string]any)
		if got, want := sorted(slices.Collect(maps.Keys(vars))), sorted(f.Env); !slices.Equal(got, want) {
			t.Errorf("%s: environment %v, want exactly %v", f.Name, got, want)
		}
		want := map[string]string{
			spec.EnvTableName:          "${" + tpl.at(t, "Table") + "}",
			spec.EnvEnvironment:        ctxString(ctx, "environment", ""),
			spec.EnvVersion:            ctxString(ctx, "version", "dev"),
			spec.EnvLogLevel:           "info",
			spec.EnvRequireKeyForReads: ctxString(ctx, "require_key_for_reads", "false"),
			spec.EnvCORSOrigins:        ctxString(ctx, "cors_origins", "*"),
			spec.EnvIoTEndpoint:        ctxString(ctx, "iot_endpoint", ""),
			spec.EnvNotifyTopicARN:     "${" + tpl.at(t, "Operators") + "}",
			spec.EnvKeysSecretID:       "${" + tpl.at(t, "ApiKeys") + "}",
			spec.EnvKeyCacheTTL:        "1m0s",
		}
		if _, named := ctx["iot_endpoint"]; !named {
			// Found at deploy time (checkIoTEndpoint).
			want[spec.EnvIoTEndpoint] = "${" + tpl.at(t, "IoTEndpoint/Resource/Default") + ".endpointAddress}"
		}
		for name, v := range vars {
			if got := render(v); got != want[name] {
				t.Errorf("%s: %s = %q, want %q", f.Name, name, got, want[name])
			}
		}
	}
	if len(codes) != len(fns) {
		t.Errorf("functions share code assets: %v", codes)
	}
	if len(roles) != len(fns) {
		t.Errorf("functions share roles: %v", roles)
	}
}

// checkPermissions holds each role to exactly the actions and resources
// its function's code calls.
func checkPermissions(t *testing.T, tpl template) {
	table := "${" + tpl.at(t, "Table") + ".Arn}"
	tableAndIndexes := []string{table, table + "/index/*"}
	xray := map[string][]string{"xray:PutTraceSegments": {"*"}, "xray:PutTelemetryRecords": {"*"}}
	read := []string{"dynamodb:GetItem", "dynamodb:Query"}
	write := []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
	want := map[string]map[string][]string{}
	for _, f := range spec.Functions() {
		w := map[string][]string{
			"logs:CreateLogStream": {"${" + tpl.at(t, spec.LogicalID(f.Name)+"Logs") + ".Arn}"},
			"logs:PutLogEvents":    {"${" + tpl.at(t, spec.LogicalID(f.Name)+"Logs") + ".Arn}"},
		}
		maps.Copy(w, xray)
		want[f.Name] = w
	}
	for _, a := range append(read, "dynamodb:DescribeTable") {
		want[routes.FuncReads][a] = tableAndIndexes
	}
	for _, a := range read {
		want[routes.FuncEvents][a] = tableAndIndexes
	}
	for _, fn := range []string{routes.FuncValves, routes.FuncIncidents} {
		for _, a := range read {
			want[fn][a] = tableAndIndexes
		}
		for _, a := range write {
			want[fn][a] = []string{table}
		}
	}
	want[routes.FuncValves]["iot:Publish"] = []string{"arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/valves/*/command"}
	want[routes.FuncIncidents]["sns:Publish"] = []string{"${" + tpl.at(t, "Operators") + "}"}
	want[spec.FuncAuthorizer]["secretsmanager:GetSecretValue"] = []string{"${" + tpl.at(t, "ApiKeys") + "}"}
	for _, a := range read {
		want[spec.FuncIngest][a] = tableAndIndexes
	}
	for _, a := range []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"} {
		want[spec.FuncIngest][a] = []string{table}
	}
	want[spec.FuncIngest]["sns:Publish"] = []string{"${" + tpl.at(t, "Operators") + "}"}
	// The telemetry stream's event source reads (the CDK's grant of the
	// mapping: its ListStreams names the stream, which grants nothing, as
	// ListStreams takes no resource); its failed batches and the
	// asynchronous invokes' failures send dead letters.
	telemetry, deadLetters := "${"+tpl.at(t, "Telemetry")+".Arn}", "${"+tpl.at(t, "DeadLetters")+".Arn}"
	for _, a := range []string{"kinesis:DescribeStream", "kinesis:DescribeStreamConsumer", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
		"kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:ListStreams", "kinesis:SubscribeToShard"} {
		want[spec.FuncIngest][a] = []string{telemetry}
	}
	for _, a := range []string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"} {
		want[spec.FuncIngest][a] = []string{deadLetters}
	}
	want[spec.FuncTimeouts]["dynamodb:Query"] = []string{table + "/index/gsi2"}
	for _, a := range []string{"dynamodb:PutItem", "dynamodb:UpdateItem"} {
		want[spec.FuncTimeouts][a] = []string{table}
	}
	want[spec.FuncTimeouts]["sns:Publish"] = []string{"${" + tpl.at(t, "Operators") + "}"}

	got := map[string]map[string][]string{}
	for _, f := range spec.Functions() {
		roleID := tpl.at(t, spec.LogicalID(f.Name)+"Role")
		role := tpl.Resources[roleID]
		if role.Properties["ManagedPolicyArns"] != nil || role.Properties["Policies"] != nil {
			t.Errorf("%s: role has managed or inline policies besides its own: %v", f.Name, role.Properties)
		}
		if got := render(get(role.Properties, "AssumeRolePolicyDocument", "Statement")); !strings.Contains(got, `"Service":"lambda.amazonaws.com"`) {
			t.Errorf("%s: role trusts %s, want Lambda only", f.Name, got)
		}
		actions := map[string][]string{}
		for _, id := range tpl.ofType("AWS::IAM::Policy") {
			p := tpl.Resources[id].Properties
			if !slices.Contains(strs(p["Roles"]), "${"+roleID+"}") {
				continue
			}
			for _, st := range get(p, "PolicyDocument", "Statement").([]any) {
				if e := render(get(st, "Effect")); e != "Allow" || get(st, "Condition") != nil || get(st, "NotAction") != nil {
					t.Errorf("%s: statement %s is not a plain Allow", f.Name, render(st))
				}
				for _, a := range strs(get(st, "Action")) {
					actions[a] = sorted(append(actions[a], strs(get(st, "Resource"))...))
				}
			}
		}
		got[f.Name] = actions
	}
	for fn, w := range want {
		for a, res := range w {
			w[a] = sorted(res)
		}
		if !maps.EqualFunc(got[fn], w, slices.Equal) {
			t.Errorf("%s may\n%s\nwant exactly\n%s", fn, describe(got[fn]), describe(w))
		}
	}

	// The rules of docs/ARCHITECTURE.md, spelt out: they follow from the
	// exact check above, and say why it matters.
	for fn, actions := range got {
		for a := range actions {
			switch {
			case strings.HasPrefix(a, "iot:") && fn != routes.FuncValves:
				t.Errorf("%s may %s: only the valves function publishes to IoT", fn, a)
			case strings.HasPrefix(a, "secretsmanager:") && fn != spec.FuncAuthorizer:
				t.Errorf("%s may %s: only the authorizer reads the key secret", fn, a)
			case fn == routes.FuncReads && slices.Contains(write, a):
				t.Errorf("reads may %s: it only reads", a)
			case strings.Contains(a, "*"):
				t.Errorf("%s has the wildcard action %s", fn, a)
			}
		}
	}
}

func describe(actions map[string][]string) string {
	var lines []string
	for a, r := range actions {
		lines = append(lines, "  "+a+" on "+strings.Join(r, ", "))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func checkSecret(t *testing.T, tpl template, production bool) {
	ids := tpl.ofType("AWS::SecretsManager::Secret")
	if len(ids) != 1 {
		t.Fatalf("%d secrets, want the key secret only", len(ids))
	}
	s := tpl.Resources[ids[0]]
	value := render(s.Properties["SecretString"])
	if value != `{"keys":[]}` || s.Properties["GenerateSecretString"] != nil {
		t.Errorf("secret value %s, want the empty keyring {\"keys\":[]}", value)
	}
	// The authorizer refuses a secret that is not a keyring: the initial
	// value must be one it accepts.
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (auth.FileStore{Path: path}).Load(context.Background()); err != nil {
		t.Errorf("the initial secret is not a keyring the auth package loads: %v", err)
	}
	wantPolicy := map[bool]string{true: "Retain", false: "Delete"}[production]
	if s.DeletionPolicy != wantPolicy {
		t.Errorf("secret deletion policy %q, want %q", s.DeletionPolicy, wantPolicy)
	}
}

func checkTopic(t *testing.T, tpl template, ctx map[string]any) {
	if n := len(tpl.ofType("AWS::SNS::Topic")); n != 1 {
		t.Fatalf("%d topics, want the operators' one", n)
	}
	var subs []string
	for _, id := range tpl.ofType("AWS::SNS::Subscription") {
		p := tpl.Resources[id].Properties
		subs = append(subs, render(p["Protocol"])+":"+render(p["Endpoint"]))
	}
	var want []string
	if e, ok := ctx["alarm_email"]; ok {
		want = []string{"email:" + fmt.Sprint(e)}
	}
	if !slices.Equal(subs, want) {
		t.Errorf("subscriptions %v, want %v", subs, want)
	}
	var policy string
	for _, id := range tpl.ofType("AWS::SNS::TopicPolicy") {
		policy += render(tpl.Resources[id].Properties["PolicyDocument"])
	}
	for _, want := range []string{`"aws:SecureTransport":"false"`, `"Service":"cloudwatch.amazonaws.com"`} {
		if !strings.Contains(policy, want) {
			t.Errorf("topic policy lacks %s: %s", want, policy)
		}
	}
}

// apiMethod is one method of the synthesized API.
type apiMethod struct {
	path, method, function, authorization string
	authorizer                            bool
	integration                           string
	corsMethods                           string // OPTIONS only: Access-Control-Allow-Methods
	allow, status                         string // ANY only: the mock's Allow header and status
	// transferMode, uri and timeout are the integration's
	// responseTransferMode, Uri and TimeoutInMillis.
	transferMode, uri, timeout string
}

// apiMethods rebuilds the API's resource tree from the template and
// returns its methods, keyed "METHOD path".
func apiMethods(t *testing.T, tpl template) map[string]apiMethod {
	t.Helper()
	paths := map[string]string{}
	var resolve func(ref any) string
	resolve = func(ref any) string {
		s := render(ref)
		if strings.HasSuffix(s, ".RootResourceId}") {
			return "/"
		}
		id := strings.TrimSuffix(strings.TrimPrefix(s, "${"), "}")
		if p, ok := paths[id]; ok {
			return p
		}
		r, ok := tpl.Resources[id]
		if !ok || r.Type != "AWS::ApiGateway::Resource" {
			t.Fatalf("method or resource under %s, which is no resource", s)
		}
		parent := resolve(r.Properties["ParentId"])
		p := strings.TrimSuffix(parent, "/") + "/" + render(r.Properties["PathPart"])
		paths[id] = p
		return p
	}
	functionOf := map[string]string{}
	for _, f := range spec.Functions() {
		functionOf[tpl.at(t, spec.LogicalID(f.Name))] = f.Name
	}
	out := map[string]apiMethod{}
	for _, id := range tpl.ofType("AWS::ApiGateway::Method") {
		p := tpl.Resources[id].Properties
		m := apiMethod{
			path:          resolve(p["ResourceId"]),
			method:        render(p["HttpMethod"]),
			authorization: render(p["AuthorizationType"]),
			authorizer:    p["AuthorizerId"] != nil,
			integration:   render(get(p, "Integration", "Type")),
			transferMode:  render(get(p, "Integration", "ResponseTransferMode")),
			timeout:       render(get(p, "Integration", "TimeoutInMillis")),
		}
		uri := render(get(p, "Integration", "Uri"))
		m.uri = uri
		for fid, name := range functionOf {
			if strings.Contains(uri, "${"+fid+".Arn}") {
				m.function = name
			}
		}
		if m.method == http.MethodOptions {
			if rs, ok := get(p, "Integration", "IntegrationResponses").([]any); ok && len(rs) > 0 {
				m.corsMethods = strings.Trim(render(get(rs[0], "ResponseParameters", "method.response.header.Access-Control-Allow-Methods")), "'")
			}
		}
		if m.method == "ANY" {
			if rs, ok := get(p, "Integration", "IntegrationResponses").([]any); ok && len(rs) == 1 {
				m.allow = strings.Trim(render(get(rs[0], "ResponseParameters", "method.response.header.Allow")), "'")
				m.status = render(get(rs[0], "StatusCode"))
			}
		}
		key := m.method + " " + m.path
		if _, dup := out[key]; dup {
			t.Errorf("two methods %s", key)
		}
		out[key] = m
	}
	return out
}

// checkRoutes holds the API to the route table: every route has its
// method, function and authorization, and the API has nothing else. A route
// added to shared/contract/routes without a function here fails.
func checkRoutes(t *testing.T, tpl template, requireKeyForReads bool) {
	methods := apiMethods(t, tpl)
	seen := map[string]bool{}
	corsMethods := map[string][]string{}
	for _, r := range routes.Table() {
		key := r.Method + " " + r.Path
		seen[key] = true
		corsMethods[r.Path] = append(corsMethods[r.Path], r.Method)
		m, ok := methods[key]
		if !ok {
			t.Errorf("route %s has no method in the API", key)
			continue
		}
		if m.function != r.Function || m.integration != "AWS_PROXY" {
			t.Errorf("%s: integrated with %q (%s), want the %s function by Lambda proxy", key, m.function, m.integration, r.Function)
		}
		// A streamed route: responseTransferMode STREAM, invoked with
		// InvokeWithResponseStream, for as long as a stream may run;
		// every other route buffered, with the plain invocation URI.
		streamed := m.transferMode == "STREAM" && strings.Contains(m.uri, ":lambda:path/2021-11-15/functions/") &&
			strings.HasSuffix(m.uri, "/response-streaming-invocations") && m.timeout == fmt.Sprint(spec.StreamTimeout.Milliseconds())
		buffered := (m.transferMode == "null" || m.transferMode == "BUFFERED") && strings.HasSuffix(m.uri, "/invocations") &&
			!strings.HasSuffix(m.uri, "/response-streaming-invocations")
		if r.Stream && !streamed || !r.Stream && !buffered {
			t.Errorf("%s: transfer mode %q, uri %s, timeout %q; want streamed %v", key, m.transferMode, m.uri, m.timeout, r.Stream)
		}
		needs := spec.NeedsAuthorizer(r, requireKeyForReads)
		if m.authorizer != needs || (m.authorization == "CUSTOM") != needs {
			t.Errorf("%s (scope %q): authorizer %v (%s), want %v", key, r.Scope, m.authorizer, m.authorization, needs)
		}
	}
	// HEAD on every GET route, as the GET; ANY on every path, 405 with
	// the Allow header the local gateway sends.
	for _, r := range routes.Table() {
		if r.Method != http.MethodGet {
			continue
		}
		key := http.MethodHead + " " + r.Path
		seen[key] = true
		m, ok := methods[key]
		asGET := methods[r.Method+" "+r.Path]
		// A streamed GET's HEAD streams too: the function answers in the
		// streamed format whatever the method.
		if !ok || m.function != asGET.function || m.integration != "AWS_PROXY" || m.authorizer != asGET.authorizer || m.authorization != asGET.authorization ||
			m.transferMode != asGET.transferMode || m.timeout != asGET.timeout || strings.HasSuffix(m.uri, "/response-streaming-invocations") != r.Stream {
			t.Errorf("%s: %+v, want it as the GET: %+v", key, m, asGET)
		}
		// One permission lets API Gateway invoke the function for HEAD.
		fn := "${" + tpl.at(t, spec.LogicalID(r.Function)) + ".Arn}"
		allowed := false
		for _, id := range tpl.ofType("AWS::Lambda::Permission") {
			p := tpl.Resources[id].Properties
			allowed = allowed || render(p["Principal"]) == "apigateway.amazonaws.com" && render(p["FunctionName"]) == fn &&
				strings.HasSuffix(render(p["SourceArn"]), "/"+stageName+"/HEAD/*")
		}
		if !allowed {
			t.Errorf("%s: API Gateway may not invoke %s for HEAD", key, r.Function)
		}
	}
	for path, ms := range corsMethods {
		key := "ANY " + path
		seen[key] = true
		if m := methods[key]; m.integration != "MOCK" || m.status != "405" || m.allow != routes.Allow(ms) || m.authorizer {
			t.Errorf("%s: %+v, want a mock answering 405 with Allow %q", key, m, routes.Allow(ms))
		}
	}
	for path, ms := range corsMethods {
		key := http.MethodOptions + " " + path
		seen[key] = true
		m, ok := methods[key]
		if !ok {
			t.Errorf("%s has no CORS preflight", path)
			continue
		}
		if want := strings.Join(append(ms, http.MethodOptions), ","); m.corsMethods != want {
			t.Errorf("preflight of %s allows %q, want %q", path, m.corsMethods, want)
		}
		if m.authorizer || m.authorization != "NONE" {
			t.Errorf("preflight of %s is behind the authorizer: browsers send no key with it", path)
		}
	}
	for key := range methods {
		if !seen[key] {
			t.Errorf("the API has %s, which the route table does not", key)
		}
	}
	if !requireKeyForReads {
		return
	}
	for _, r := range routes.Table() {
		if r.Scope == routes.Read && !methods[r.Method+" "+r.Path].authorizer {
			t.Errorf("require_key_for_reads: %s %s has no authorizer", r.Method, r.Path)
		}
	}
}

func stage(t *testing.T, tpl template) map[string]any {
	t.Helper()
	ids := tpl.ofType("AWS::ApiGateway::Stage")
	if len(ids) != 1 {
		t.Fatalf("%d stages, want one", len(ids))
	}
	return tpl.Resources[ids[0]].Properties
}

func checkThrottles(t *testing.T, tpl template) {
	got := map[string]string{}
	for _, ms := range stage(t, tpl)["MethodSettings"].([]any) {
		// API Gateway escapes the path's slashes: /~1valves~1{id} is
		// /valves/{id}; the root is /.
		path := render(get(ms, "ResourcePath"))
		if path != "/" && path != "/*" {
			path = strings.ReplaceAll(strings.TrimPrefix(path, "/"), "~1", "/")
		}
		got[render(get(ms, "HttpMethod"))+" "+path] = fmt.Sprintf("%s/%s %s",
			render(get(ms, "ThrottlingRateLimit")), render(get(ms, "ThrottlingBurstLimit")), render(get(ms, "LoggingLevel")))
	}
	want := map[string]string{"* /*": "10000/5000 ERROR"}
	for _, r := range routes.Table() {
		want[r.Method+" "+r.Path] = fmt.Sprintf("%v/%d ERROR", r.Throttle.RatePerSecond, r.Throttle.Burst)
		if r.Method == http.MethodGet {
			want[http.MethodHead+" "+r.Path] = want[r.Method+" "+r.Path] // HEAD is held to its GET's figures
		}
	}
	if !maps.Equal(got, want) {
		for k, w := range want {
			if got[k] != w {
				t.Errorf("throttle of %s: %q, want %q", k, got[k], w)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("throttle of %s, which no route has", k)
			}
		}
	}
}

func checkAuthorizer(t *testing.T, tpl template, ctx map[string]any) {
	ids := tpl.ofType("AWS::ApiGateway::Authorizer")
	if len(ids) != 1 {
		t.Fatalf("%d authorizers, want one", len(ids))
	}
	p := tpl.Resources[ids[0]].Properties
	ttl := strings.TrimSuffix(ctxString(ctx, "authorizer_cache_ttl", "60s"), "s")
	for prop, want := range map[string]string{
		"Type":                         "REQUEST",
		"IdentitySource":               "method.request.header.X-API-Key",
		"AuthorizerResultTtlInSeconds": ttl,
	} {
		if got := render(p[prop]); got != want {
			t.Errorf("authorizer %s = %s, want %s", prop, got, want)
		}
	}
	if uri := render(p["AuthorizerUri"]); !strings.Contains(uri, "${"+tpl.at(t, "Authorizer")+".Arn}") {
		t.Errorf("authorizer calls %s, want the authorizer function", uri)
	}
}

func checkCORS(t *testing.T, tpl template, ctx map[string]any) {
	origins := ctxString(ctx, "cors_origins", "*")
	for _, id := range tpl.ofType("AWS::ApiGateway::Method") {
		p := tpl.Resources[id].Properties
		if render(p["HttpMethod"]) != http.MethodOptions {
			continue
		}
		resp := render(get(p, "Integration", "IntegrationResponses"))
		tmpl := render(get(p, "Integration", "RequestTemplates"))
		for _, o := range spec.Origins(origins) {
			if !strings.Contains(resp+tmpl, o) {
				t.Errorf("preflight %s does not allow %s: %s", id, o, resp)
			}
		}
		for _, h := range []string{"X-API-Key", "Idempotency-Key", "Content-Type"} {
			if !strings.Contains(resp, h) {
				t.Errorf("preflight %s does not allow the header %s", id, h)
			}
		}
		if !strings.Contains(resp, `"StatusCode":"204"`) {
			t.Errorf("preflight %s does not answer 204: %s", id, resp)
		}
	}
}

func checkGatewayResponses(t *testing.T, tpl template) {
	got := map[string]map[string]any{}
	for _, id := range tpl.ofType("AWS::ApiGateway::GatewayResponse") {
		p := tpl.Resources[id].Properties
		got[render(p["ResponseType"])] = p
	}
	if len(got) != len(spec.GatewayResponses()) {
		t.Errorf("%d gateway responses, want %d", len(got), len(spec.GatewayResponses()))
	}
	for _, g := range spec.GatewayResponses() {
		p, ok := got[g.Type]
		if !ok {
			t.Errorf("no gateway response %s", g.Type)
			continue
		}
		if code := optional(p["StatusCode"]); code != g.StatusCode() {
			t.Errorf("%s answers %s, want %s", g.Type, code, g.StatusCode())
		}
		if body := render(get(p, "ResponseTemplates", "application/json")); body != g.Template() {
			t.Errorf("%s body %s, want %s", g.Type, body, g.Template())
		}
		params, _ := p["ResponseParameters"].(map[string]any)
		for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Vary"} {
			if params["gatewayresponse.header."+h] == nil {
				t.Errorf("%s has no %s header", g.Type, h)
			}
		}
		if g.RetryAfter != "" && render(params["gatewayresponse.header.Retry-After"]) != "'"+g.RetryAfter+"'" {
			t.Errorf("%s has no Retry-After %s", g.Type, g.RetryAfter)
		}
	}
	for typ, status := range map[string]string{
		"DEFAULT_4XX": "", "DEFAULT_5XX": "", "UNAUTHORIZED": "401", "ACCESS_DENIED": "403",
		"THROTTLED": "429", "MISSING_AUTHENTICATION_TOKEN": "404", "REQUEST_TOO_LARGE": "413",
		"INTEGRATION_TIMEOUT": "504", "AUTHORIZER_FAILURE": "503",
	} {
		if p, ok := got[typ]; !ok || optional(p["StatusCode"]) != status {
			t.Errorf("gateway response %s: missing or not %q", typ, status)
		}
	}
}

func checkStage(t *testing.T, tpl template) {
	p := stage(t, tpl)
	if render(p["TracingEnabled"]) != "true" {
		t.Error("the stage does not trace with X-Ray")
	}
	if got := render(p["StageName"]); got != stageName {
		t.Errorf("stage %s, want %s", got, stageName)
	}
	format := render(get(p, "AccessLogSetting", "Format"))
	line := regexp.MustCompile(`\$context\.[A-Za-z.]+`).ReplaceAllString(format, "0")
	var fields map[string]any
	if err := json.Unmarshal([]byte(line), &fields); err != nil {
		t.Errorf("access log format is not one JSON object per request: %v\n%s", err, format)
	}
	for _, f := range []string{"request_id", "status", "key_id", "resource_path", "response_latency_ms"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("access log has no %s", f)
		}
	}
	if dest := render(get(p, "AccessLogSetting", "DestinationArn")); dest != "${"+tpl.at(t, "ApiAccessLogs")+".Arn}" {
		t.Errorf("access logs go to %s", dest)
	}
}

func checkDomain(t *testing.T, tpl template, ctx map[string]any) {
	ids := tpl.ofType("AWS::ApiGateway::DomainName")
	name, ok := ctx["domain_name"]
	if !ok {
		if len(ids) != 0 {
			t.Errorf("custom domain without domain_name: %v", ids)
		}
		return
	}
	if len(ids) != 1 {
		t.Fatalf("%d custom domains, want %v", len(ids), name)
	}
	p := tpl.Resources[ids[0]].Properties
	for prop, want := range map[string]string{
		"DomainName":             fmt.Sprint(name),
		"RegionalCertificateArn": fmt.Sprint(ctx["certificate_arn"]),
		"SecurityPolicy":         "TLS_1_2",
		"EndpointConfiguration":  `{"Types":["REGIONAL"]}`,
	} {
		if got := render(p[prop]); got != want {
			t.Errorf("domain %s = %s, want %s", prop, got, want)
		}
	}
	if n := len(tpl.ofType("AWS::ApiGateway::BasePathMapping")); n != 1 {
		t.Errorf("%d base path mappings, want one to the API", n)
	}
}

func checkAlarms(t *testing.T, tpl template) {
	topic := "${" + tpl.at(t, "Operators") + "}"
	var found []string
	for _, id := range tpl.ofType("AWS::CloudWatch::Alarm") {
		p := tpl.Resources[id].Properties
		if got := render(p["AlarmActions"]); got != topic {
			t.Errorf("alarm %s notifies %s, want the operators' topic", id, got)
		}
		if got := render(p["OKActions"]); got != topic {
			t.Errorf("alarm %s sends its all-clear to %s, want the operators' topic", id, got)
		}
		desc := render(p["MetricName"]) + " " + render(p["Statistic"]) + " " + render(p["ExtendedStatistic"]) + " " + render(p["Metrics"])
		if dims, ok := p["Dimensions"].([]any); ok {
			for _, d := range dims {
				desc += " " + render(get(d, "Name")) + "=" + render(get(d, "Value"))
			}
		}
		found = append(found, desc)
	}
	has := func(what string, parts ...string) {
		t.Helper()
		for _, f := range found {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(f, p)
			}
			if ok {
				return
			}
		}
		t.Errorf("no alarm on %s", what)
	}
	for _, f := range spec.Functions() {
		fn := "${" + tpl.at(t, spec.LogicalID(f.Name)) + "}"
		has(f.Name+" errors", "Errors ", "FunctionName="+fn)
		has(f.Name+" throttles", "Throttles ", "FunctionName="+fn)
	}
	for _, name := range routes.Functions(routes.Table()) {
		has(name+" EMF 5xx", "SUM(Errors5xx)", `SCHEMA(\"Plainview\", Function, Route)`, "Function = '"+name+"'")
	}
	has("the API's 5xx rate", "5XXError ")
	has("the API's p99 latency", "Latency ", "p99")
	has("rejected actuations", "SUM(Actuations)", "Result = 'rejected'")
	has("DynamoDB system errors", "SystemErrors")
	has("DynamoDB throttles", "ThrottledRequests")
	has("DynamoDB throttles of ingest's batch writes", "ThrottledRequests", `"Operation","Value":"BatchWriteItem"`)
	has("actuation timeouts", "ActuationTimeouts ", "Function=timeouts", "Sum")
	has("the authorizer's key store failures", "KeyStoreFailures ", "Function=authorizer", "Sum")
	// Throttle events on the table and on every index, summed.
	table := `{"Ref":"` + tpl.at(t, "Table") + `"}`
	for _, metric := range []string{"ReadThrottleEvents", "WriteThrottleEvents"} {
		parts := []string{metric, `"Name":"TableName","Value":` + table}
		for _, g := range store.TableDefinition("plainview").GlobalSecondaryIndexes {
			parts = append(parts, `"Name":"GlobalSecondaryIndexName","Value":"`+*g.IndexName+`"`)
		}
		has("DynamoDB "+metric+" on the table and its indexes", parts...)
	}
	has("dead letters", "ApproximateNumberOfMessagesVisible ", "QueueName=${"+tpl.at(t, "DeadLetters")+".QueueName}")
	has("ingest's dead letters (EMF)", "DeadLetters ", "Function=ingest")
	// Ingest falling behind the stream: Lambda's IteratorAge of ingest
	// (milliseconds), the newest record of a batch 300 s old or more.
	has("ingest's iterator age on the stream", "IteratorAge Maximum", "FunctionName=${"+tpl.at(t, spec.LogicalID(spec.FuncIngest))+"}")
}

func checkDashboard(t *testing.T, tpl template, environment string) {
	ids := tpl.ofType("AWS::CloudWatch::Dashboard")
	if len(ids) != 1 {
		t.Fatalf("%d dashboards, want one", len(ids))
	}
	body := render(tpl.Resources[ids[0]].Properties["DashboardBody"])
	want := []string{
		`"Count"`, `"Latency"`, `"4XXError"`, `"5XXError"`,
		`MetricName=\"Actuations\"`, `MetricName=\"IncidentsOpened\"`, `MetricName=\"Alerts\"`, `MetricName=\"Errors5xx\"`,
		`{Plainview,Command,Function,Result}`, `{Plainview,Function,Severity}`,
		// actuations by result: the schedule's timeouts beside the valves' results
		`"Plainview","ActuationTimeouts","Function","timeouts"`,
		// the gauges
		`"Plainview","OpenIncidents","Function","timeouts"`, `"Plainview","ActiveLeaks","Function","timeouts"`,
		// device messages in and rejected
		`"AWS/IoT","PublishIn.Success","Protocol","MQTT"`,
		`"AWS/IoT","PublishIn.AuthError","Protocol","MQTT"`, `"AWS/IoT","Connect.AuthError","Protocol","MQTT"`,
		`"Plainview","DeadLetters","Function","ingest"`,
		// the telemetry stream: records put and refused, ingest's and the
		// stream's iterator age
		`"AWS/Kinesis","IncomingRecords","StreamName","${` + tpl.at(t, "Telemetry") + `}"`,
		`"AWS/Kinesis","WriteProvisionedThroughputExceeded","StreamName","${` + tpl.at(t, "Telemetry") + `}"`,
		`"AWS/Kinesis","GetRecords.IteratorAgeMilliseconds","StreamName","${` + tpl.at(t, "Telemetry") + `}"`,
		`"AWS/Lambda","IteratorAge","FunctionName","${` + tpl.at(t, spec.LogicalID(spec.FuncIngest)) + `}"`,
	}
	for _, r := range topics.Table() {
		want = append(want, `"AWS/IoT","TopicMatch","RuleName","`+topics.RuleName(environment, r.Name)+`"`)
	}
	for _, f := range spec.Functions() {
		fn := "${" + tpl.at(t, spec.LogicalID(f.Name)) + "}"
		for _, m := range []string{"Invocations", "Errors", "Duration"} {
			if !regexp.MustCompile(regexp.QuoteMeta(`"` + m + `","FunctionName","` + fn + `"`)).MatchString(body) {
				t.Errorf("the dashboard has no %s of %s", m, f.Name)
			}
		}
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("the dashboard has no %s", w)
		}
	}
}

func checkOutputs(t *testing.T, tpl template, ctx map[string]any) {
	want := []string{"ApiUrl", "DashboardName", "KeySecretArn", "OperatorsTopicArn", "TableName", "TelemetryStreamName", "DeadLetterQueueUrl", "DevicePolicyName", "ThingTypeName"}
	if _, ok := ctx["domain_name"]; ok {
		want = append(want, "CustomDomainTarget")
	}
	for _, o := range want {
		found := false
		for name := range tpl.Outputs {
			found = found || strings.HasPrefix(name, o)
		}
		if !found {
			t.Errorf("no output %s", o)
		}
	}
}

// checkNag: no AwsSolutions error stands unsuppressed.
func checkNag(t *testing.T, stack awscdk.Stack) {
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("cdk-nag annotations: %v", r)
		}
	}()
	errs := assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	for _, e := range *errs {
		t.Errorf("cdk-nag: %s: %v", *e.Id, e.Entry.Data)
	}
}
