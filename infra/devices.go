package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/contract/topics"
)

// The device traffic's settings; docs/infrastructure.md gives the reasons.
const (
	// iotSQLVersion is the IoT SQL version of every topic rule.
	iotSQLVersion = "2016-03-23"
	// ingestRetries is how often Lambda retries a failed direct
	// delivery (the local engine retries twice too).
	ingestRetries = 2
	// ingestMaxEventAge bounds how long a direct delivery waits for
	// retries (throttling) before it becomes a dead letter.
	ingestMaxEventAge = 1 // hour
	// deadLetterRetention is how long a dead letter waits for a person:
	// SQS's longest.
	deadLetterRetentionDays = 14
	// The telemetry stream keeps records a day in development, Kinesis's
	// least, and a week in production: a dead letter of the stream
	// names its records by shard and sequence numbers, and redriving
	// them reads them from the stream, so they must still be there when
	// a person gets to it after a weekend.
	streamRetentionDevelopment = 24  // hours
	streamRetentionProduction  = 168 // hours
	// streamPartitionKey keys each record by the publishing device:
	// devices connect as their thing name, so a device's records share
	// a shard and arrive in ingest's batches in order, all of the
	// window's together.
	streamPartitionKey = "${clientid()}"
)

// addDevices declares the device traffic of docs/ARCHITECTURE.md:
// the topic rules of shared/contract/topics, the telemetry stream, the
// dead-letter queue, the ingest function's two sources, the devices' IoT
// policy and the actuation timeout schedule. The functions exist already
// (addFunctions); their roles get the stream's and the queue's actions
// here.
func (st *stack) addDevices() error {
	ingest, ok := st.functions[spec.FuncIngest]
	if !ok {
		return fmt.Errorf("devices: no %s function in infra/spec", spec.FuncIngest)
	}
	timeouts, ok := st.functions[spec.FuncTimeouts]
	if !ok {
		return fmt.Errorf("devices: no %s function in infra/spec", spec.FuncTimeouts)
	}

	// The dead-letter queue takes what failed everywhere: stream batches
	// out of retries or too old, direct deliveries out of retries, and
	// what a rule could not deliver at all (its error action).
	st.deadLetters = awssqs.NewQueue(st.scope, jsii.String("DeadLetters"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(deadLetterRetentionDays)),
		RemovalPolicy:   st.removalPolicy(),
	})
	retention := streamRetentionDevelopment
	if st.settings.production() {
		retention = streamRetentionProduction
	}
	// Provisioned, not on-demand (docs/decisions.md, the telemetry
	// stream): on-demand's per-gigabyte price comes to about $0.12 per
	// million messages, against the shards' few cents at the fleet's
	// rate; the shards are chosen by the deployment (telemetry_shards).
	st.telemetry = awskinesis.NewStream(st.scope, jsii.String("Telemetry"), &awskinesis.StreamProps{
		StreamMode: awskinesis.StreamMode_PROVISIONED,
		ShardCount: jsii.Number(st.settings.telemetryShards),
		// The AWS-managed key (alias/aws/kinesis), as for the table: no
		// key policy of our own, and the rules' and ingest's roles need
		// no KMS rights. Meets cdk-nag's KDS1 (encrypted) and KDS3 (with
		// aws/kinesis), so nag.go suppresses nothing for the stream.
		Encryption:      awskinesis.StreamEncryption_MANAGED,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(retention)),
		RemovalPolicy:   st.removalPolicy(),
	})

	// Ingest's two sources: the stream in batches (spec gives the
	// reasons of each setting), reporting the records not stored; and
	// the direct rules' asynchronous invokes.
	ingest.AddEventSource(awslambdaeventsources.NewKinesisEventSource(st.telemetry, &awslambdaeventsources.KinesisEventSourceProps{
		// Records put before the mapping was enabled (a deploy, a
		// mapping turned off and on) are delivered, not skipped.
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(spec.IngestBatchSize),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(spec.IngestBatchingWindow.Seconds())),
		ParallelizationFactor:   jsii.Number(spec.IngestParallelization),
		ReportBatchItemFailures: jsii.Bool(true),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(spec.IngestRetryAttempts),
		MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(spec.IngestMaxRecordAge.Seconds())),
		OnFailure:               awslambdaeventsources.NewSqsDlq(st.deadLetters),
	}))
	ingest.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(ingestRetries),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(ingestMaxEventAge)),
		OnFailure:     awslambdadestinations.NewSqsDestination(st.deadLetters),
	})

	// The role IoT takes for the stream actions and every error action:
	// put records into the stream, send to the dead-letter queue,
	// nothing else.
	// IoT may take it only for this account's rules of this environment
	// (aws:SourceAccount, aws:SourceArn), so no other account's rule can
	// be made to act through it: the confused-deputy guard AWS advises.
	iotRole := awsiam.NewRole(st.scope, jsii.String("TopicRulesRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
				"ArnLike": map[string]any{"aws:SourceArn": fmt.Sprintf("arn:%s:iot:%s:%s:rule/%s*",
					*awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID(), topics.RuleName(st.settings.environment, ""))},
			},
		}),
		Description: jsii.String("Plainview IoT topic rules: put into the telemetry stream, send to the dead-letter queue"),
	})
	// The Kinesis action puts one record at a time (PutRecord); the
	// stream's AWS-managed key needs no KMS right of the role.
	iotRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("PutToStream"),
		Actions:   jsii.Strings("kinesis:PutRecord"),
		Resources: &[]*string{st.telemetry.StreamArn()},
	}))
	iotRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("SendDeadLetters"),
		Actions:   jsii.Strings("sqs:SendMessage"),
		Resources: &[]*string{st.deadLetters.QueueArn()},
	}))

	for _, r := range topics.Table() {
		id := "Rule" + spec.LogicalID(r.Name)
		var action *awsiot.CfnTopicRule_ActionProperty
		switch r.Target {
		case topics.Direct:
			action = &awsiot.CfnTopicRule_ActionProperty{
				Lambda: &awsiot.CfnTopicRule_LambdaActionProperty{FunctionArn: ingest.FunctionArn()},
			}
		case topics.Stream:
			action = &awsiot.CfnTopicRule_ActionProperty{
				Kinesis: &awsiot.CfnTopicRule_KinesisActionProperty{
					StreamName: st.telemetry.StreamName(), PartitionKey: jsii.String(streamPartitionKey), RoleArn: iotRole.RoleArn(),
				},
			}
		default:
			return fmt.Errorf("topic rule %s: target %q is not deployed", r.Name, r.Target)
		}
		rule := awsiot.NewCfnTopicRule(st.scope, jsii.String(id), &awsiot.CfnTopicRuleProps{
			// Rule names are per account and region: the environment in
			// the name lets development and production share an account.
			RuleName: jsii.String(topics.RuleName(st.settings.environment, r.Name)),
			TopicRulePayload: &awsiot.CfnTopicRule_TopicRulePayloadProperty{
				Sql:              jsii.String(r.SQL()),
				AwsIotSqlVersion: jsii.String(iotSQLVersion),
				RuleDisabled:     jsii.Bool(false),
				Description:      jsii.String(fmt.Sprintf("Plainview %s: %s to ingest (%s)", r.Name, r.Topic, r.Target)),
				Actions:          &[]any{action},
				ErrorAction: &awsiot.CfnTopicRule_ActionProperty{
					Sqs: &awsiot.CfnTopicRule_SqsActionProperty{QueueUrl: st.deadLetters.QueueUrl(), RoleArn: iotRole.RoleArn()},
				},
			},
		})
		if r.Target == topics.Direct {
			ingest.AddPermission(jsii.String(id+"Invoke"), &awslambda.Permission{
				Principal:     awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), nil),
				Action:        jsii.String("lambda:InvokeFunction"),
				SourceArn:     rule.AttrArn(),
				SourceAccount: st.scope.Account(),
			})
		}
	}

	st.addDevicePolicy()
	st.addThingType()

	// Actuation timeouts: every minute, EventBridge's finest rate.
	awsevents.NewRule(st.scope, jsii.String("TimeoutsSchedule"), &awsevents.RuleProps{
		Description: jsii.String("Plainview: end open actuations past their deadline"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(timeouts, nil)},
	})

	output := func(id, description string, value *string) {
		awscdk.NewCfnOutput(st.scope, jsii.String(id), &awscdk.CfnOutputProps{Description: jsii.String(description), Value: value})
	}
	output("TelemetryStreamName", "The telemetry stream the stream topic rules put into, keyed by device", st.telemetry.StreamName())
	output("DeadLetterQueueUrl", "The dead-letter queue: device messages that could not be ingested", st.deadLetters.QueueUrl())
	return nil
}

