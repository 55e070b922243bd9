package main

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/jsii-runtime-go"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/contract/topics"
)

// logRetention is how long function and access logs are kept: long enough
// to look back over a month's incidents, short enough that logs (which
// hold key ids and request ids, never keys) do not pile up.
const logRetention = awslogs.RetentionDays_ONE_MONTH

// addFunctions declares every function of spec.Functions with its own log
// group and its own role, holding only what its code calls.
func (st *stack) addFunctions() error {
	env := map[string]*string{
		spec.EnvTableName:          st.table.TableName(),
		spec.EnvEnvironment:        jsii.String(st.settings.environment),
		spec.EnvVersion:            jsii.String(st.settings.version),
		spec.EnvLogLevel:           jsii.String(st.settings.logLevel),
		spec.EnvRequireKeyForReads: jsii.String(strconv.FormatBool(st.settings.requireKeyForReads)),
		spec.EnvCORSOrigins:        jsii.String(st.settings.corsOrigins),
		spec.EnvIoTEndpoint:        st.iotEndpoint(),
		spec.EnvNotifyTopicARN:     st.topic.TopicArn(),
		spec.EnvKeysSecretID:       st.secret.SecretArn(),
		spec.EnvKeyCacheTTL:        jsii.String(st.settings.keyCacheTTL.String()),
	}

	for _, f := range spec.Functions() {
		if f.MemoryMB == 0 || f.Timeout == 0 {
			return fmt.Errorf("function %s has no memory or timeout in infra/spec", f.Name)
		}
		id := spec.LogicalID(f.Name)
		vars := map[string]*string{}
		for _, name := range f.Env {
			v, ok := env[name]
			if !ok {
				return fmt.Errorf("function %s reads %s, which the stack does not set", f.Name, name)
			}
			vars[name] = v
		}

		logs := awslogs.NewLogGroup(st.scope, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
			Retention:     logRetention,
			RemovalPolicy: st.removalPolicy(),
		})
		// A role per function, without the AWSLambdaBasicExecutionRole
		// managed policy: that one may write to every log group of the
		// account, this one to its own.
		role := awsiam.NewRole(st.scope, jsii.String(id+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("Plainview " + f.Name + " function"),
		})
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("OwnLogs"),
			Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
			Resources: &[]*string{logs.LogGroupArn()},
		}))
		if err := st.grant(f.Name, role); err != nil {
			return err
		}
		st.roles[f.Name] = role

		st.functions[f.Name] = awslambda.NewFunction(st.scope, jsii.String(id), &awslambda.FunctionProps{
			Description:  jsii.String(f.Description),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: awslambda.Architecture_ARM_64(),
			Handler:      jsii.String(spec.Handler),
			// The binary `make build` leaves in bin/<name>/bootstrap: the
			// asset is that folder, zipped.
			Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(st.settings.assetsDir, f.Name)), nil),
			MemorySize:    jsii.Number(f.MemoryMB),
			Timeout:       awscdk.Duration_Seconds(jsii.Number(f.Timeout.Seconds())),
			Role:          role,
			LogGroup:      logs,
			LoggingFormat: awslambda.LoggingFormat_JSON,
			Tracing:       awslambda.Tracing_ACTIVE,
			Environment:   &vars,
		})
	}
	return nil
}

// timeoutsIndex is the index the timeouts function queries for open
// actuations by deadline (docs/data-model.md).
const timeoutsIndex = "gsi2"

