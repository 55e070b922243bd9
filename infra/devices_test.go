package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/core/domain"
)

// The device traffic's checks, run by TestStack on each environment.

// checkDeadLetters: one queue, the dead-letter queue, encrypted and
// TLS-only; the telemetry queue is gone (the stream carries telemetry).
func checkDeadLetters(t *testing.T, tpl template, production bool) {
	deadID := tpl.at(t, "DeadLetters")
	if got := tpl.ofType("AWS::SQS::Queue"); !slices.Equal(got, []string{deadID}) {
		t.Errorf("queues %v, want the dead-letter queue alone", got)
	}
	retain := map[bool]string{true: "Retain", false: "Delete"}[production]
	q := tpl.Resources[deadID]
	if got := optional(q.Properties["SqsManagedSseEnabled"]); got != "true" && q.Properties["KmsMasterKeyId"] == nil {
		t.Errorf("queue %s is not encrypted: %v", deadID, q.Properties)
	}
	if q.DeletionPolicy != retain {
		t.Errorf("queue %s: DeletionPolicy %q, want %q", deadID, q.DeletionPolicy, retain)
	}
	tls := false
	for _, pid := range tpl.ofType("AWS::SQS::QueuePolicy") {
		p := tpl.Resources[pid].Properties
		if !slices.Contains(strs(p["Queues"]), "${"+deadID+"}") {
			continue
		}
		for _, st := range get(p, "PolicyDocument", "Statement").([]any) {
			tls = tls || render(get(st, "Effect")) == "Deny" &&
				render(get(st, "Condition", "Bool", "aws:SecureTransport")) == "false"
		}
	}
	if !tls {
		t.Errorf("queue %s does not refuse requests without TLS", deadID)
	}
	if got := render(q.Properties["MessageRetentionPeriod"]); got != "1209600" {
		t.Errorf("dead letters kept %s s, want 14 days", got)
	}
}

// checkStream: one telemetry stream, provisioned with the shards the
// settings ask for, encrypted with the AWS-managed key, keeping records a
// day in development and a week in production (redrive reads them).
func checkStream(t *testing.T, tpl template, ctx map[string]any, production bool) {
	ids := tpl.ofType("AWS::Kinesis::Stream")
	if len(ids) != 1 || ids[0] != tpl.at(t, "Telemetry") {
		t.Fatalf("streams %v, want the telemetry stream alone", ids)
	}
	r := tpl.Resources[ids[0]]
	wantHours := map[bool]string{false: "24", true: "168"}[production]
	for prop, c := range map[string]struct{ got, want string }{
		"StreamModeDetails":               {render(get(r.Properties, "StreamModeDetails", "StreamMode")), "PROVISIONED"},
		"ShardCount":                      {render(r.Properties["ShardCount"]), ctxString(ctx, "telemetry_shards", "1")},
		"StreamEncryption.EncryptionType": {render(get(r.Properties, "StreamEncryption", "EncryptionType")), "KMS"},
		"StreamEncryption.KeyId":          {render(get(r.Properties, "StreamEncryption", "KeyId")), "alias/aws/kinesis"},
		"RetentionPeriodHours":            {render(r.Properties["RetentionPeriodHours"]), wantHours},
	} {
		if c.got != c.want {
			t.Errorf("stream %s = %s, want %s", prop, c.got, c.want)
		}
	}
	retain := map[bool]string{true: "Retain", false: "Delete"}[production]
	if r.DeletionPolicy != retain {
		t.Errorf("stream DeletionPolicy %q, want %q", r.DeletionPolicy, retain)
	}
	out, ok := tpl.Outputs["TelemetryStreamName"]
	if !ok || render(out.Value) != "${"+ids[0]+"}" {
		t.Errorf("output TelemetryStreamName = %v, want a Ref to the stream", out.Value)
	}
}

