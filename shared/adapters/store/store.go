// Package store keeps Plainview's records in one DynamoDB table through
// aws-sdk-go-v2. docs/data-model.md is the design: keys, indexes and the
// access pattern behind every method here.
package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// Store reads and writes the Plainview table.
type Store struct {
	db    API
	table string
	now   func() time.Time
}

// New returns a store over the named table. now is the clock; nil means
// time.Now.
func New(db API, table string, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, table: table, now: now}
}

// NewClient returns a DynamoDB client for cfg. A non-empty endpoint points it
// at a DynamoDB-compatible server (the local stack, DynamoDB Local); such
// servers may not send the CRC32 header, so its check is off for them.
func NewClient(cfg aws.Config, endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.DisableValidateResponseChecksum = true
		}
	})
}

// LocalConfig is the AWS configuration for a local DynamoDB-compatible
// server: a fixed region and placeholder credentials, so nothing reads the
// developer's own (such servers accept any).
func LocalConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
}

// Ping checks that the table answers.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
	if err != nil {
		return fmt.Errorf("describe table %s: %w", s.table, err)
	}
	return nil
}

// Key attribute names (docs/data-model.md).
const (
	attrPK     = "pk"
	attrSK     = "sk"
	attrGSI1PK = "gsi1pk"
	attrGSI1SK = "gsi1sk"
	attrGSI2PK = "gsi2pk"
	attrGSI2SK = "gsi2sk"
	attrGSI3PK = "gsi3pk"
	attrGSI3SK = "gsi3sk"
	attrTTL    = "expires_at"
	indexGSI1  = "gsi1"
	indexGSI2  = "gsi2"
	indexGSI3  = "gsi3"
	metaSK     = "META"
)

// sortTime formats t for a sort key: fixed width, so strings sort as times.
func sortTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// keys are the key attributes every item carries; gsi attributes are empty
// (and so absent) on items that are not in that index.
type keys struct {
	PK     string `json:"pk"`
	SK     string `json:"sk"`
	GSI1PK string `json:"gsi1pk,omitempty"`
	GSI1SK string `json:"gsi1sk,omitempty"`
	GSI2PK string `json:"gsi2pk,omitempty"`
	GSI2SK string `json:"gsi2sk,omitempty"`
	GSI3PK string `json:"gsi3pk,omitempty"`
	GSI3SK string `json:"gsi3sk,omitempty"`
}

// Items are marshalled with the json tags of the domain types, so one name
// serves the API, the table and the docs.
func marshal(v any) (map[string]types.AttributeValue, error) {
	m, err := attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
	if err != nil {
		return nil, fmt.Errorf("marshal item: %w", err)
	}
	return m, nil
}

func unmarshal(m map[string]types.AttributeValue, v any) error {
	if err := attributevalue.UnmarshalMapWithOptions(m, v, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
		return fmt.Errorf("unmarshal item: %w", err)
	}
	return nil
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// get reads one item into v; domain.ErrNotFound when there is none.
func (s *Store) get(ctx context.Context, pk, sk string, v any) error {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pk, sk)})
	if err != nil {
		return fmt.Errorf("get %s %s: %w", pk, sk, err)
	}
	if out.Item == nil {
		return domain.ErrNotFound
	}
	return unmarshal(out.Item, v)
}
