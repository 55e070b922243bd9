package main

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/auth"
)

// ttlAttribute is the table's TTL attribute (docs/data-model.md).
const ttlAttribute = store.TTLAttribute

// stack is the Plainview stack while it is built: the parts each later
// part needs.
type stack struct {
	scope     awscdk.Stack // what every resource is declared in
	settings  settings
	table     awsdynamodb.Table
	secret    awssecretsmanager.Secret
	topic     awssns.Topic
	functions map[string]awslambda.Function // by function name
	roles     map[string]awsiam.Role        // by function name
	api       awsapigateway.RestApi
	methods   map[string]awsapigateway.Method // by route pattern, "GET /valves"
	// The device traffic's stream and dead-letter queue (addDevices).
	telemetry   awskinesis.Stream
	deadLetters awssqs.Queue
	// The IoT data endpoint's discovery, when no context names it.
	iotEndpointLookup customresources.AwsCustomResource
}

// newStack builds the whole system of one environment.
func newStack(scope constructs.Construct, id string, s settings) (awscdk.Stack, error) {
	st := &stack{
		scope: awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
			Description: jsii.String(fmt.Sprintf("Plainview serverless backend (%s)", s.environment)),
		}),
		settings:  s,
		functions: map[string]awslambda.Function{},
		roles:     map[string]awsiam.Role{},
		methods:   map[string]awsapigateway.Method{},
	}
	awscdk.Tags_Of(st.scope).Add(jsii.String("project"), jsii.String("plainview"), nil)
	awscdk.Tags_Of(st.scope).Add(jsii.String("environment"), jsii.String(s.environment), nil)

	if err := st.addTable(); err != nil {
		return nil, err
	}
	if err := st.addSecret(); err != nil {
		return nil, err
	}
	st.addTopic()
	if err := st.addFunctions(); err != nil {
		return nil, err
	}
	if err := st.addDevices(); err != nil {
		return nil, err
	}
	if err := st.addAPI(); err != nil {
		return nil, err
	}
	st.addMonitoring()
	st.suppressNagFindings()

	output := func(id, description string, value *string) {
		awscdk.NewCfnOutput(st.scope, jsii.String(id), &awscdk.CfnOutputProps{Description: jsii.String(description), Value: value})
	}
	output("TableName", "The DynamoDB table", st.table.TableName())
	output("KeySecretArn", "The API key secret: go run ./scripts/keys -secret-id <this>", st.secret.SecretArn())
	output("OperatorsTopicArn", "The operators' SNS topic (alarms, critical incidents and leaks)", st.topic.TopicArn())
	return st.scope, nil
}

