package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	miniserver "github.com/truora/minidyn/server"

	"github.com/plainview/serverless/shared/auth"
	"github.com/plainview/serverless/shared/routes"
	"github.com/plainview/serverless/shared/store"
)

// Names and ARNs the functions are configured with; placeholders in the
// account 000000000000, as in events/.
const (
	region    = "eu-west-1"
	tableName = "plainview-coldstart"
	secretID  = "plainview/api-keys"
	topicARN  = "arn:aws:sns:" + region + ":000000000000:plainview-operators"
	// exampleKey is the placeholder key of the sample events: well formed,
	// never a real key. The harness's keyring holds it, so the authorizer
	// answers Allow, the path a real request takes.
	exampleKey = "pv_example_0000000000000000000000000000000000000000000000000000000000000000"
)

// world is what a function reaches over the network, all on 127.0.0.1: a
// DynamoDB-compatible table (minidyn, fresh and seeded for each sandbox,
// so every run sees the same data), and stand-ins for the AWS APIs the
// functions call while answering their event: Secrets Manager (the key
// file's keyring as the secret), SNS Publish and the IoT data plane's
// Publish (HTTPS, as the valves function only speaks HTTPS to it). Every
// request is logged with its time, so the harness can tell which ones a
// process made during its init.
type world struct {
	keyFile string
	caFile  string // the IoT stand-in's certificate, for AWS_CA_BUNDLE
	aws     *httptest.Server
	iot     *httptest.Server
	calls   callLog
}

// newWorld starts the stand-ins and writes the key file into dir.
func newWorld(dir string) (*world, error) {
	w := &world{keyFile: filepath.Join(dir, "keys.json"), caFile: filepath.Join(dir, "iot-ca.pem")}
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
	w.aws = httptest.NewServer(w.calls.wrap("aws", http.HandlerFunc(w.serveAWS)))
	w.iot = httptest.NewTLSServer(w.calls.wrap("iot", http.HandlerFunc(serveIoT)))
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.iot.Certificate().Raw})
	if err := os.WriteFile(w.caFile, ca, 0o600); err != nil {
		w.Close()
		return nil, fmt.Errorf("IoT stand-in certificate: %w", err)
	}
	return w, nil
}

// Close stops the stand-ins.
func (w *world) Close() {
	w.aws.Close()
	w.iot.Close()
}

// table starts a DynamoDB-compatible server with the table created and
// seeded as the local stack does it (shared/localstack). stop ends it.
func (w *world) table(ctx context.Context) (url string, stop func(), err error) {
	srv := httptest.NewServer(w.calls.wrap("dynamodb", miniserver.NewServer()))
	s := store.New(store.NewClient(store.LocalConfig(), srv.URL), tableName, nil)
	if err := s.CreateTable(ctx); err != nil {
		srv.Close()
		return "", nil, err
	}
	if err := s.Seed(ctx); err != nil {
		srv.Close()
		return "", nil, fmt.Errorf("seed: %w", err)
	}
	return srv.URL, srv.Close, nil
}

// serveAWS answers the two JSON/query APIs the functions call through
// AWS_ENDPOINT_URL_*: Secrets Manager's GetSecretValue (awsJson1.1) and
// SNS Publish (awsQuery). Anything else is an error the harness reports
// through the function's answer.
func (w *world) serveAWS(rw http.ResponseWriter, r *http.Request) {
	switch target := r.Header.Get("X-Amz-Target"); {
	case target == "secretsmanager.GetSecretValue":
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
	case target == "" && r.Method == http.MethodPost:
		if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "Publish" || r.PostForm.Get("TopicArn") != topicARN {
			http.Error(rw, "<ErrorResponse><Error><Code>InvalidParameter</Code></Error></ErrorResponse>", http.StatusBadRequest)
			return
		}
		rw.Header().Set("Content-Type", "text/xml")
		io.WriteString(rw, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>`+
			`<MessageId>00000000-0000-4000-8000-000000000001</MessageId></PublishResult>`+
			`<ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000002</RequestId></ResponseMetadata></PublishResponse>`)
	default:
		http.Error(rw, "not an API the functions call", http.StatusNotImplemented)
	}
}

// serveIoT answers the IoT data plane's Publish (POST /topics/{topic}).
func serveIoT(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/topics/") {
		http.Error(rw, `{"message":"not Publish"}`, http.StatusNotFound)
		return
	}
	io.Copy(io.Discard, io.LimitReader(r.Body, 128<<10))
	rw.Header().Set("Content-Type", "application/json")
	io.WriteString(rw, "{}")
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
func (w *world) env(t target, runtimeAPI, taskRoot, dynamoURL string) ([]string, error) {
	fn := "plainview-" + t.name
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"AWS_LAMBDA_RUNTIME_API=" + runtimeAPI,
		"AWS_LAMBDA_FUNCTION_NAME=" + fn,
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%d", t.memoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + fn,
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[$LATEST]00000000000000000000000000000000",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT=" + taskRoot,
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_SESSION_TOKEN=local",
	}
	for _, name := range t.env {
		switch name {
		case "TABLE_NAME":
			env = append(env, "TABLE_NAME="+tableName, "DYNAMODB_ENDPOINT="+dynamoURL)
		case "ENVIRONMENT":
			env = append(env, "ENVIRONMENT=production")
		case "VERSION":
			env = append(env, "VERSION=coldstart")
		case "LOG_LEVEL":
			env = append(env, "LOG_LEVEL=info")
		case "REQUIRE_KEY_FOR_READS":
			env = append(env, "REQUIRE_KEY_FOR_READS=false")
		case "CORS_ORIGINS":
			env = append(env, "CORS_ORIGINS=https://ops.example.com")
		case "IOT_ENDPOINT":
			// The function prefixes https://; its SDK trusts the
			// stand-in's certificate through AWS_CA_BUNDLE.
			env = append(env, "IOT_ENDPOINT="+strings.TrimPrefix(w.iot.URL, "https://"), "AWS_CA_BUNDLE="+w.caFile)
		case "NOTIFY_TOPIC_ARN":
			env = append(env, "NOTIFY_TOPIC_ARN="+topicARN, "AWS_ENDPOINT_URL_SNS="+w.aws.URL)
		case "KEYS_SECRET_ID":
			env = append(env, "KEYS_SECRET_ID="+secretID, "AWS_ENDPOINT_URL_SECRETS_MANAGER="+w.aws.URL)
		case "KEY_CACHE_TTL":
			env = append(env, "KEY_CACHE_TTL=60s")
		default:
			return nil, fmt.Errorf("function %s reads %s, which scripts/coldstart does not know how to set", t.name, name)
		}
	}
	return env, nil
}
