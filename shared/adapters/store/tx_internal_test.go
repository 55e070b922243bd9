package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Only a transaction cancelled because another wrote one of its items at
// once is tried again. DynamoDB Local never cancelled one so (eight
// writers at once in TestAnAnomalyIsCountedOnceHoweverOftenItIsRecorded),
// so the reasons are told apart here.
func TestOnlyATransactionConflictIsTriedAgain(t *testing.T) {
	cancelled := func(codes ...string) error {
		var reasons []types.CancellationReason
		for _, c := range codes {
			reasons = append(reasons, types.CancellationReason{Code: aws.String(c)})
		}
		return fmt.Errorf("transact write: %w", &types.TransactionCanceledException{CancellationReasons: reasons})
	}
	tests := []struct {
		err  error
		want bool
	}{
		{cancelled("None", "TransactionConflict", "None"), true},
		{cancelled("ConditionalCheckFailed", "None"), false},
		{cancelled("None", "ThrottlingError"), false},
		{errors.New("transact write: connection reset"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := transactionConflict(tt.err); got != tt.want {
			t.Errorf("transactionConflict(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
