package secretstore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/testkit/motoserver"
)

// The tests talk to Secrets Manager as moto's server plays it, over the
// wire: the SDK's own serializer, signer and error decoding.

const secretID = "plainview/api-keys"

// testRing is a keyring of two keys, one revoked, and the plaintext of
// the good one.
func testRing(t *testing.T) (auth.Keyring, string) {
	t.Helper()
	now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	plaintext, k, err := auth.Generate("ops", []string{"read", "valves:actuate"}, []string{"v-1*"}, now)
	if err != nil {
		t.Fatal(err)
	}
	_, old, err := auth.Generate("old", []string{"admin"}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	ring := auth.Keyring{Keys: []auth.Key{k, old}}
	if err := ring.Revoke("old", now); err != nil {
		t.Fatal(err)
	}
	return ring, plaintext
}

// newSecret starts moto and creates the secret with value, as the stack
// creates it; it returns a client.
func newSecret(t *testing.T, value string) *secretsmanager.Client {
	t.Helper()
	c := secretsmanager.NewFromConfig(motoserver.Start(t).Config())
	if value != "" {
		if _, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(secretID), SecretString: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestSecretStoreRoundTrip(t *testing.T) {
	t.Parallel()
	c := newSecret(t, `{"keys":[]}`)
	s := New(c, secretID)
	ring, plaintext := testRing(t)

	if err := s.Save(t.Context(), ring); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := s.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := got.Authenticate(plaintext); err != nil {
		t.Errorf("saved key does not authenticate after a reload: %v", err)
	}
	if len(got.Keys) != 2 || !got.Keys[1].Disabled {
		t.Errorf("loaded %+v, want what was saved", got.Keys)
	}

	// What the secret holds, read past the store: the keyring, as a new
	// current version, and never a key's secret part.
	out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		t.Fatal(err)
	}
	stored := aws.ToString(out.SecretString)
	if r, err := auth.ParseKeyring([]byte(stored)); err != nil || len(r.Keys) != 2 {
		t.Errorf("SecretString is not the keyring: %v %q", err, stored)
	}
	if strings.Contains(stored, plaintext[len(plaintext)-64:] /* the 64 hex digits after pv_<id>_ */) {
		t.Error("the secret holds a key's secret part")
	}
	versions, err := c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(secretID)})
	if err != nil || len(versions.Versions) != 2 {
		t.Errorf("versions %+v (%v), want the created one and the saved one", versions, err)
	}
}

func TestSecretStoreMissingSecret(t *testing.T) {
	t.Parallel()
	s := New(newSecret(t, ""), "plainview/nope")

	_, err := s.Load(t.Context())
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), "plainview/nope") {
		t.Errorf("Load of a missing secret = %v, want ResourceNotFoundException naming the secret", err)
	}
	ring, _ := testRing(t)
	if err := s.Save(t.Context(), ring); !errors.As(err, &notFound) {
		t.Errorf("Save to a missing secret = %v, want ResourceNotFoundException", err)
	}
}

func TestSecretStoreRefusesAnInvalidSecret(t *testing.T) {
	t.Parallel()
	s := New(newSecret(t, "hunter2"), secretID)
	if r, err := s.Load(t.Context()); err == nil {
		t.Errorf("Load of a secret that is no keyring = %+v, want an error", r)
	}
}
