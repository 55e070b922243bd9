package publish_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane/types"
	"github.com/aws/smithy-go"

	"github.com/plainview/serverless/shared/adapters/publish"
)

const (
	accessKeyID     = "AKIDEXAMPLE"
	secretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	// maxAttempts is how often the test clients try a retryable failure.
	maxAttempts = 2
)

// newIoTClient returns a real IoT data plane client sending to srv, with
// static credentials and retries that do not wait.
func newIoTClient(srv *httptest.Server) *iotdataplane.Client {
	return iotdataplane.New(iotdataplane.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, ""),
		HTTPClient:   srv.Client(),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	})
}

// checkSigV4 checks that r, as received, carries a valid SigV4 signature
// by the test credentials for service in us-east-1: it signs the same
// request again and compares.
func checkSigV4(t *testing.T, r *http.Request, body []byte, service string) {
	t.Helper()
	auth := r.Header.Get("Authorization")
	scope := "AWS4-HMAC-SHA256 Credential=" + accessKeyID + "/"
	_, signed, ok := strings.Cut(auth, "SignedHeaders=")
	if !strings.HasPrefix(auth, scope) || !strings.Contains(auth, "/us-east-1/"+service+"/aws4_request,") || !ok {
		t.Errorf("Authorization = %q, want SigV4 for %s in us-east-1", auth, service)
		return
	}
	signed, _, _ = strings.Cut(signed, ",")
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		t.Errorf("X-Amz-Date: %v", err)
		return
	}
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.RequestURI, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range strings.Split(signed, ";") {
		if h != "host" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	if want := again.Header.Get("Authorization"); auth != want {
		t.Errorf("Authorization = %q,\nsigning the received request gives %q", auth, want)
	}
}

func TestIoTPublishSendsQoS1JSONToTheTopic(t *testing.T) {
	const topic = "valves/v-101/command"
	payload := []byte(`{"actuationId":"a-1","position":"closed"}`)

	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		if r.Method != http.MethodPost {
			t.Errorf("method = %s, want POST", r.Method)
		}
		// The topic is one path label: its slashes are escaped.
		if got, want := r.URL.EscapedPath(), "/topics/valves%2Fv-101%2Fcommand"; got != want {
			t.Errorf("path = %s, want %s", got, want)
		}
		q := r.URL.Query()
		if got := q.Get("qos"); got != "1" {
			t.Errorf("qos = %q, want 1", got)
		}
		if got := q.Get("contentType"); got != "application/json" {
			t.Errorf("contentType = %q, want application/json", got)
		}
		if string(body) != string(payload) {
			t.Errorf("body = %q, want %q", body, payload)
		}
		// The SDK signs for "iotdata" (its auth.go and endpoints.go),
		// although its doc.go names "iotdevicegateway".
		checkSigV4(t, r, body, "iotdata")
		// The Publish API answers 200 with an empty body.
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	p := publish.NewIoT(newIoTClient(srv))
	if err := p.Publish(context.Background(), topic, payload); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestIoTPublishReportsServiceErrors(t *testing.T) {
	// restJson1 errors: the code in the X-Amzn-ErrorType header, the
	// message in the body's "message" member.
	for _, tc := range []struct {
		name     string
		status   int
		code     string
		retried  bool
		wantType any
	}{
		{"throttled", http.StatusTooManyRequests, "ThrottlingException", true, new(*types.ThrottlingException)},
		{"unavailable", http.StatusServiceUnavailable, "ServiceUnavailableException", true, nil},
		{"unauthorized", http.StatusUnauthorized, "UnauthorizedException", false, new(*types.UnauthorizedException)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Amzn-ErrorType", tc.code)
				w.WriteHeader(tc.status)
				io.WriteString(w, `{"message":"no, not now"}`)
			}))
			defer srv.Close()

			err := publish.NewIoT(newIoTClient(srv)).Publish(context.Background(), "valves/v-101/command", []byte(`{}`))
			if err == nil {
				t.Fatal("Publish succeeded, want an error")
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.code || apiErr.ErrorMessage() != "no, not now" {
				t.Errorf("err = %v, want API error %s with the service's message", err, tc.code)
			}
			if tc.wantType != nil && !errors.As(err, tc.wantType) {
				t.Errorf("err = %v, want it to be a %T", err, tc.wantType)
			}
			want := int32(1)
			if tc.retried {
				want = maxAttempts
			}
			if n := calls.Load(); n != want {
				t.Errorf("requests = %d, want %d", n, want)
			}
		})
	}
}
