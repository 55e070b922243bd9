package notify_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/plainview/serverless/shared/notify"
)

const topicARN = "arn:aws:sns:us-east-1:123456789012:plainview-operators"

// The Publish answer as the SNS API reference shows it.
const publishResponse = `<PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/">
  <PublishResult>
    <MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId>
  </PublishResult>
  <ResponseMetadata>
    <RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId>
  </ResponseMetadata>
</PublishResponse>`

// newSNSClient returns a real SNS client sending to srv.
func newSNSClient(srv *httptest.Server) *sns.Client {
	return sns.New(sns.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:   srv.Client(),
	})
}

// snsServer answers every Publish as SNS does and passes the form each
// request carried to got.
func snsServer(t *testing.T, got chan<- url.Values) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/" {
			t.Errorf("request %s %s, want POST /", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			t.Errorf("Content-Type = %q, want a form", ct)
		}
		if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") ||
			!strings.Contains(auth, "/us-east-1/sns/aws4_request,") {
			t.Errorf("Authorization = %q, want SigV4 for sns in us-east-1", auth)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("body %q is not a form: %v", body, err)
		}
		got <- form
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, publishResponse)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSNSNotifyPublishesSubjectAndMessageToTheTopic(t *testing.T) {
	got := make(chan url.Values, 1)
	n := notify.NewSNS(newSNSClient(snsServer(t, got)), topicARN)

	const message = "Leak detected on section s-7 at 2026-11-23T20:00:00Z.\nIncident i-42 opened."
	if err := n.Notify(context.Background(), "Critical: leak on s-7", message); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	form := <-got
	want := url.Values{
		"Action":   {"Publish"},
		"Version":  {"2010-03-31"},
		"TopicArn": {topicARN},
		"Subject":  {"Critical: leak on s-7"},
		"Message":  {message},
	}
	for k, v := range want {
		if form.Get(k) != v[0] {
			t.Errorf("%s = %q, want %q", k, form.Get(k), v[0])
		}
	}
	for k := range form {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected parameter %s=%q", k, form.Get(k))
		}
	}
}

// SNS takes subjects of printable ASCII under 100 characters that start
// with a letter, digit or punctuation mark, with no line breaks or control
// characters. Notify makes any subject so rather than lose the page.
func TestSNSNotifySendsOnlySubjectsSNSTakes(t *testing.T) {
	long := strings.Repeat("x", 120)
	for _, tc := range []struct {
		name, subject string
		want          string // "" means no Subject parameter
	}{
		{"plain", "Critical: leak on s-7", "Critical: leak on s-7"},
		{"line breaks and tabs", "Critical:\r\nleak\ton s-7\n", "Critical: leak on s-7"},
		{"leading and trailing space", "   Critical  ", "Critical"},
		{"non-ASCII", "Druckabfall Zweig Nord–Süd ⚠", "Druckabfall Zweig Nord S d"},
		{"control characters", "Valve\x00 v-101\x7f stuck\x1b[0m", "Valve v-101 stuck [0m"},
		{"too long", long, long[:99]},
		{"too long, cut at a space", strings.Repeat("a", 98) + " bcd", strings.Repeat("a", 98)},
		{"nothing left", "\n\t ⚠ ", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan url.Values, 1)
			n := notify.NewSNS(newSNSClient(snsServer(t, got)), topicARN)
			if err := n.Notify(context.Background(), tc.subject, "message"); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			form := <-got
			subject, sent := form["Subject"]
			switch {
			case tc.want == "" && sent:
				t.Errorf("Subject = %q, want none", subject)
			case tc.want != "" && form.Get("Subject") != tc.want:
				t.Errorf("Subject = %q, want %q", form.Get("Subject"), tc.want)
			}
			if s := form.Get("Subject"); len(s) >= 100 {
				t.Errorf("Subject has %d characters, SNS takes under 100", len(s))
			}
		})
	}
}

func TestSNSNotifyReportsServiceErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `<ErrorResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/">
  <Error>
    <Type>Sender</Type>
    <Code>NotFound</Code>
    <Message>Topic does not exist</Message>
  </Error>
  <RequestId>9dd01905-5012-5f99-8663-4b3ecd0dfaef</RequestId>
</ErrorResponse>`)
	}))
	defer srv.Close()

	err := notify.NewSNS(newSNSClient(srv), topicARN).Notify(context.Background(), "Critical", "message")
	var notFound *types.NotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("Notify = %v, want the service's NotFound error", err)
	}
	if notFound.ErrorMessage() != "Topic does not exist" {
		t.Errorf("message = %q, want the service's", notFound.ErrorMessage())
	}
}
