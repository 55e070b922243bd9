package stack

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/plainview/serverless/shared/api/auth"
)

// This file holds what lets the stack's dependencies fail as they would in
// production, so that what the API answers then can be tested (RestartBroker
// and StopBroker are the broker's side, in stack.go).

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
