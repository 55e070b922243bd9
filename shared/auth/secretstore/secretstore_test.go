package secretstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/plainview/serverless/shared/auth"
)

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

// The fake Secrets Manager: the AWS JSON 1.1 protocol as the service
// documents it, with SigV4 checked by signing the request again.
const (
	fakeRegion    = "eu-west-1"
	fakeAccessKey = "AKIDEXAMPLE"
	fakeSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	fakeSecretID  = "plainview/api-keys"
)

type fakeSecretsManager struct {
	errorf func(format string, args ...any) // where the fake's complaints go

	mu      sync.Mutex
	secrets map[string]string // secret name → current SecretString
	version int
	calls   []string // X-Amz-Target of each request
	bodies  []map[string]any
}

func newFakeSecretsManager(t *testing.T, secrets map[string]string) (*fakeSecretsManager, *httptest.Server) {
	f := &fakeSecretsManager{errorf: t.Errorf, secrets: secrets}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.errorf("read body: %v", err)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		f.errorf("request %s %s, want POST /", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.errorf("Content-Type = %q, want application/x-amz-json-1.1", ct)
	}
	if err := checkSigV4(r, body); err != nil {
		f.errorf("signature: %v", err)
		fail(w, http.StatusForbidden, "InvalidSignatureException", err.Error())
		return
	}
	var in struct {
		SecretId           string
		SecretString       *string
		ClientRequestToken string
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &in); err != nil || json.Unmarshal(body, &raw) != nil {
		f.errorf("body %s is not JSON: %v", body, err)
		fail(w, http.StatusBadRequest, "SerializationException", "bad body")
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	target := r.Header.Get("X-Amz-Target")
	f.calls = append(f.calls, target)
	f.bodies = append(f.bodies, raw)

	current, found := f.secrets[in.SecretId]
	arn := "arn:aws:secretsmanager:" + fakeRegion + ":000000000000:secret:" + in.SecretId + "-AbCdEf"
	switch target {
	case "secretsmanager.GetSecretValue":
		if !found {
			fail(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		answer(w, map[string]any{
			"ARN": arn, "Name": in.SecretId, "SecretString": current,
			"VersionId":     fmt.Sprintf("00000000-0000-4000-8000-%012d", f.version),
			"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7638857e9,
		})
	case "secretsmanager.PutSecretValue":
		if !found {
			fail(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		if in.SecretString == nil {
			fail(w, http.StatusBadRequest, "InvalidParameterException", "You must provide either SecretString or SecretBinary.")
			return
		}
		f.version++
		f.secrets[in.SecretId] = *in.SecretString
		answer(w, map[string]any{
			"ARN": arn, "Name": in.SecretId,
			"VersionId":     fmt.Sprintf("00000000-0000-4000-8000-%012d", f.version),
			"VersionStages": []string{"AWSCURRENT"},
		})
	default:
		f.errorf("unexpected X-Amz-Target %q", target)
		fail(w, http.StatusBadRequest, "UnknownOperationException", "unknown operation")
	}
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": message})
}

// checkSigV4 checks r's Authorization header as AWS would: the credential
// scope names our key, region and service, and the signature is what the
// secret key gives over the headers the client says it signed.
func checkSigV4(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return fmt.Errorf("Authorization %q is not SigV4", auth)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	wantScope := fakeAccessKey + "/" + signedAt.Format("20060102") + "/" + fakeRegion + "/secretsmanager/aws4_request"
	if fields["Credential"] != wantScope {
		return fmt.Errorf("credential %q, want %q", fields["Credential"], wantScope)
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, h := range []string{"host", "x-amz-date", "x-amz-target", "content-type"} {
		if !slices.Contains(signed, h) {
			return fmt.Errorf("header %s is not signed (%s)", h, fields["SignedHeaders"])
		}
	}

	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	again.Host = r.Host
	again.ContentLength = int64(len(body))
	for _, h := range signed {
		if h != "host" && h != "content-length" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: fakeAccessKey, SecretAccessKey: fakeSecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), "secretsmanager", fakeRegion, signedAt); err != nil {
		return err
	}
	if got := again.Header.Get("Authorization"); got != auth {
		return fmt.Errorf("signature does not match:\n got  %s\n want %s", auth, got)
	}
	return nil
}

func secretsClient(srv *httptest.Server, secretKey string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:           fakeRegion,
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(fakeAccessKey, secretKey, ""),
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
}

func TestSecretStoreRoundTrip(t *testing.T) {
	fake, srv := newFakeSecretsManager(t, map[string]string{fakeSecretID: `{"keys":[]}`})
	s := New(secretsClient(srv, fakeSecretKey), fakeSecretID)
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

	fake.mu.Lock()
	defer fake.mu.Unlock()
	wantCalls := []string{"secretsmanager.PutSecretValue", "secretsmanager.GetSecretValue"}
	if strings.Join(fake.calls, " ") != strings.Join(wantCalls, " ") {
		t.Errorf("calls = %v, want %v", fake.calls, wantCalls)
	}
	put, get := fake.bodies[0], fake.bodies[1]
	if put["SecretId"] != fakeSecretID || get["SecretId"] != fakeSecretID {
		t.Errorf("SecretId = %v / %v, want %q", put["SecretId"], get["SecretId"], fakeSecretID)
	}
	stored, _ := put["SecretString"].(string)
	if r, err := auth.ParseKeyring([]byte(stored)); err != nil || len(r.Keys) != 2 {
		t.Errorf("SecretString is not the keyring: %v %q", err, stored)
	}
	if strings.Contains(stored, plaintext[len(plaintext)-64:] /* the 64 hex digits after pv_<id>_ */) {
		t.Error("the secret holds a key's secret part")
	}
}

func TestSecretStoreMissingSecret(t *testing.T) {
	_, srv := newFakeSecretsManager(t, map[string]string{})
	s := New(secretsClient(srv, fakeSecretKey), "plainview/nope")

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
	_, srv := newFakeSecretsManager(t, map[string]string{fakeSecretID: "hunter2"})
	s := New(secretsClient(srv, fakeSecretKey), fakeSecretID)
	if r, err := s.Load(t.Context()); err == nil {
		t.Errorf("Load of a secret that is no keyring = %+v, want an error", r)
	}
}

func TestFakeSecretsManagerChecksTheSignature(t *testing.T) {
	// The fake must be able to tell a bad signature, or the tests above
	// prove nothing about signing. Its complaints are dropped so the expected
	// complaint does not fail this test.
	fake, srv := newFakeSecretsManager(t, map[string]string{fakeSecretID: `{"keys":[]}`})
	fake.errorf = func(string, ...any) {}
	s := New(secretsClient(srv, "not-the-secret-key"), fakeSecretID)
	if _, err := s.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Errorf("Load signed with the wrong secret key = %v, want InvalidSignatureException", err)
	}
}