// grant gives a function's role what its code calls, and nothing else.
func (st *stack) grant(name string, role awsiam.Role) error {
	// The DynamoDB actions are what the store calls (shared/adapters/store): reads
	// are GetItem and Query, writes are transactions, conditional puts and
	// updates, and the idempotency claim's delete. Nothing scans;
	// BatchWriteItem is the ingest function's (telemetry batches).
	//
	// A transaction is no IAM action of its own (cfn-lint W3037 names
	// dynamodb:TransactWriteItems as unknown): DynamoDB authorizes each of
	// its items as PutItem, UpdateItem, DeleteItem or ConditionCheckItem.
	// The store's transactions hold puts and updates only (shared/adapters/store,
	// tx.go), so PutItem and UpdateItem cover them.
	tableReadActions := []string{"dynamodb:GetItem", "dynamodb:Query"}
	tableWriteActions := []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
	tableResources := &[]*string{st.table.TableArn(), jsii.String(*st.table.TableArn() + "/index/*")}
	allow := func(sid string, actions []string, resources *[]*string) {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String(sid),
			Actions:   jsii.Strings(actions...),
			Resources: resources,
		}))
	}
	switch name {
	case routes.FuncReads:
		// DescribeTable is the health check's (GET /health, /readyz),
		// which only this function serves.
		allow("TableRead", append(tableReadActions, "dynamodb:DescribeTable"), tableResources)
	case routes.FuncEvents:
		allow("TableRead", tableReadActions, tableResources)
	case routes.FuncValves:
		allow("TableRead", tableReadActions, tableResources)
		allow("TableWrite", tableWriteActions, &[]*string{st.table.TableArn()})
		// Commands only, to any valve: valves/{id}/command.
		allow("PublishCommands", []string{"iot:Publish"}, &[]*string{st.scope.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("iot"),
			Resource:     jsii.String("topic"),
			ResourceName: jsii.String(topics.CommandOf("*")),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})})
	case routes.FuncIncidents:
		allow("TableRead", tableReadActions, tableResources)
		allow("TableWrite", tableWriteActions, &[]*string{st.table.TableArn()})
		allow("NotifyOperators", []string{"sns:Publish"}, &[]*string{st.topic.TopicArn()})
	case spec.FuncIngest:
		// BatchWriteItem is the telemetry batches' (readings, 25 at a
		// time); ingestion deletes nothing and has no health check, so no
		// DeleteItem or DescribeTable. The stream's and the queue's
		// actions are granted where they are declared (addDevices): read
		// the telemetry stream, send to the dead-letter queue.
		allow("TableRead", tableReadActions, tableResources)
		allow("TableWrite", []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"}, &[]*string{st.table.TableArn()})
		allow("NotifyOperators", []string{"sns:Publish"}, &[]*string{st.topic.TopicArn()})
	case spec.FuncTimeouts:
		// Open actuations past their deadline are found on gsi2 only.
		allow("TableQueryDeadlines", []string{"dynamodb:Query"}, &[]*string{jsii.String(*st.table.TableArn() + "/index/" + timeoutsIndex)})
		allow("TableWrite", []string{"dynamodb:PutItem", "dynamodb:UpdateItem"}, &[]*string{st.table.TableArn()})
		allow("NotifyOperators", []string{"sns:Publish"}, &[]*string{st.topic.TopicArn()})
	case spec.FuncAuthorizer:
		allow("ReadKeys", []string{"secretsmanager:GetSecretValue"}, &[]*string{st.secret.SecretArn()})
	default:
		return fmt.Errorf("function %s: no permissions declared in infra/functions.go", name)
	}
	return nil
}

// iotEndpoint is the account's IoT data endpoint, for the valves function:
// the iot_endpoint context when a deployment names it, else found at
// deploy time by a custom resource that asks IoT Core (DescribeEndpoint,
// iot:Data-ATS, the endpoint with Amazon Trust Services certificates), as
// `aws iot describe-endpoint` would. So no deploy needs the context, and
// no stack is deployed whose valves function cannot start.
func (st *stack) iotEndpoint() *string {
	if st.settings.iotEndpoint != "" {
		return jsii.String(st.settings.iotEndpoint)
	}
	call := &customresources.AwsSdkCall{
		Service:    jsii.String("@aws-sdk/client-iot"),
		Action:     jsii.String("DescribeEndpoint"),
		Parameters: map[string]any{"endpointType": iotDataEndpointType},
		// The endpoint is the account's, in this region: the same on every
		// call, so an update never replaces the resource.
		PhysicalResourceId: customresources.PhysicalResourceId_FromResponse(jsii.String("endpointAddress")),
	}
	cr := customresources.NewAwsCustomResource(st.scope, jsii.String("IoTEndpoint"), &customresources.AwsCustomResourceProps{
		OnCreate: call,
		OnUpdate: call,
		// iot:DescribeEndpoint has no resource-level permissions.
		Policy: customresources.AwsCustomResourcePolicy_FromSdkCalls(&customresources.SdkCallsPolicyOptions{
			Resources: customresources.AwsCustomResourcePolicy_ANY_RESOURCE(),
		}),
		// The SDK of the Lambda runtime: no download from npm at deploy.
		InstallLatestAwsSdk: jsii.Bool(false),
		LogGroup: awslogs.NewLogGroup(st.scope, jsii.String("IoTEndpointLogs"), &awslogs.LogGroupProps{
			Retention:     logRetention,
			RemovalPolicy: st.removalPolicy(),
		}),
	})
	st.iotEndpointLookup = cr
	return cr.GetResponseField(jsii.String("endpointAddress"))
}

// iotDataEndpointType is the IoT data endpoint the SDK's clients trust out
// of the box (Amazon Trust Services); the legacy iot:Data endpoint has a
// Symantec certificate.
const iotDataEndpointType = "iot:Data-ATS"