// removalPolicy keeps production's data when the stack is deleted (or a
// change would replace the resource); development cleans up after itself.
func (st *stack) removalPolicy() awscdk.RemovalPolicy {
	if st.settings.production() {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

// addTable declares the one table of docs/data-model.md from
// store.TableDefinition, which the local stack creates too, so the keys and
// indexes cannot drift between the two.
func (st *stack) addTable() error {
	def := store.TableDefinition("plainview")
	if def.BillingMode != ddbtypes.BillingModePayPerRequest {
		return fmt.Errorf("table: billing mode %q; the stack deploys on-demand tables only", def.BillingMode)
	}
	attrTypes := map[string]ddbtypes.ScalarAttributeType{}
	for _, a := range def.AttributeDefinitions {
		attrTypes[*a.AttributeName] = a.AttributeType
	}
	keys := func(ks []ddbtypes.KeySchemaElement) (pk, sk *awsdynamodb.Attribute, err error) {
		for _, k := range ks {
			t, ok := attrTypes[*k.AttributeName]
			if !ok {
				return nil, nil, fmt.Errorf("table: key %s has no attribute definition", *k.AttributeName)
			}
			var at awsdynamodb.AttributeType
			switch t {
			case ddbtypes.ScalarAttributeTypeS:
				at = awsdynamodb.AttributeType_STRING
			case ddbtypes.ScalarAttributeTypeN:
				at = awsdynamodb.AttributeType_NUMBER
			case ddbtypes.ScalarAttributeTypeB:
				at = awsdynamodb.AttributeType_BINARY
			default:
				return nil, nil, fmt.Errorf("table: key %s has type %q", *k.AttributeName, t)
			}
			a := &awsdynamodb.Attribute{Name: k.AttributeName, Type: at}
			switch k.KeyType {
			case ddbtypes.KeyTypeHash:
				pk = a
			case ddbtypes.KeyTypeRange:
				sk = a
			}
		}
		if pk == nil {
			return nil, nil, fmt.Errorf("table: a key schema has no partition key")
		}
		return pk, sk, nil
	}

	pk, sk, err := keys(def.KeySchema)
	if err != nil {
		return err
	}
	st.table = awsdynamodb.NewTable(st.scope, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey: pk,
		SortKey:      sk,
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		// 35 days of restore points: the cheapest insurance against a bad
		// write or a bad deploy.
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// The AWS-managed key (aws/dynamodb): encrypted at rest and
		// auditable in CloudTrail, with no key policy of our own to keep.
		Encryption:          awsdynamodb.TableEncryption_AWS_MANAGED,
		TimeToLiveAttribute: jsii.String(ttlAttribute),
		RemovalPolicy:       st.removalPolicy(),
		DeletionProtection:  jsii.Bool(st.settings.production()),
	})
	for _, g := range def.GlobalSecondaryIndexes {
		pk, sk, err := keys(g.KeySchema)
		if err != nil {
			return fmt.Errorf("index %s: %w", *g.IndexName, err)
		}
		var proj awsdynamodb.ProjectionType
		switch g.Projection.ProjectionType {
		case ddbtypes.ProjectionTypeAll:
			proj = awsdynamodb.ProjectionType_ALL
		case ddbtypes.ProjectionTypeKeysOnly:
			proj = awsdynamodb.ProjectionType_KEYS_ONLY
		default:
			return fmt.Errorf("index %s: projection %q is not supported here", *g.IndexName, g.Projection.ProjectionType)
		}
		st.table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      g.IndexName,
			PartitionKey:   pk,
			SortKey:        sk,
			ProjectionType: proj,
		})
	}
	return nil
}

// addSecret declares the key secret with an empty keyring: the authorizer
// refuses anything that is not a keyring, and the key command
// (scripts/keys) adds keys to it after the deploy. No key ever passes
// through the template.
func (st *stack) addSecret() error {
	empty, err := json.Marshal(auth.Keyring{Keys: []auth.Key{}})
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	st.secret = awssecretsmanager.NewSecret(st.scope, jsii.String("ApiKeys"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Plainview API keys (hashes and scopes only); manage with go run ./scripts/keys -secret-id"),
		// Not a secret: an empty keyring, the only value the template
		// ever holds.
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(jsii.String(string(empty))),
		RemovalPolicy:     st.removalPolicy(),
	})
	return nil
}

// addTopic declares the operators' topic: alarms and the incidents
// function's critical notifications both go there.
func (st *stack) addTopic() {
	st.topic = awssns.NewTopic(st.scope, jsii.String("Operators"), &awssns.TopicProps{
		DisplayName: jsii.String("Plainview operators"),
		EnforceSSL:  jsii.Bool(true),
	})
	// The topic policy that EnforceSSL adds replaces SNS's default one, so
	// CloudWatch alarms are allowed to publish explicitly, and only this
	// account's alarms.
	st.topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AlarmsPublish"),
		Actions:    jsii.Strings("sns:Publish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Resources:  &[]*string{st.topic.TopicArn()},
		Conditions: &map[string]any{
			"ArnLike":      map[string]any{"aws:SourceArn": st.scope.FormatArn(&awscdk.ArnComponents{Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm:*"), ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME})},
			"StringEquals": map[string]any{"aws:SourceAccount": st.scope.Account()},
		},
	}))
	if e := st.settings.alarmEmail; e != "" {
		st.topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}
}
