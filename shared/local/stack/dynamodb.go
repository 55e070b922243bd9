package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/local/dynamolocal"
)

// startDynamoDB points the stack at the DynamoDB it is given, or starts
// AWS's DynamoDB Local for it.
func (s *Stack) startDynamoDB(ctx context.Context, cfg Config) error {
	if cfg.DynamoEndpoint != "" {
		if _, err := url.Parse(cfg.DynamoEndpoint); err != nil {
			return fmt.Errorf("DynamoDB endpoint: %w", err)
		}
		if legacyFiles(cfg.DataDir) && !migrated(cfg.DataDir) {
			return fmt.Errorf("%s holds a table written by an earlier release (%s, %s): start once without DYNAMODB_ENDPOINT to migrate it into DynamoDB Local, or move those files away",
				cfg.DataDir, legacySnapshot, legacyJournal)
		}
		s.DynamoURL = cfg.DynamoEndpoint
		return nil
	}
	o := dynamolocal.Options{Addr: cfg.DynamoAddr}
	if !cfg.DynamoInMemory {
		o.DataDir = filepath.Join(cfg.DataDir, "dynamodb")
	}
	var err error
	if s.dbLog, err = os.OpenFile(filepath.Join(cfg.DataDir, "dynamodb-local.log"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600); err != nil {
		return fmt.Errorf("dynamodb local log: %w", err)
	}
	o.Log = s.dbLog
	started := time.Now()
	if s.db, err = dynamolocal.Start(ctx, o); err != nil {
		return err
	}
	s.DynamoURL = s.db.URL
	s.log.Info("dynamodb local started", "url", s.DynamoURL, "release", dynamolocal.Version, "pid", s.db.PID(),
		"data", o.DataDir, "in_memory", cfg.DynamoInMemory, "took", time.Since(started).Round(time.Millisecond).String())
	return nil
}

// DynamoPID is the process id of the stack's DynamoDB Local, or 0 when it
// uses another DynamoDB: benchmarks read its CPU time apart from ours.
func (s *Stack) DynamoPID() int {
	if s.db == nil {
		return 0
	}
	return s.db.PID()
}

func migrated(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, migratedMarker))
	return err == nil
}

// migrate moves a data folder of an earlier release into the table
// (migrate.go), once. The table is emptied first, so a migration cut
// short is redone whole.
func (s *Stack) migrate(ctx context.Context, cfg Config) error {
	if !legacyFiles(cfg.DataDir) || migrated(cfg.DataDir) {
		return nil
	}
	if s.db == nil {
		return errors.New("migrate: only into the stack's own DynamoDB Local")
	}
	s.log.Info("migrating the data folder of an earlier release", "dir", cfg.DataDir)
	db := store.NewClient(store.LocalConfig(), s.DynamoURL)
	if _, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(cfg.TableName)}); err != nil {
		return fmt.Errorf("migrate: empty the table: %w", err)
	}
	if err := s.Store.CreateTable(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	m := &migration{dir: cfg.DataDir, table: cfg.TableName, endpoint: s.DynamoURL, cfg: store.LocalConfig(),
		http: &http.Client{Timeout: time.Minute}}
	items, records, err := m.run(ctx)
	if err != nil {
		return fmt.Errorf("%w (nothing of the old files was changed; fix or move them away and start again)", err)
	}
	note := fmt.Sprintf("migrated %s: %d items, then %d journal records, at %s; %s and %s may be deleted\n",
		cfg.DataDir, items, records, time.Now().UTC().Format(time.RFC3339), legacySnapshot, legacyJournal)
	if err := os.WriteFile(filepath.Join(cfg.DataDir, migratedMarker), []byte(note), 0o600); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	s.log.Info("migrated the data folder of an earlier release", "items", items, "journal_records", records,
		"old_files", []string{legacySnapshot, legacyJournal}, "note", "the old files may be deleted")
	return nil
}