// checkIngestSources: the telemetry stream in batches with infra/spec's
// settings, partial batch failures and failed batches to the dead-letter
// queue; direct invokes retried twice, then dead letters.
func checkIngestSources(t *testing.T, tpl template) {
	ingest := tpl.at(t, spec.LogicalID(spec.FuncIngest))
	mappings := tpl.ofType("AWS::Lambda::EventSourceMapping")
	if len(mappings) != 1 {
		t.Fatalf("%d event source mappings, want the telemetry stream's", len(mappings))
	}
	p := tpl.Resources[mappings[0]].Properties
	for prop, c := range map[string]struct{ got, want string }{
		"FunctionName":                   {render(p["FunctionName"]), "${" + ingest + "}"},
		"EventSourceArn":                 {render(p["EventSourceArn"]), "${" + tpl.at(t, "Telemetry") + ".Arn}"},
		"StartingPosition":               {render(p["StartingPosition"]), "TRIM_HORIZON"},
		"BatchSize":                      {render(p["BatchSize"]), fmt.Sprint(spec.IngestBatchSize)},
		"MaximumBatchingWindowInSeconds": {render(p["MaximumBatchingWindowInSeconds"]), fmt.Sprint(spec.IngestBatchingWindow.Seconds())},
		"ParallelizationFactor":          {render(p["ParallelizationFactor"]), fmt.Sprint(spec.IngestParallelization)},
		"FunctionResponseTypes":          {render(p["FunctionResponseTypes"]), "ReportBatchItemFailures"},
		"BisectBatchOnFunctionError":     {render(p["BisectBatchOnFunctionError"]), "true"},
		"MaximumRetryAttempts":           {render(p["MaximumRetryAttempts"]), fmt.Sprint(spec.IngestRetryAttempts)},
		"MaximumRecordAgeInSeconds":      {render(p["MaximumRecordAgeInSeconds"]), fmt.Sprint(spec.IngestMaxRecordAge.Seconds())},
		"OnFailure":                      {render(get(p, "DestinationConfig", "OnFailure", "Destination")), "${" + tpl.at(t, "DeadLetters") + ".Arn}"},
	} {
		if c.got != c.want {
			t.Errorf("event source %s = %s, want %s", prop, c.got, c.want)
		}
	}

	configs := tpl.ofType("AWS::Lambda::EventInvokeConfig")
	if len(configs) != 1 {
		t.Fatalf("%d asynchronous invoke configurations, want ingest's", len(configs))
	}
	p = tpl.Resources[configs[0]].Properties
	for prop, c := range map[string]struct{ got, want string }{
		"FunctionName":             {render(p["FunctionName"]), "${" + ingest + "}"},
		"MaximumRetryAttempts":     {render(p["MaximumRetryAttempts"]), "2"},
		"MaximumEventAgeInSeconds": {render(p["MaximumEventAgeInSeconds"]), "3600"},
		"OnFailure":                {render(get(p, "DestinationConfig", "OnFailure", "Destination")), "${" + tpl.at(t, "DeadLetters") + ".Arn}"},
	} {
		if c.got != c.want {
			t.Errorf("asynchronous invokes %s = %s, want %s", prop, c.got, c.want)
		}
	}
}

