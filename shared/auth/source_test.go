package auth

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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// testRing is a keyring of two keys, one revoked, and the plaintext of
// the good one.
func testRing(t *testing.T) (Keyring, string) {
	t.Helper()
	plaintext, k := mustGenerate(t, "ops", []string{"read", "valves:actuate"}, []string{"v-1*"})
	_, old := mustGenerate(t, "old", []string{"admin"}, nil)
	ring := Keyring{Keys: []Key{k, old}}
	if err := ring.Revoke("old", testNow); err != nil {
		t.Fatal(err)
	}
	return ring, plaintext
}

func TestFileStoreMissingFileIsAnEmptyKeyring(t *testing.T) {
	s := FileStore{Path: filepath.Join(t.TempDir(), "keys.json")}
	r, err := s.Load(t.Context())
	if err != nil || len(r.Keys) != 0 {
		t.Errorf("Load of a missing file = %+v, %v; want an empty keyring", r, err)
	}
}

func TestFileStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	// The folder need not exist: the local stack's .localstack/ may not yet.
	s := FileStore{Path: filepath.Join(dir, "new", "keys.json")}
	ring, plaintext := testRing(t)

	if err := s.Save(t.Context(), ring); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := s.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(got.Keys) != 2 || got.Keys[0].ID != "ops" || !got.Keys[1].Disabled || !got.Keys[1].DisabledAt.Equal(testNow) {
		t.Errorf("loaded %+v, want what was saved", got.Keys)
	}
	if _, err := got.Authenticate(plaintext); err != nil {
		t.Errorf("saved key does not authenticate after a reload: %v", err)
	}

	info, err := os.Stat(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v, want 0600", perm)
	}
	data, err := os.ReadFile(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), plaintext[len(plaintext)-secretLen:]) {
		t.Error("the key file holds a key's secret")
	}
	entries, _ := os.ReadDir(filepath.Dir(s.Path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d files after Save, want only the key file (no temp files left)", len(entries))
	}
}

