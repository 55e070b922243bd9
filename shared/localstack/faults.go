package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/plainview/serverless/shared/auth"
)

// This file holds what lets the stack's dependencies fail as they would in
// production, so that what the API answers then can be tested (RestartBroker
// and StopBroker are the broker's side, in stack.go).

// StopDynamoDB stops the DynamoDB-compatible server alone, as a DynamoDB
// outage would: the API stays up, requests in flight finish, and new
// ones cannot reach the table. The data stays in memory for StartDynamoDB.
// Stopping a stopped server does nothing.
func (s *Stack) StopDynamoDB() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.shutdownDynamoDB(ctx)
}

// StartDynamoDB starts the DynamoDB-compatible server again on the address
// it had, with the same data, as an outage ends. Starting a running server
// does nothing.
func (s *Stack) StartDynamoDB() error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.dbSrv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.dbAddr)
	if err != nil {
		return fmt.Errorf("dynamodb listener: %w", err)
	}
	s.serveDynamoDBLocked(ln)
	return nil
}

func (s *Stack) serveDynamoDB(ln net.Listener) {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.serveDynamoDBLocked(ln)
}

func (s *Stack) serveDynamoDBLocked(ln net.Listener) {
	s.dbSrv = &http.Server{Handler: s.db, ReadHeaderTimeout: 10 * time.Second}
	s.serve(s.dbSrv, ln)
}

func (s *Stack) shutdownDynamoDB(ctx context.Context) error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.dbSrv == nil {
		return nil
	}
	// Shutdown waits for requests in flight: a write the server took is
	// answered, so a client is never told of a failure that committed.
	err := s.dbSrv.Shutdown(ctx)
	s.dbSrv = nil
	if err != nil {
		return fmt.Errorf("stop dynamodb: %w", err)
	}
	return nil
}

// existingKeyFile is the key file as the authorizer reads it. The stack
// writes the file at start (ensureDevKey), so a file missing later is a
// key store that has failed, like a Secrets Manager secret that cannot be
// read: the authorizer must fail (503), not find an empty keyring and
// refuse every key as unknown (401), which would tell callers their keys
// are bad when the store is.
type existingKeyFile struct{ auth.FileStore }

func (f existingKeyFile) Load(ctx context.Context) (auth.Keyring, error) {
	// A Save replaces the file by a rename, never removes it first, so
	// the file is missing only when something took it away.
	if _, err := os.Stat(f.Path); errors.Is(err, os.ErrNotExist) {
		return auth.Keyring{}, fmt.Errorf("key file %s is missing: %w", f.Path, err)
	}
	return f.FileStore.Load(ctx)
}