// checkTopicRules: one topic rule per rule of shared/contract/topics, delivering
// where its target says, with its failures to the dead-letter queue. A
// rule added to the table and not to the stack fails here.
func checkTopicRules(t *testing.T, tpl template, ctx map[string]any) {
	ingestArn := "${" + tpl.at(t, spec.LogicalID(spec.FuncIngest)) + ".Arn}"
	stream, deadLetters := "${"+tpl.at(t, "Telemetry")+"}", "${"+tpl.at(t, "DeadLetters")+"}"
	role := "${" + tpl.at(t, "TopicRulesRole") + ".Arn}"
	env := ctxString(ctx, "environment", "")

	byName := map[string]string{} // rule name → logical id
	for _, id := range tpl.ofType("AWS::IoT::TopicRule") {
		byName[render(tpl.Resources[id].Properties["RuleName"])] = id
	}
	if len(byName) != len(topics.Table()) {
		t.Errorf("%d topic rules %v, want the %d of shared/contract/topics", len(byName), slices.Sorted(maps.Keys(byName)), len(topics.Table()))
	}
	invokers := map[string]bool{} // rule ARNs allowed to invoke ingest
	for _, id := range tpl.ofType("AWS::Lambda::Permission") {
		p := tpl.Resources[id].Properties
		if render(p["Principal"]) == "iot.amazonaws.com" && render(p["FunctionName"]) == ingestArn &&
			render(p["Action"]) == "lambda:InvokeFunction" {
			invokers[render(p["SourceArn"])] = true
		}
	}
	direct := 0
	for _, r := range topics.Table() {
		name := "plainview_" + env + "_" + r.Name
		id, ok := byName[name]
		if !ok {
			t.Errorf("rule %s (%s) is not deployed as %s", r.Name, r.Topic, name)
			continue
		}
		p := tpl.Resources[id].Properties
		payload := get(p, "TopicRulePayload")
		if got := render(get(payload, "Sql")); got != r.SQL() {
			t.Errorf("%s: SQL %q, want %q", r.Name, got, r.SQL())
		}
		if got := render(get(payload, "AwsIotSqlVersion")); got != "2016-03-23" {
			t.Errorf("%s: SQL version %s", r.Name, got)
		}
		if got := render(get(payload, "RuleDisabled")); got == "true" {
			t.Errorf("%s is disabled", r.Name)
		}
		var want string
		switch r.Target {
		case topics.Direct:
			direct++
			want = `{"Lambda":{"FunctionArn":"` + ingestArn + `"}}`
			if !invokers["${"+id+".Arn}"] {
				t.Errorf("%s: IoT may not invoke ingest for this rule", r.Name)
			}
		case topics.Stream:
			// Keyed by the publishing device (its client id is its thing
			// name), so its records stay in order in one shard.
			want = `{"Kinesis":{"PartitionKey":"${clientid()}","RoleArn":"` + role + `","StreamName":"` + stream + `"}}`
		default:
			t.Errorf("%s: target %q", r.Name, r.Target)
		}
		if n := len(get(payload, "Actions").([]any)); n != 1 {
			t.Errorf("%s: %d actions, want one", r.Name, n)
		}
		if got := actionsOf(get(payload, "Actions")); got != want {
			t.Errorf("%s: actions %s, want %s", r.Name, got, want)
		}
		if got, want := actionsOf(get(payload, "ErrorAction")), `{"Sqs":{"QueueUrl":"`+deadLetters+`","RoleArn":"`+role+`"}}`; got != want {
			t.Errorf("%s: error action %s, want %s", r.Name, got, want)
		}
	}
	if len(invokers) != direct {
		t.Errorf("IoT may invoke ingest for %d rules, want the %d direct ones", len(invokers), direct)
	}

	// The rules' role: assumed by IoT, putting records into the stream and
	// sending dead letters, nothing else.
	roleID := tpl.at(t, "TopicRulesRole")
	trust := get(tpl.Resources[roleID].Properties, "AssumeRolePolicyDocument", "Statement").([]any)
	if len(trust) != 1 || render(get(trust[0], "Principal", "Service")) != "iot.amazonaws.com" {
		t.Errorf("the topic rules' role trusts %s, want IoT", render(trust))
	} else {
		// Only this account's rules of this environment may take it.
		account, arn := render(get(trust[0], "Condition", "StringEquals", "aws:SourceAccount")), render(get(trust[0], "Condition", "ArnLike", "aws:SourceArn"))
		if wantARN := "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:rule/" + topics.RuleName(env, "") + "*"; account != "${AWS::AccountId}" || arn != wantARN {
			t.Errorf("the topic rules' role: aws:SourceAccount %q, aws:SourceArn %q; want %q and %q", account, arn, "${AWS::AccountId}", wantARN)
		}
	}
	actions := map[string][]string{}
	for _, id := range tpl.ofType("AWS::IAM::Policy") {
		p := tpl.Resources[id].Properties
		if !slices.Contains(strs(p["Roles"]), "${"+roleID+"}") {
			continue
		}
		for _, st := range get(p, "PolicyDocument", "Statement").([]any) {
			for _, a := range strs(get(st, "Action")) {
				actions[a] = sorted(append(actions[a], strs(get(st, "Resource"))...))
			}
		}
	}
	wantActions := map[string][]string{
		"kinesis:PutRecord": {"${" + tpl.at(t, "Telemetry") + ".Arn}"},
		"sqs:SendMessage":   {"${" + tpl.at(t, "DeadLetters") + ".Arn}"},
	}
	if !maps.EqualFunc(actions, wantActions, slices.Equal) {
		t.Errorf("the topic rules' role may\n%s\nwant exactly\n%s", describe(actions), describe(wantActions))
	}
}

