package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/local/dynamolocal"
	"github.com/plainview/serverless/shared/testkit/rie"
)

// Names and ARNs the functions are configured with; placeholders in the
// account 000000000000, as in events/.
const (
	region    = "eu-west-1"
	tableName = "plainview-coldstart"
	secretID  = "plainview/api-keys"
	topicARN  = "arn:aws:sns:" + region + ":000000000000:plainview-operators"
	// iotEndpoint is a placeholder of the form of an account's IoT data
	// endpoint.
	iotEndpoint = "a1b2c3d4e5f6g7-ats.iot." + region + ".amazonaws.com"
	// exampleKey is the placeholder key of the sample events: well formed,
	// never a real key. The harness's keyring holds it, so the authorizer
	// answers Allow, the path a real request takes.
	exampleKey = "pv_example_0000000000000000000000000000000000000000000000000000000000000000"
)

// world is what a function reaches over the network, all on 127.0.0.1: a
// table in AWS's DynamoDB Local (in memory, made afresh and seeded for each
// sandbox, so every run sees the same data), and stand-ins for the AWS APIs the
// functions call while answering their event: Secrets Manager (the key
// file's keyring as the secret), SNS Publish and the IoT data plane's
// Publish.
//
// The stand-ins sit behind an HTTPS proxy (HTTPS_PROXY, which the SDK's
// transport honours), terminating TLS with a certificate for
// *.amazonaws.com from a certificate authority of the harness's own that
// the sandbox trusts (SSL_CERT_FILE). So a function reaches them at the
// real AWS host names, however it builds its SDK configuration, and a
// call the harness does not expect is answered 501 and counted, never
// sent to the internet. Every request is logged with its time, so the
// harness can tell which ones a process made during its init.
type world struct {
	db      *dynamolocal.Server
	keyFile string
	caFile  string // the harness's certificate authority, for SSL_CERT_FILE
	certDir string // an empty folder, for SSL_CERT_DIR: no other roots
	proxy   *httptest.Server
	aws     *http.Server // the stand-ins, served over the proxy's tunnels
	tunnels *connListener
	calls   callLog
}

// newWorld starts the stand-ins and writes the key file and the
// certificate authority into dir.
func newWorld(dir string) (*world, error) {
	w := &world{keyFile: filepath.Join(dir, "keys.json"), caFile: filepath.Join(dir, "ca.pem"), certDir: filepath.Join(dir, "certs")}
	key, err := auth.KeyFromPlaintext(exampleKey, []string{string(routes.ValvesActuate), string(routes.IncidentsWrite)}, nil, time.Now())
	if err != nil {
		return nil, fmt.Errorf("example key: %w", err)
	}
	var ring auth.Keyring
	if err := ring.Add(key); err != nil {
		return nil, fmt.Errorf("example key: %w", err)
	}
	if err := (auth.FileStore{Path: w.keyFile}).Save(context.Background(), ring); err != nil {
		return nil, err
	}
	if err := os.Mkdir(w.certDir, 0o700); err != nil {
		return nil, fmt.Errorf("certificate folder: %w", err)
	}
	caPEM, leaf, err := newCertificates()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(w.caFile, caPEM, 0o600); err != nil {
		return nil, fmt.Errorf("certificate authority: %w", err)
	}
	w.tunnels = newConnListener()
	w.aws = &http.Server{
		Handler:           w.calls.wrap("aws", http.HandlerFunc(w.serveAWS)),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{leaf}, NextProtos: []string{"http/1.1"}},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go w.aws.ServeTLS(w.tunnels, "", "")
	w.proxy = httptest.NewServer(http.HandlerFunc(w.connect))
	if w.db, err = dynamolocal.Start(context.Background(), dynamolocal.Options{Addr: "127.0.0.1:0"}); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// Close stops the stand-ins and DynamoDB Local.
func (w *world) Close() {
	w.proxy.Close()
	w.aws.Close()
	if w.db != nil {
		w.db.Close()
	}
}

// connect serves the proxy's CONNECT: the tunnel's far end is the
// stand-ins' TLS server, whatever host was asked for.
func (w *world) connect(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(rw, "this proxy only tunnels (CONNECT)", http.StatusMethodNotAllowed)
		return
	}
	conn, buf, err := http.NewResponseController(rw).Hijack()
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	if buf.Reader.Buffered() > 0 { // a client that spoke before the 200
		conn.Close()
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	w.tunnels.put(conn)
}

// table creates the table in DynamoDB Local and seeds it as the local
// stack does (shared/local/stack), behind an endpoint of its own that logs
// the calls. stop deletes it, so the next sandbox starts from the same
// data.
func (w *world) table(ctx context.Context) (url string, stop func(), err error) {
	target, err := neturl.Parse(w.db.URL)
	if err != nil {
		return "", nil, err
	}
	srv := httptest.NewServer(w.calls.wrap("dynamodb", httputil.NewSingleHostReverseProxy(target)))
	db := store.NewClient(store.LocalConfig(), w.db.URL)
	stop = func() {
		srv.Close()
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(tableName)})
	}
	s := store.New(db, tableName, nil)
	if err := s.CreateTable(ctx); err != nil {
		stop()
		return "", nil, err
	}
	if err := s.Seed(ctx); err != nil {
		stop()
		return "", nil, fmt.Errorf("seed: %w", err)
	}
	return srv.URL, stop, nil
}

