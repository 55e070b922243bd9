package timeoutsfunc

import (
	"testing"

	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// The tests that need DynamoDB share one DynamoDB Local, started on first
// use and stopped here, each test on a table of its own.
func TestMain(m *testing.M) { dynamotest.Main(m) }