// actionsOf renders topic rule actions as JSON with intrinsics rendered.
func actionsOf(v any) string {
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["Ref"]; ok {
				return render(x)
			}
			if _, ok := x["Fn::GetAtt"]; ok {
				return render(x)
			}
			out := map[string]any{}
			for k, e := range x {
				out[k] = walk(e)
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = walk(e)
			}
			return out
		}
		return v
	}
	return render(walk(v))
}

// checkDevicePolicy: the synthesized IoT policy grants each device
// exactly what the local broker grants it. The broker's ACL is
// shared/contract/topics.Allowed; here the policy is evaluated as IoT Core
// would (policy variables of the connected thing, StringEquals
// conditions on its attributes) for a valve, a gauge named after its
// section and a gauge that is not, on every topic either side names and
// some neither does.
func checkDevicePolicy(t *testing.T, tpl template, environment string) {
	ids := tpl.ofType("AWS::IoT::Policy")
	if len(ids) != 1 {
		t.Fatalf("%d IoT policies, want the devices' one", len(ids))
	}
	if got, want := render(tpl.Resources[ids[0]].Properties["PolicyName"]), spec.DevicePolicyName(environment); got != want {
		t.Errorf("device policy named %s, want %s (scripts/provision attaches it by that name)", got, want)
	}
	statements := get(tpl.Resources[ids[0]].Properties, "PolicyDocument", "Statement").([]any)
	devices := []domain.Device{
		{ID: "v-101", Kind: domain.DeviceValve, Asset: "v-101"},
		{ID: "A-North", Kind: domain.DeviceGauge, Asset: "A-North"},
		{ID: "g-7", Kind: domain.DeviceGauge, Asset: "F-Spur"},
	}
	// Besides every granted topic of every device: other rules, other
	// environments and wildcards under $aws/rules, which must all be
	// refused (a device may send only its own telemetry through Basic
	// Ingest, to the telemetry rule of its environment).
	names := []string{"valves/+/command", "valves/#", "#", "plainview/leaks/A-North", "pipeline/pressure/+", "$aws/things/v-101/shadow/update",
		"$aws/rules/*", "$aws/rules/#", "$aws/rules/" + topics.RuleName(environment, topics.TelemetryRule) + "/#",
		topics.BasicIngest(topics.RuleName("other", topics.TelemetryRule), topics.TelemetryOf("v-101")),
		topics.BasicIngest(topics.RuleName(environment, "valve_status"), topics.StatusOf("v-101")),
		topics.BasicIngest(topics.RuleName(environment, "pipeline_pressure"), topics.PressureOf("A-North")),
		topics.BasicIngest(topics.RuleName(environment, topics.TelemetryRule), topics.StatusOf("v-101"))}
	for _, g := range topics.Grants() {
		for _, d := range devices {
			names = append(names, g.Resolve(d, environment))
		}
	}
	slices.Sort(names)
	names = slices.Compact(names) // the valves' and the gauges' grants name the same topics
	basicIngest := 0
	granted := 0
	for _, d := range devices {
		for _, other := range devices {
			if got := policyAllows(t, statements, d, "iot:Connect", "client/"+other.ID); got != (other.ID == d.ID) {
				t.Errorf("%s may connect as %s: %v", d.ID, other.ID, got)
			}
		}
		for _, a := range []topics.Action{topics.Publish, topics.Subscribe, topics.Receive} {
			resource := "topic/"
			if a == topics.Subscribe {
				resource = "topicfilter/"
			}
			for _, topic := range names {
				got, want := policyAllows(t, statements, d, string(a), resource+topic), topics.Allowed(d, environment, a, topic)
				if got != want {
					t.Errorf("%s %s %s: the IoT policy says %v, the local broker %v", d.ID, a, topic, got, want)
				}
				if got {
					granted++
					if strings.HasPrefix(topic, topics.BasicIngestPrefix) {
						basicIngest++
					}
				}
			}
		}
	}
	if granted < len(devices)*2 {
		t.Errorf("only %d rights granted in all: the comparison compared nothing", granted)
	}
	if basicIngest != len(devices) {
		t.Errorf("%d Basic Ingest rights granted, want one per device (its own telemetry)", basicIngest)
	}
}

