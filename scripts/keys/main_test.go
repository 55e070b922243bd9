package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/plainview/serverless/shared/adapters/secretstore"
	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/testkit/motoserver"
)

var testNow = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// noAWS is the deps of a run that must not reach for AWS.
func noAWS(t *testing.T) deps {
	return deps{
		now: func() time.Time { return testNow },
		secrets: func(context.Context) (secretstore.API, error) {
			t.Error("the key file commands asked for a Secrets Manager client")
			return nil, errors.New("no AWS in this test")
		},
	}
}

// keys runs the command and returns its stdout and stderr.
func keys(t *testing.T, d deps, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, &out, &errOut, d)
	return out.String(), errOut.String(), err
}

func TestKeyLifecycle(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.json")
	d := noAWS(t)

	out, errOut, err := keys(t, d, "create", "-file", file, "-scopes", "read,valves:actuate", "-assets", "v-1*,A-North", "-id", "ops_team")
	if err != nil {
		t.Fatalf("create: %v (stderr %s)", err, errOut)
	}
	if !regexp.MustCompile(`^pv_ops_team_[0-9a-f]{64}\n$`).MatchString(out) {
		t.Fatalf("create printed %q on stdout, want the key and nothing else", out)
	}
	key := strings.TrimSpace(out)
	if !strings.Contains(errOut, "cannot be shown again") || strings.Contains(errOut, key) {
		t.Errorf("create's stderr = %q, want the once-only note and not the key", errOut)
	}

	out, _, err = keys(t, d, "list", "-file", file)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID SCOPES ASSETS CREATED DISABLED" {
		t.Fatalf("list = %q, want a header and one key", out)
	}
	if got, want := strings.Fields(lines[1]), []string{"ops_team", "read,valves:actuate", "v-1*,A-North", "2026-11-23T09:30:00Z", "no"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("list row = %q, want %q", got, want)
	}
	ring := load(t, file)
	if strings.Contains(out, ring.Keys[0].Hash) || strings.Contains(out, key) {
		t.Errorf("list shows a key or a hash: %s", out)
	}
	if _, err := ring.Authenticate(key); err != nil {
		t.Fatalf("the printed key does not authenticate: %v", err)
	}

	// Flags may follow the id.
	if _, errOut, err := keys(t, d, "revoke", "ops_team", "-file", file); err != nil {
		t.Fatalf("revoke: %v (stderr %s)", err, errOut)
	}
	if _, err := load(t, file).Authenticate(key); err != auth.ErrInvalidKey {
		t.Errorf("a revoked key authenticates: %v", err)
	}
	out, _, _ = keys(t, d, "list", "-file", file)
	if !strings.Contains(out, "2026-11-23T09:30:00Z  2026-11-23T09:30:00Z") {
		t.Errorf("list after revoke = %q, want the revocation time in DISABLED", out)
	}
}

func load(t *testing.T, file string) auth.Keyring {
	t.Helper()
	ring, err := auth.FileStore{Path: file}.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func TestCreateWithAGeneratedID(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.json")
	out, errOut, err := keys(t, noAWS(t), "create", "-file", file, "-scopes", "admin")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^pv_(k-[0-9a-f]{8})_[0-9a-f]{64}\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create printed %q, want a key with a generated id", out)
	}
	if !strings.Contains(errOut, m[1]) {
		t.Errorf("stderr %q does not name the new id %s", errOut, m[1])
	}
	list, _, _ := keys(t, noAWS(t), "list", "-file", file)
	if !strings.Contains(list, m[1]) || !strings.Contains(list, " all ") {
		t.Errorf("list = %q, want %s with assets \"all\"", list, m[1])
	}
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
}

func TestRefusals(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.json")
	if _, _, err := keys(t, noAWS(t), "create", "-file", file, "-scopes", "read", "-id", "ops"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no command", nil, "no command"},
		{"unknown command", []string{"rotate"}, `unknown command "rotate"`},
		{"unknown scope", []string{"create", "-file", file, "-scopes", "read,write"}, `unknown scope "write"`},
		{"no scopes", []string{"create", "-file", file}, "-scopes is required"},
		{"bad asset", []string{"create", "-file", file, "-scopes", "read", "-assets", "v*1"}, `asset "v*1"`},
		{"bad id", []string{"create", "-file", file, "-scopes", "read", "-id", "my key"}, "not valid"},
		{"taken id", []string{"create", "-file", file, "-scopes", "read", "-id", "ops"}, "exists"},
		{"revoke an unknown id", []string{"revoke", "-file", file, "nobody"}, `no key with id "nobody"`},
		{"revoke without an id", []string{"revoke", "-file", file}, "one key id"},
		{"revoke two ids", []string{"revoke", "-file", file, "ops", "ops"}, "one key id"},
		{"list with an argument", []string{"list", "-file", file, "ops"}, "no arguments"},
		{"both stores", []string{"list", "-file", file, "-secret-id", "plainview/api-keys"}, "-file and -secret-id both given"},
		{"unknown flag", []string{"list", "-verbose"}, "-verbose"},
		{"a flag before the command", []string{"-file", file, "list"}, "the command comes first"},
		{"list a file that is not there", []string{"list", "-file", file + ".missing"}, "no key file"},
		{"revoke in a file that is not there", []string{"revoke", "-file", file + ".missing", "ops"}, "no key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := keys(t, noAWS(t), tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("keys %v = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
			if out != "" {
				t.Errorf("a failed command printed %q on stdout", out)
			}
			if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
				t.Errorf("a failed command changed the key file")
			}
		})
	}
}

// With -secret-id the commands work on the Secrets Manager secret, here
// moto's, reached as a person's run reaches AWS: the SDK's default
// configuration, pointed at moto by the standard endpoint setting.
func TestSecretID(t *testing.T) {
	moto := motoserver.Start(t)
	moto.Setenv(t)
	d := deps{now: func() time.Time { return testNow }, secrets: awsSecrets}
	sm := secretsmanager.NewFromConfig(moto.Config())
	if _, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("plainview/api-keys"), SecretString: aws.String(`{"keys":[]}`),
	}); err != nil {
		t.Fatal(err)
	}
	// The default key file must stay untouched: run from a folder of our own.
	t.Chdir(t.TempDir())

	out, _, err := keys(t, d, "create", "-secret-id", "plainview/api-keys", "-scopes", "incidents:write", "-id", "oncall")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	key := strings.TrimSpace(out)
	list, _, err := keys(t, d, "list", "-secret-id", "plainview/api-keys")
	if err != nil || !strings.Contains(list, "oncall") {
		t.Errorf("list = %q, %v; want the new key", list, err)
	}
	ring, err := secretstore.New(sm, "plainview/api-keys").Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Authenticate(key); err != nil {
		t.Errorf("the key created in the secret does not authenticate: %v", err)
	}
	if _, err := os.Stat(defaultFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("-secret-id wrote the key file too: %v", err)
	}
	if _, _, err := keys(t, d, "list", "-secret-id", "plainview/other"); err == nil || !strings.Contains(err.Error(), "plainview/other") {
		t.Errorf("list of a missing secret = %v, want an error naming it", err)
	}
}