func TestFileStoreTightensAnExistingFile(t *testing.T) {
	s := FileStore{Path: filepath.Join(t.TempDir(), "keys.json")}
	if err := os.WriteFile(s.Path, []byte(`{"keys":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ring, _ := testRing(t)
	if err := s.Save(t.Context(), ring); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode after Save = %v, want 0600", perm)
	}
}

func TestFileStoreSaveIsAllOrNothing(t *testing.T) {
	s := FileStore{Path: filepath.Join(t.TempDir(), "keys.json")}
	ring, _ := testRing(t)
	if err := s.Save(t.Context(), ring); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(s.Path)

	bad := Keyring{Keys: append(ring.Keys, ring.Keys[0])} // duplicate id
	if err := s.Save(t.Context(), bad); err == nil {
		t.Fatal("Save of an invalid keyring succeeded")
	}
	after, _ := os.ReadFile(s.Path)
	if !bytes.Equal(before, after) {
		t.Error("a refused Save changed the file")
	}

	// A reader racing with writers sees a whole keyring every time, the old
	// or the new, never a torn file.
	ctx := t.Context()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r, err := s.Load(ctx); err != nil || len(r.Keys) == 0 {
				t.Errorf("Load during Save = %d keys, %v", len(r.Keys), err)
				return
			}
		}
	}()
	for i := range 50 {
		_, k := mustGenerate(t, fmt.Sprintf("k%d", i), []string{"read"}, nil)
		if err := ring.Add(k); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, ring); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestFileStoreLoadRefusesACorruptFile(t *testing.T) {
	s := FileStore{Path: filepath.Join(t.TempDir(), "keys.json")}
	if err := os.WriteFile(s.Path, []byte(`{"keys":[{"id":"a","hash":"x","scopes":["read"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context()); err == nil || !strings.Contains(err.Error(), s.Path) {
		t.Errorf("Load of a corrupt file = %v, want an error naming the file", err)
	}
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
	s := NewSecretStore(secretsClient(srv, fakeSecretKey), fakeSecretID)
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
	if r, err := decodeKeyring([]byte(stored)); err != nil || len(r.Keys) != 2 {
		t.Errorf("SecretString is not the keyring: %v %q", err, stored)
	}
	if strings.Contains(stored, plaintext[len(plaintext)-secretLen:]) {
		t.Error("the secret holds a key's secret part")
	}
}

func TestSecretStoreMissingSecret(t *testing.T) {
	_, srv := newFakeSecretsManager(t, map[string]string{})
	s := NewSecretStore(secretsClient(srv, fakeSecretKey), "plainview/nope")

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
	s := NewSecretStore(secretsClient(srv, fakeSecretKey), fakeSecretID)
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
	s := NewSecretStore(secretsClient(srv, "not-the-secret-key"), fakeSecretID)
	if _, err := s.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Errorf("Load signed with the wrong secret key = %v, want InvalidSignatureException", err)
	}
}

// countingLoader counts its loads and how many ran at once, and gives
// ring, or err when set.
type countingLoader struct {
	mu       sync.Mutex
	ring     Keyring
	err      error
	release  chan struct{} // when set, each load waits for it
	loads    int
	inFlight int
	maxAtOne int
}

func (l *countingLoader) Load(ctx context.Context) (Keyring, error) {
	l.mu.Lock()
	l.loads++
	l.inFlight++
	l.maxAtOne = max(l.maxAtOne, l.inFlight)
	release := l.release
	l.mu.Unlock()
	if release != nil {
		<-release
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	return l.ring, l.err
}

func (l *countingLoader) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loads
}

func (l *countingLoader) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestCacheLoadsAgainAfterTTL(t *testing.T) {
	ring, _ := testRing(t)
	src := &countingLoader{ring: ring}
	clock := &fakeClock{now: testNow}
	c := NewCache(src, time.Minute, clock.Now)
	ctx := t.Context()

	for _, step := range []struct {
		advance   time.Duration
		wantLoads int
	}{
		{0, 1},                             // the first call loads
		{59 * time.Second, 1},              // younger than the ttl: cached
		{time.Second, 2},                   // ttl old: loads again
		{time.Minute - time.Nanosecond, 2}, // the new value, a nanosecond short of ttl old
		{time.Nanosecond, 3},               // ttl old again
		{10 * time.Minute, 4},              // long after: loads
		{-time.Hour, 5},                    // a clock gone back: the age is unknown, so load
		{0, 5},                             // and that value is fresh
	} {
		clock.Advance(step.advance)
		got, err := c.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if len(got.Keys) != 2 {
			t.Fatalf("Load gave %d keys, want 2", len(got.Keys))
		}
		if n := src.count(); n != step.wantLoads {
			t.Fatalf("after advancing %v: %d loads, want %d", step.advance, n, step.wantLoads)
		}
	}
}

func TestCacheWithZeroTTLAlwaysLoads(t *testing.T) {
	src := &countingLoader{}
	clock := &fakeClock{now: testNow}
	c := NewCache(src, 0, clock.Now)
	for range 3 {
		if _, err := c.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := src.count(); n != 3 {
		t.Errorf("3 calls with ttl 0 made %d loads, want 3", n)
	}
}

func TestCacheFailsClosedWhenTheReloadFails(t *testing.T) {
	ring, _ := testRing(t)
	src := &countingLoader{ring: ring}
	clock := &fakeClock{now: testNow}
	c := NewCache(src, time.Minute, clock.Now)
	ctx := t.Context()
	if _, err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}

	outage := errors.New("secrets manager unreachable")
	src.fail(outage)
	if _, err := c.Load(ctx); err != nil {
		t.Errorf("while fresh, a broken source is not asked: %v", err)
	}
	clock.Advance(time.Minute)
	if r, err := c.Load(ctx); !errors.Is(err, outage) {
		t.Errorf("stale value and a failed reload = %d keys, %v; want the error, not the stale keyring", len(r.Keys), err)
	}
	if r, err := c.Load(ctx); !errors.Is(err, outage) || src.count() != 3 {
		t.Errorf("the next call = %d keys, %v after %d loads; want it to try the source again", len(r.Keys), err, src.count())
	}

	src.fail(nil)
	if _, err := c.Load(ctx); err != nil {
		t.Errorf("after the source recovers: %v", err)
	}
}

func TestCacheFirstLoadError(t *testing.T) {
	src := &countingLoader{err: errors.New("no such secret")}
	c := NewCache(src, time.Minute, (&fakeClock{now: testNow}).Now)
	if _, err := c.Load(t.Context()); err == nil {
		t.Error("Load with a failing source and nothing cached succeeded")
	}
}

func TestCacheLoadsOneAtATime(t *testing.T) {
	for _, ttl := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("ttl ", ttl), func(t *testing.T) {
			src := &countingLoader{release: make(chan struct{})}
			c := NewCache(src, ttl, (&fakeClock{now: testNow}).Now)
			const callers = 8
			var wg sync.WaitGroup
			var failed atomic.Int32
			for range callers {
				wg.Go(func() {
					if _, err := c.Load(t.Context()); err != nil {
						failed.Add(1)
					}
				})
			}
			// Let the loads through one by one, as they come.
			go func() {
				for range callers {
					src.release <- struct{}{}
				}
			}()
			wg.Wait()
			if failed.Load() != 0 {
				t.Errorf("%d loads failed", failed.Load())
			}
			src.mu.Lock()
			defer src.mu.Unlock()
			if src.maxAtOne != 1 {
				t.Errorf("%d loads ran at once, want 1", src.maxAtOne)
			}
			if ttl > 0 && src.loads != 1 {
				t.Errorf("%d concurrent callers made %d loads, want 1: they wait for the one in flight", callers, src.loads)
			}
			if ttl == 0 && src.loads != callers {
				t.Errorf("with ttl 0, %d callers made %d loads, want %d", callers, src.loads, callers)
			}
		})
	}
}

func TestCacheWaiterGivesUpWithItsContext(t *testing.T) {
	src := &countingLoader{release: make(chan struct{})}
	c := NewCache(src, time.Minute, (&fakeClock{now: testNow}).Now)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Load(context.Background()) // holds the load until released
	}()
	for src.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting with a cancelled context = %v, want context.Canceled", err)
	}
	src.release <- struct{}{}
	<-done
}

func TestCacheWithoutAClockUsesTheTime(t *testing.T) {
	src := &countingLoader{}
	c := NewCache(src, time.Hour, nil)
	for range 2 {
		if _, err := c.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := src.count(); n != 1 {
		t.Errorf("two calls within the hour made %d loads, want 1", n)
	}
}