// policyAllows evaluates an IoT policy's Allow statements for device d
// connected as its thing: whether action on resource ("topic/a/b",
// "client/x") is allowed.
func policyAllows(t *testing.T, statements []any, d domain.Device, action, resource string) bool {
	t.Helper()
	const prefix = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:"
	vars := map[string]string{
		"iot:Connection.Thing.ThingName":         d.ID,
		"iot:Connection.Thing.Attributes[kind]":  d.Kind,
		"iot:Connection.Thing.Attributes[asset]": d.Asset,
	}
	substitute := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "${"+k+"}", v)
		}
		return s
	}
	for _, st := range statements {
		if render(get(st, "Effect")) != "Allow" {
			t.Errorf("statement %s is not an Allow", render(st))
			continue
		}
		if !slices.Contains(strs(get(st, "Action")), action) {
			continue
		}
		holds := true
		if c, ok := get(st, "Condition").(map[string]any); ok {
			for op, kv := range c {
				if op != "StringEquals" {
					t.Fatalf("statement %s: condition %s is not evaluated here", render(st), op)
				}
				for k, v := range kv.(map[string]any) {
					have, known := vars[k]
					if !known {
						t.Fatalf("statement %s: condition key %s is not evaluated here", render(st), k)
					}
					holds = holds && have == render(v)
				}
			}
		}
		if !holds {
			continue
		}
		for _, r := range strs(get(st, "Resource")) {
			if strings.Contains(r, "*") {
				t.Fatalf("statement %s: a wildcard resource is not evaluated here", render(st))
			}
			if substitute(r) == prefix+resource {
				return true
			}
		}
	}
	return false
}

// checkTimeoutsSchedule: the timeouts function every minute.
func checkTimeoutsSchedule(t *testing.T, tpl template) {
	fn := "${" + tpl.at(t, spec.LogicalID(spec.FuncTimeouts)) + ".Arn}"
	found := false
	for _, id := range tpl.ofType("AWS::Events::Rule") {
		p := tpl.Resources[id].Properties
		for _, target := range p["Targets"].([]any) {
			if render(get(target, "Arn")) != fn {
				continue
			}
			found = true
			if got := render(p["ScheduleExpression"]); got != "rate(1 minute)" {
				t.Errorf("timeouts run on %s, want rate(1 minute)", got)
			}
			if got := render(p["State"]); got != "ENABLED" {
				t.Errorf("the schedule is %s", got)
			}
		}
	}
	if !found {
		t.Error("no schedule invokes the timeouts function")
	}
	allowed := false
	for _, id := range tpl.ofType("AWS::Lambda::Permission") {
		p := tpl.Resources[id].Properties
		allowed = allowed || render(p["Principal"]) == "events.amazonaws.com" && render(p["FunctionName"]) == fn
	}
	if !allowed {
		t.Error("EventBridge may not invoke the timeouts function")
	}
}

