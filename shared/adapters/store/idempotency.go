package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/core/domain"
)

type idemItem struct {
	keys
	domain.IdemRecord
}

func idemPK(key string) string { return "IDEM#" + key }

// ClaimIdempotency claims key for a request with the given hash. It returns
// the claim token when the caller is first (or the previous claim expired,
// or its holder died more than staleAfter ago); otherwise the record that
// is there, which the caller replays or refuses.
func (s *Store) ClaimIdempotency(ctx context.Context, key, requestHash string, ttl, staleAfter time.Duration) (claim string, existing *domain.IdemRecord, err error) {
	now := s.now()
	claim = rand.Text()
	it := idemItem{
		keys: keys{PK: idemPK(key), SK: metaSK},
		IdemRecord: domain.IdemRecord{
			State: domain.IdemPending, RequestHash: requestHash, Claim: claim, ClaimedAt: now,
			ExpiresAt: now.Add(ttl).Unix(),
		},
	}
	item, err := marshal(it)
	if err != nil {
		return "", nil, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item:      item,
		// Expired records count as absent: DynamoDB's TTL deletes lazily.
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR #exp < :now OR (#state = :pending AND #claimed < :stale)"),
		ExpressionAttributeNames: map[string]string{"#exp": attrTTL, "#state": "state", "#claimed": "claimed_at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": num(float64(now.Unix())), ":pending": str(domain.IdemPending), ":stale": timeValue(now.Add(-staleAfter)),
		},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		var cur idemItem
		if err := s.get(ctx, idemPK(key), metaSK, &cur); err != nil {
			return "", nil, fmt.Errorf("read idempotency record: %w", err)
		}
		return "", &cur.IdemRecord, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	return claim, nil, nil
}

// CompleteIdempotency stores the answer to replay for idemKey, if the claim is
// still the caller's.
func (s *Store) CompleteIdempotency(ctx context.Context, idemKey, claim string, status int, header map[string]string, body string) error {
	h, err := marshal(struct {
		H map[string]string `json:"h"`
	}{header})
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(idemPK(idemKey), metaSK),
		UpdateExpression:         aws.String("SET #state = :done, #status = :status, #header = :header, #body = :body"),
		ConditionExpression:      aws.String("#claim = :claim"),
		ExpressionAttributeNames: map[string]string{"#state": "state", "#status": "status", "#header": "header", "#body": "body", "#claim": "claim"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":done": str(domain.IdemDone), ":status": num(float64(status)), ":header": h["h"], ":body": str(body), ":claim": str(claim),
		},
	})
	if err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

// ReleaseIdempotency drops the caller's claim: a refused request stores
// nothing, and its retry is handled afresh.
func (s *Store) ReleaseIdempotency(ctx context.Context, idemKey, claim string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(idemPK(idemKey), metaSK),
		ConditionExpression:       aws.String("#claim = :claim"),
		ExpressionAttributeNames:  map[string]string{"#claim": "claim"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":claim": str(claim)},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