// addDevicePolicy declares the IoT policy every device certificate gets,
// from the table the local broker enforces too (shared/contract/topics): each
// thing connects as itself, and each grant applies to the things of its
// kind (the thing attribute provisioning sets), on topics named by the
// thing's name or its asset attribute.
func (st *stack) addDevicePolicy() {
	arn := func(resource, name string) string {
		return fmt.Sprintf("arn:%s:iot:%s:%s:%s/%s", *awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID(), resource, name)
	}
	statements := []any{map[string]any{"Sid": "ConnectAsItself", "Effect": "Allow", "Action": "iot:Connect",
		"Resource": []string{arn("client", policyThingName)}}}
	for _, g := range topics.Grants() {
		resource := "topic"
		if g.Action == topics.Subscribe {
			resource = "topicfilter"
		}
		statements = append(statements, map[string]any{
			"Sid": g.Sid, "Effect": "Allow", "Action": string(g.Action),
			"Resource":  []string{arn(resource, policyTopic(g, st.settings.environment))},
			"Condition": map[string]any{"StringEquals": map[string]any{policyThingAttribute(spec.ThingAttrKind): g.Kind}},
		})
	}
	policy := awsiot.NewCfnPolicy(st.scope, jsii.String("DevicePolicy"), &awsiot.CfnPolicyProps{
		PolicyName:     jsii.String(spec.DevicePolicyName(st.settings.environment)),
		PolicyDocument: map[string]any{"Version": "2012-10-17", "Statement": statements},
	})
	awscdk.NewCfnOutput(st.scope, jsii.String("DevicePolicyName"), &awscdk.CfnOutputProps{
		Description: jsii.String("The IoT policy to attach to each device certificate"),
		Value:       policy.Ref(),
	})
}