// checkThingType: one thing type, named as scripts/provision expects,
// searchable by the attributes provisioning sets; production keeps it.
func checkThingType(t *testing.T, tpl template, environment string, production bool) {
	ids := tpl.ofType("AWS::IoT::ThingType")
	if len(ids) != 1 {
		t.Fatalf("%d thing types, want one", len(ids))
	}
	r := tpl.Resources[ids[0]]
	if got, want := render(r.Properties["ThingTypeName"]), spec.ThingTypeName(environment); got != want {
		t.Errorf("thing type %s, want %s", got, want)
	}
	if got, want := strs(get(r.Properties, "ThingTypeProperties", "SearchableAttributes")), spec.ThingSearchableAttributes(); !slices.Equal(got, want) {
		t.Errorf("searchable attributes %v, want %v", got, want)
	}
	if got := render(r.Properties["DeprecateThingType"]); got == "true" {
		t.Error("the thing type is deprecated: no new device could be registered with it")
	}
	want := "Delete"
	if production {
		want = "Retain"
	}
	if r.DeletionPolicy != want || r.UpdateReplace != want {
		t.Errorf("thing type deletion %q / replace %q, want %s", r.DeletionPolicy, r.UpdateReplace, want)
	}
	out, ok := tpl.Outputs["ThingTypeName"]
	if !ok || render(out.Value) != "${"+ids[0]+"}" {
		t.Errorf("output ThingTypeName = %v, want a Ref to the thing type", out.Value)
	}
}

// checkStreamAlarm: an alarm fires when ingest falls behind the stream,
// on Lambda's IteratorAge of ingest (milliseconds, not the stream's
// GetRecords age, which the dead-letter tool's reads of old records would
// raise): the newest record of a batch 300 s old or more in a period.
func checkStreamAlarm(t *testing.T, tpl template) {
	ingest := "${" + tpl.at(t, spec.LogicalID(spec.FuncIngest)) + "}"
	var found []string
	for _, id := range tpl.ofType("AWS::CloudWatch::Alarm") {
		p := tpl.Resources[id].Properties
		if render(p["MetricName"]) != "IteratorAge" && render(p["MetricName"]) != "GetRecords.IteratorAgeMilliseconds" {
			continue
		}
		found = append(found, id)
		var dims []string
		ds, _ := p["Dimensions"].([]any)
		for _, d := range ds {
			dims = append(dims, render(get(d, "Name"))+"="+render(get(d, "Value")))
		}
		for prop, c := range map[string]struct{ got, want string }{
			"Namespace":          {render(p["Namespace"]), "AWS/Lambda"},
			"MetricName":         {render(p["MetricName"]), "IteratorAge"},
			"Dimensions":         {strings.Join(dims, ","), "FunctionName=" + ingest},
			"Statistic":          {render(p["Statistic"]), "Maximum"},
			"Threshold":          {render(p["Threshold"]), "300000"},
			"ComparisonOperator": {render(p["ComparisonOperator"]), "GreaterThanOrEqualToThreshold"},
			"Period":             {render(p["Period"]), "300"},
			"EvaluationPeriods":  {render(p["EvaluationPeriods"]), "1"},
		} {
			if c.got != c.want {
				t.Errorf("iterator age alarm %s: %s = %s, want %s", id, prop, c.got, c.want)
			}
		}
	}
	if len(found) != 1 {
		t.Errorf("%d iterator age alarms %v, want one on ingest (%s)", len(found), found, ingest)
	}
}
