package main

import (
	"context"
	"fmt"
	"io"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/plainview/serverless/scripts/import/legacy"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/lambda/config"
)

// read loads a file named by a flag; nil when the flag was not given.
func read(path string) (*legacy.File, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One byte past the limit tells a file at the limit from a larger one.
	data, err := io.ReadAll(io.LimitReader(f, legacy.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &legacy.File{Name: path, Data: data}, nil
}

func openStore(ctx context.Context, cfg config.Config) (*store.Store, string, error) {
	if cfg.DynamoDBEndpoint != "" {
		return store.New(store.NewClient(store.LocalConfig(), cfg.DynamoDBEndpoint), cfg.TableName, nil), "at " + cfg.DynamoDBEndpoint, nil
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("aws configuration: %w", err)
	}
	return store.New(store.NewClient(aws, ""), cfg.TableName, nil), "on AWS in " + aws.Region, nil
}
