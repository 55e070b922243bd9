package stack

import (
	"testing"

	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// The tests share one DynamoDB Local, each stack with a table of its own;
// the tests of a restart from disk run the command itself
// (scripts/localstack).
func TestMain(m *testing.M) { dynamotest.Main(m) }