// serveAWS answers the AWS calls the functions make while answering
// their events, told apart by host as AWS tells them: Secrets Manager's
// GetSecretValue (awsJson1.1), SNS Publish (awsQuery) and the IoT data
// plane's Publish (REST). Anything else is answered 501, which fails the
// function's answer and so the run.
func (w *world) serveAWS(rw http.ResponseWriter, r *http.Request) {
	service, _, _ := strings.Cut(r.Host, ".")
	switch {
	case service == "secretsmanager" && r.Header.Get("X-Amz-Target") == "secretsmanager.GetSecretValue":
		var in struct{ SecretId string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || in.SecretId != secretID {
			http.Error(rw, `{"__type":"ResourceNotFoundException","message":"no such secret"}`, http.StatusBadRequest)
			return
		}
		ring, err := os.ReadFile(w.keyFile)
		if err != nil {
			http.Error(rw, `{"__type":"InternalServiceError","message":"key file"}`, http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(rw).Encode(map[string]any{
			"ARN":  "arn:aws:secretsmanager:" + region + ":000000000000:secret:" + secretID + "-AbCdEf",
			"Name": secretID, "VersionId": "00000000-0000-4000-8000-000000000000", "SecretString": string(ring),
		})
	case service == "sns" && r.Method == http.MethodPost:
		if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "Publish" || r.PostForm.Get("TopicArn") != topicARN {
			http.Error(rw, "<ErrorResponse><Error><Code>InvalidParameter</Code></Error></ErrorResponse>", http.StatusBadRequest)
			return
		}
		rw.Header().Set("Content-Type", "text/xml")
		io.WriteString(rw, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>`+
			`<MessageId>00000000-0000-4000-8000-000000000001</MessageId></PublishResult>`+
			`<ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000002</RequestId></ResponseMetadata></PublishResponse>`)
	case r.Host == iotEndpoint && r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/topics/"):
		io.Copy(io.Discard, io.LimitReader(r.Body, 128<<10))
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, "{}")
	default:
		http.Error(rw, "scripts/coldstart stands in for no such call: "+r.Method+" "+r.Host+r.URL.Path, http.StatusNotImplemented)
	}
}

// callLog records when each request reached the world.
type callLog struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	at      time.Time
	service string
}

func (l *callLog) wrap(service string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.calls = append(l.calls, call{at: time.Now(), service: service})
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// between counts the requests that arrived in [from, to].
func (l *callLog) between(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		if !c.at.Before(from) && !c.at.After(to) {
			n++
		}
	}
	return n
}

// env is the environment a Lambda sandbox gives the function (the
// variables Lambda sets itself, and dummy credentials, as Lambda's are
// temporary ones in the environment: the SDK never asks IMDS), plus the
// function's own variables as the stack sets them, pointed at the world.
// The emulator hands it on to the function and adds
// AWS_LAMBDA_RUNTIME_API itself.
func (w *world) env(t target, taskRoot, dynamoURL string) ([]string, error) {
	own, err := rie.OwnEnv(t.name, t.env, map[string]string{
		"TABLE_NAME":            tableName,
		"ENVIRONMENT":           "production",
		"VERSION":               "coldstart",
		"LOG_LEVEL":             "info",
		"REQUIRE_KEY_FOR_READS": "false",
		"CORS_ORIGINS":          "https://ops.example.com",
		"IOT_ENDPOINT":          iotEndpoint,
		"NOTIFY_TOPIC_ARN":      topicARN,
		"KEYS_SECRET_ID":        secretID,
		"KEY_CACHE_TTL":         "60s",
	})
	if err != nil {
		return nil, fmt.Errorf("scripts/coldstart: %w", err)
	}
	env := append(rie.LambdaEnv("plainview-"+t.name, t.memoryMB, region, [3]string{"local", "local", "local"}),
		"LAMBDA_TASK_ROOT="+taskRoot,
		"HTTPS_PROXY="+w.proxy.URL,
		"SSL_CERT_FILE="+w.caFile,
		"SSL_CERT_DIR="+w.certDir,
	)
	if slices.Contains(t.env, "TABLE_NAME") {
		env = append(env, "DYNAMODB_ENDPOINT="+dynamoURL)
	}
	return append(env, own...), nil
}
