// Package secretstore keeps the API keyring in an AWS Secrets Manager
// secret, for the authorizer function and the key command. It is apart from
// package auth so that the functions that only read a principal from the
// authorizer's context do not link the Secrets Manager client.
package secretstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/plainview/serverless/shared/api/auth"
)

// API is what Store uses of the Secrets Manager client
// (*secretsmanager.Client).
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// Store keeps the keyring as the string of a Secrets Manager secret.
// The secret must exist (the stack creates it); Save adds a new version.
type Store struct {
	client   API
	secretID string
}

// New returns the store of the secret secretID (name or ARN).
func New(client API, secretID string) *Store {
	return &Store{client: client, secretID: secretID}
}

// Load reads the current version of the secret.
func (s *Store) Load(ctx context.Context) (auth.Keyring, error) {
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.secretID)})
	if err != nil {
		return auth.Keyring{}, fmt.Errorf("get key secret %s: %w", s.secretID, err)
	}
	if out.SecretString == nil {
		return auth.Keyring{}, fmt.Errorf("key secret %s has no string value", s.secretID)
	}
	r, err := auth.ParseKeyring([]byte(*out.SecretString))
	if err != nil {
		return auth.Keyring{}, fmt.Errorf("key secret %s: %w", s.secretID, err)
	}
	return r, nil
}

// Save stores r as a new current version of the secret.
func (s *Store) Save(ctx context.Context, r auth.Keyring) error {
	data, err := r.Encode()
	if err != nil {
		return err
	}
	_, err = s.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(s.secretID),
		SecretString: aws.String(string(data)),
	})
	if err != nil {
		return fmt.Errorf("put key secret %s: %w", s.secretID, err)
	}
	return nil
}
