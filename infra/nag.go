package main

import (
	"net/http"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/contract/routes"
)

// suppressNagFindings records, on each resource it concerns and with its
// reason, every cdk-nag AwsSolutions finding the stack accepts. Nothing is
// suppressed stack-wide: a new resource meets every rule afresh.
// awsCustomResourceProviderID is the construct id aws-cdk-lib gives the
// singleton function behind AwsCustomResource (its provider).
const awsCustomResourceProviderID = "AWS679f53fac002430cb0da5b7982bd2287"

func (st *stack) suppressNagFindings() {
	suppress := func(construct any, id, reason string, appliesTo ...any) {
		s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
		if len(appliesTo) > 0 {
			s.AppliesTo = &appliesTo
		}
		cdknag.NagSuppressions_AddResourceSuppressions(construct, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
	}

	// Routes without a key are the API's contract, not an oversight. A
	// GET route's HEAD method is the GET without its body, with the same
	// key or none.
	var methods []routes.Route
	for _, r := range routes.Table() {
		methods = append(methods, r)
		if r.Method == http.MethodGet {
			methods = append(methods, routes.Route{Method: http.MethodHead, Path: r.Path, Scope: r.Scope})
		}
	}
	for _, r := range methods {
		m, ok := st.methods[r.Pattern()]
		if !ok {
			continue // no method, nothing to suppress; the tests name the route
		}
		if spec.NeedsAuthorizer(r, st.settings.requireKeyForReads) {
			suppress(m, "AwsSolutions-COG4",
				"Customers authenticate with API keys (X-API-Key), checked by the REQUEST authorizer against hashed keys in Secrets Manager (docs/API.md); there are no Cognito users to pool.")
			continue
		}
		reason := "Public by docs/API.md: service name, health, liveness, readiness and modules need no key."
		if r.Scope == routes.Read {
			reason = "Reads are public unless the deployment sets require_key_for_reads (docs/API.md); the handler checks the scope itself when it is set."
		}
		suppress(m, "AwsSolutions-APIG4", reason)
		suppress(m, "AwsSolutions-COG4", reason)
	}

	// The ANY method of each path answers 405 from a mock integration: it
	// reaches no function and no data, and a key would change nothing.
	paths := map[string]bool{}
	for _, r := range routes.Table() {
		if m, ok := st.methods[routes.Route{Method: "ANY", Path: r.Path}.Pattern()]; ok && !paths[r.Path] {
			paths[r.Path] = true
			reason := "A method the path does not have: API Gateway answers 405 with Allow from a mock integration, reaching no function and no data."
			suppress(m, "AwsSolutions-APIG4", reason)
			suppress(m, "AwsSolutions-COG4", reason)
		}
	}

	// Every function traces with X-Ray, whose write actions have no
	// resource-level permissions.
	xray := "Resource::*"
	for name, role := range st.roles {
		suppress(role.Node().FindChild(jsii.String("DefaultPolicy")), "AwsSolutions-IAM5",
			"xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions (X-Ray active tracing)", xray)
		if name == routes.FuncReads || name == routes.FuncEvents || name == routes.FuncValves || name == routes.FuncIncidents || name == spec.FuncIngest {
			suppress(role.Node().FindChild(jsii.String("DefaultPolicy")), "AwsSolutions-IAM5",
				"Reads query the table's own global secondary indexes (gsi1..gsi3, docs/data-model.md); index/* names only those of this table.",
				&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<Table[0-9A-F]{8}\.Arn>\/index\/\*$/g`)})
		}
	}
	suppress(st.roles[routes.FuncValves].Node().FindChild(jsii.String("DefaultPolicy")), "AwsSolutions-IAM5",
		"The valves function publishes commands to the valve it actuates, any valve: the wildcard is the valve id in valves/{id}/command and nothing else.",
		&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic\/valves\/\*\/command$/g`)})

	suppress(st.deadLetters, "AwsSolutions-SQS3",
		"This is the dead-letter queue: of the telemetry stream's event source mapping, of ingest's asynchronous invokes and of the topic rules' error actions. A dead letter waits 14 days for a person, and an alarm fires on the first.")

	suppress(st.api.Node().FindChild(jsii.String("CloudWatchRole")), "AwsSolutions-IAM4",
		"API Gateway's account-level logging role uses the policy AWS documents for it (AmazonAPIGatewayPushToCloudWatchLogs); execution logging (AwsSolutions-APIG6) needs it.",
		"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
	suppress(st.api, "AwsSolutions-APIG2",
		"Every handler validates its input strictly (size limits, strict JSON, ids and enums; fuzz-tested) and answers the API's error shape; an API Gateway model would be a second copy of the contract to drift.")
	if cr := st.iotEndpointLookup; cr != nil {
		suppress(cr.Node().FindChild(jsii.String("CustomResourcePolicy")), "AwsSolutions-IAM5",
			"iot:DescribeEndpoint supports no resource-level permissions: the discovery of the account's IoT data endpoint may call it on * and nothing else.",
			"Resource::*")
		// The provider is the CDK's one function behind every
		// AwsCustomResource of the stack, created by the construct.
		provider := awscdk.Stack_Of(st.scope).Node().FindChild(jsii.String(awsCustomResourceProviderID))
		suppress(provider.Node().FindChild(jsii.String("ServiceRole")), "AwsSolutions-IAM4",
			"The CDK's AwsCustomResource provider logs with AWSLambdaBasicExecutionRole, which the construct attaches; it runs once per deploy to look up the IoT endpoint.",
			"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
	}
	suppress(st.secret, "AwsSolutions-SMG4",
		"The secret is the keyring of customer API keys (hashes and scopes), not a credential Secrets Manager can rotate: keys are rotated by issuing a new one and revoking the old with scripts/keys.")
}