// The IoT policy variables of the connected thing: its name (the client
// id it must connect with) and its attributes.
const policyThingName = "${iot:Connection.Thing.ThingName}"

func policyThingAttribute(name string) string { return "iot:Connection.Thing.Attributes[" + name + "]" }

// policyTopic is a grant's topic with the device's own names as policy
// variables, in the environment's rule names (a device's Basic Ingest
// topic names the telemetry rule).
func policyTopic(g topics.Grant, environment string) string {
	return strings.NewReplacer(topics.DeviceID, policyThingName,
		topics.Asset, "${"+policyThingAttribute(spec.ThingAttrAsset)+"}", topics.Environment, environment).Replace(g.Topic)
}

// addThingType declares the thing type every device is registered with
// (scripts/provision): the registry can then list devices by kind and by
// asset, and a fleet-wide setting has one place to go.
//
// Production keeps it when the stack is deleted: a thing type cannot be
// deleted while things use it, nor until five minutes after it was
// deprecated, so a stack deletion would fail on it anyway; development's
// goes with the stack once its things are deleted (docs/DEPLOYMENT.md).
func (st *stack) addThingType() {
	tt := awsiot.NewCfnThingType(st.scope, jsii.String("DeviceThingType"), &awsiot.CfnThingTypeProps{
		ThingTypeName: jsii.String(spec.ThingTypeName(st.settings.environment)),
		ThingTypeProperties: &awsiot.CfnThingType_ThingTypePropertiesProperty{
			ThingTypeDescription: jsii.String("Plainview field device (valve actuator or pressure gauge); thing name = MQTT client id = inventory device id"),
			SearchableAttributes: jsii.Strings(spec.ThingSearchableAttributes()...),
		},
	})
	tt.ApplyRemovalPolicy(st.removalPolicy(), nil)
	awscdk.NewCfnOutput(st.scope, jsii.String("ThingTypeName"), &awscdk.CfnOutputProps{
		Description: jsii.String("The IoT thing type of every device: go run ./scripts/provision -thing-type <this>"),
		Value:       tt.Ref(),
	})
}
