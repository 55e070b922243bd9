package store_test

import (
	"testing"

	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// The store's tests run against AWS's DynamoDB Local, one per test binary,
// each test on a table of its own.
func TestMain(m *testing.M) { dynamotest.Main(m) }
