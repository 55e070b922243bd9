// The artifacts we deploy, run the way Lambda runs them: every function
// built with `make build`'s flags (for this machine), started under AWS's
// Lambda Runtime Interface Emulator with the environment the stack gives
// it, and fed every sample event of events/. The table is a seeded one in
// AWS's DynamoDB Local, the other AWS APIs moto's server.
package rie_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/adapters/secretstore"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/lambda/config"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
	"github.com/plainview/serverless/shared/testkit/functiontest"
	"github.com/plainview/serverless/shared/testkit/motoserver"
	"github.com/plainview/serverless/shared/testkit/rie"
)

// root is the module root, seen from shared/testkit/rie.
const root = "../../.."

// exampleKey is the placeholder key of the sample events (events/README.md).
// The key secret in moto holds it, so the authorizer's answer is the one a
// real request with a valid key gets.
const exampleKey = "pv_example_0000000000000000000000000000000000000000000000000000000000000000"

// answers says, for every sample event, what the function must answer
// (events/README.md says the same in prose). A sample file without an
// entry here fails the test.
var answers = map[string]func(t *testing.T, payload []byte){
	"reads/get-valve.json": proxy(http.StatusOK, func(t *testing.T, r events.APIGatewayProxyResponse) {
		var v struct{ ID, Name string }
		if err := json.Unmarshal([]byte(r.Body), &v); err != nil || v.ID != "v-101" || v.Name != "Wellhead A1" {
			t.Errorf("valve = %+v (%v), want v-101 Wellhead A1; body %s", v, err, r.Body)
		}
	}),
	"reads/list-valves.json": proxy(http.StatusOK, func(t *testing.T, r events.APIGatewayProxyResponse) {
		var vs []struct{ ID string }
		if err := json.Unmarshal([]byte(r.Body), &vs); err != nil {
			t.Fatalf("body is no array: %v; %s", err, r.Body)
		}
		var ids []string
		for _, v := range vs {
			ids = append(ids, v.ID)
		}
		if want := []string{"v-101", "v-102", "v-103"}; !slices.Equal(ids, want) {
			t.Errorf("valves %q, want %q", ids, want)
		}
	}),
	// The events function answers in Lambda's streamed format (its route's
	// integration streams): a prelude, eight zero bytes, the body.
	"events/events-since-bad-cursor.json": streamed(http.StatusBadRequest, errorCode("bad_request")),
	"events/list-events.json": streamed(http.StatusOK, func(t *testing.T, r events.APIGatewayProxyResponse) {
		var l struct {
			Items      []json.RawMessage `json:"items"`
			PollCursor string            `json:"poll_cursor"`
		}
		if err := json.Unmarshal([]byte(r.Body), &l); err != nil || l.Items == nil || l.PollCursor == "" {
			t.Errorf("listing %s (%v), want items and a poll_cursor", r.Body, err)
		}
	}),
	// 202 with the actuation "sent": the command went out through the IoT
	// data plane (moto's); had the publish failed, the answer is 503.
	"valves/actuate.json": proxy(http.StatusAccepted, func(t *testing.T, r events.APIGatewayProxyResponse) {
		var a struct {
			ActuationID string `json:"actuation_id"`
			State       string `json:"state"`
		}
		if err := json.Unmarshal([]byte(r.Body), &a); err != nil || a.State != "sent" {
			t.Errorf("actuation %+v (%v), want state sent; body %s", a, err, r.Body)
		}
		if loc := header(r, "Location"); loc != "/valves/v-101/actuations/"+a.ActuationID {
			t.Errorf("Location = %q", loc)
		}
	}),
	"incidents/create-incident.json": proxy(http.StatusCreated, func(t *testing.T, r events.APIGatewayProxyResponse) {
		var in struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Version int    `json:"version"`
		}
		if err := json.Unmarshal([]byte(r.Body), &in); err != nil || in.Status != "active" || in.Version != 1 {
			t.Errorf("incident %+v (%v); body %s", in, err, r.Body)
		}
		if loc := header(r, "Location"); loc != "/incidents/"+in.ID {
			t.Errorf("Location = %q", loc)
		}
	}),
	"incidents/report-leak.json": proxy(http.StatusCreated, func(t *testing.T, r events.APIGatewayProxyResponse) {
		var alert struct {
			Section    string `json:"section"`
			Severity   string `json:"severity"`
			Status     string `json:"status"`
			IncidentID string `json:"incident_id"`
		}
		if err := json.Unmarshal([]byte(r.Body), &alert); err != nil || alert.Section != "A-North" || alert.Severity != "critical" || alert.Status != "active" || alert.IncidentID == "" {
			t.Errorf("alert %+v (%v), want A-North, critical, active, with its incident; body %s", alert, err, r.Body)
		}
	}),
	// The key secret (moto's Secrets Manager) holds the sample's key.
	"authorizer/request.json": func(t *testing.T, payload []byte) {
		var resp events.APIGatewayCustomAuthorizerResponse
		if err := json.Unmarshal(payload, &resp); err != nil {
			t.Fatalf("no authorizer answer: %v; %s", err, payload)
		}
		if len(resp.PolicyDocument.Statement) != 1 || resp.PolicyDocument.Statement[0].Effect != "Allow" {
			t.Errorf("want one Allow statement: %s", payload)
		}
	},
	// A direct invoke from a topic rule answers nothing.
	"ingest/leak.json": func(t *testing.T, payload []byte) {
		if string(payload) != "null" {
			t.Errorf("answer %s, want null", payload)
		}
	},
	// A batch of the telemetry stream: the record whose payload is not
	// JSON is dead-lettered, so no record failed.
	"ingest/telemetry-stream.json": func(t *testing.T, payload []byte) {
		var resp events.KinesisEventResponse
		if err := json.Unmarshal(payload, &resp); err != nil || resp.BatchItemFailures == nil || len(resp.BatchItemFailures) != 0 {
			t.Errorf("answer %s (%v), want an empty batchItemFailures", payload, err)
		}
	},
	// EventBridge's Scheduled Event, which the function reads nothing of.
	"timeouts/schedule.json": func(t *testing.T, payload []byte) {
		if string(payload) != "0" {
			t.Errorf("answer %s, want 0 (nothing is due in the seed data)", payload)
		}
	},
}

// The functions' table is the tests' DynamoDB Local.
func TestMain(m *testing.M) { dynamotest.Main(m) }

func TestSampleEventsUnderTheRuntimeInterfaceEmulator(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	emulator := filepath.Join(dir, "aws-lambda-rie")
	if err := rie.BuildEmulator(ctx, "go", root, emulator); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	emitted := map[string]bool{}

	for _, fn := range spec.Functions() {
		t.Run(fn.Name, func(t *testing.T) {
			bootstrap := filepath.Join(dir, fn.Name, "bootstrap")
			if err := rie.BuildFunction(ctx, "go", root, "./functions/"+fn.Name, bootstrap); err != nil {
				t.Fatal(err)
			}
			samples := sampleEvents(t, fn.Name)
			endpoint, table := w.table(t)
			own, err := rie.OwnEnv(fn.Name, fn.Env, w.values(table))
			if err != nil {
				t.Fatal(err)
			}
			env := append(rie.LambdaEnv("plainview-"+fn.Name, fn.MemoryMB, motoserver.Region, [3]string{"testing", "testing", "testing"}), own...)
			// The SDK's standard endpoint settings: DynamoDB's own, moto
			// for every other service.
			env = append(env, "AWS_ENDPOINT_URL="+w.moto.URL, config.EndpointVariable("DynamoDB")+"="+endpoint)
			sb, err := rie.Start(ctx, rie.Options{Emulator: emulator, Bootstrap: bootstrap, Env: env, Timeout: fn.Timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()

			// One sandbox, every event in turn, as a warm execution
			// environment takes them.
			for _, s := range samples {
				name := fn.Name + "/" + s.name
				check, ok := answers[name]
				if !ok {
					t.Errorf("%s: no expected answer in shared/testkit/rie/functions_test.go (answers)", name)
					continue
				}
				res, err := sb.Invoke(ctx, s.event)
				if err != nil {
					t.Fatalf("%s: %v\n%s", name, err, sb.Output())
				}
				if res.Status != http.StatusOK {
					t.Fatalf("%s: the emulator answered %d: %s\n%s", name, res.Status, res.Payload, sb.Output())
				}
				t.Run(s.name, func(t *testing.T) { check(t, res.Payload) })
			}
			if _, err := sb.InitDuration(); err != nil {
				t.Errorf("%v\n%s", err, sb.Output())
			}
			// The function's log lines reach the output through the
			// emulator's pipe, and may follow its answer: once every
			// invocation's REPORT is there (written when the function asks
			// for its next event), so are they.
			if _, err := sb.InvokeDurations(ctx, len(samples)); err != nil {
				t.Errorf("%v\n%s", err, sb.Output())
			}
			checkLogs(t, fn.Name, sb.Output())
			for _, m := range emfMetrics(t, sb.Output()) {
				emitted[m] = true
			}
		})
	}
	t.Run("authorizer with its key store down", func(t *testing.T) {
		// The key store failing is the one metric the sample events do not
		// reach (KeyStoreFailures, which an alarm watches): the secret
		// named here does not exist.
		fn := specFunction(t, spec.FuncAuthorizer)
		bootstrap := filepath.Join(dir, fn.Name, "bootstrap")
		values := w.values("unused")
		values[spec.EnvKeysSecretID] = "plainview/no-such-secret"
		own, err := rie.OwnEnv(fn.Name, fn.Env, values)
		if err != nil {
			t.Fatal(err)
		}
		env := append(rie.LambdaEnv("plainview-"+fn.Name, fn.MemoryMB, motoserver.Region, [3]string{"testing", "testing", "testing"}), own...)
		sb, err := rie.Start(ctx, rie.Options{Emulator: emulator, Bootstrap: bootstrap, Env: append(env, "AWS_ENDPOINT_URL="+w.moto.URL), Timeout: fn.Timeout})
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		res, err := sb.Invoke(ctx, sampleEvents(t, fn.Name)[0].event)
		if err != nil {
			t.Fatal(err)
		}
		var fail struct{ ErrorType, ErrorMessage string }
		if json.Unmarshal(res.Payload, &fail) != nil || fail.ErrorType == "" {
			t.Errorf("answer %d %s, want a function error (API Gateway then answers 503)", res.Status, res.Payload)
		}
		if _, err := sb.InvokeDurations(ctx, 1); err != nil {
			t.Errorf("%v\n%s", err, sb.Output())
		}
		for _, m := range emfMetrics(t, sb.Output()) {
			emitted[m] = true
		}
	})
	checkEmittedMetrics(t, emitted)
}

// updateMetrics rewrites testdata/emitted-metrics.txt from a run:
// go test ./shared/testkit/rie -run TestSampleEvents -update-metrics
var updateMetrics = flag.Bool("update-metrics", false, "rewrite testdata/emitted-metrics.txt from what the functions emitted")

// metricsFile lists every CloudWatch metric the functions emitted under the
// emulator, one a line: namespace, name, dimension names, and the
// Function dimension's value. The CDK stack's test reads it, so that no
// alarm or dashboard widget watches a metric no function sends
// (infra/metrics_test.go). This test keeps it true: a metric emitted and
// not listed, or listed and not emitted, fails here.
const metricsFile = "testdata/emitted-metrics.txt"

func checkEmittedMetrics(t *testing.T, emitted map[string]bool) {
	t.Helper()
	if t.Failed() {
		return // a function that failed may not have emitted all it does
	}
	got := slices.Sorted(maps.Keys(emitted))
	if *updateMetrics {
		if err := os.WriteFile(metricsFile, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatalf("%v: run go test ./shared/testkit/rie -run TestSampleEvents -update-metrics", err)
	}
	want := strings.Split(strings.TrimSpace(string(b)), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("the functions emitted\n%s\n%s lists\n%s\n(go test ./shared/testkit/rie -run TestSampleEvents -update-metrics rewrites it)",
			strings.Join(got, "\n"), metricsFile, strings.Join(want, "\n"))
	}
}

// emfMetrics reads the EMF documents in a sandbox's output: each metric
// as "<namespace> <name> <dimension names, comma-separated> Function=<value>".
func emfMetrics(t *testing.T, out string) []string {
	t.Helper()
	var ms []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"_aws"`) {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			continue // checkLogs reports it
		}
		raw, _ := json.Marshal(doc["_aws"])
		var meta struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name string }
			}
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Errorf("EMF directive %s: %v", raw, err)
			continue
		}
		for _, d := range meta.CloudWatchMetrics {
			for _, dims := range d.Dimensions {
				sorted := slices.Sorted(slices.Values(dims))
				fn, _ := doc["Function"].(string)
				for _, m := range d.Metrics {
					ms = append(ms, fmt.Sprintf("%s %s %s Function=%s", d.Namespace, m.Name, strings.Join(sorted, ","), fn))
				}
			}
		}
	}
	return ms
}

func specFunction(t *testing.T, name string) spec.Function {
	t.Helper()
	for _, fn := range spec.Functions() {
		if fn.Name == name {
			return fn
		}
	}
	t.Fatalf("no function %s in infra/spec", name)
	return spec.Function{}
}

type sample struct {
	name  string
	event []byte
}

// sampleEvents are the files of events/<fn>/; every function has one at
// least (the timeouts function, EventBridge's Scheduled Event).
func sampleEvents(t *testing.T, fn string) []sample {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "events", fn, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("events/%s: no sample event", fn)
	}
	var out []sample
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sample{filepath.Base(f), b})
	}
	return out
}

// Every folder of events/ is a function the stack deploys, and every
// sample file has its expected answer in answers, and no other.
func TestEverySampleEventHasAnAnswer(t *testing.T) {
	dirs, err := os.ReadDir(filepath.Join(root, "events"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fn := range spec.Functions() {
		names = append(names, fn.Name)
	}
	for _, d := range dirs {
		if d.IsDir() && !slices.Contains(names, d.Name()) {
			t.Errorf("events/%s: no function of the stack is called %s", d.Name(), d.Name())
		}
	}
	want := map[string]bool{}
	for _, name := range names {
		for _, s := range sampleEvents(t, name) {
			want[name+"/"+s.name] = true
			if _, ok := answers[name+"/"+s.name]; !ok {
				t.Errorf("%s/%s: no expected answer in answers", name, s.name)
			}
		}
	}
	for name := range answers {
		if !want[name] {
			t.Errorf("answers names %s, which is no sample event", name)
		}
	}
}

// checkLogs checks what the function wrote: JSON lines only (CloudWatch
// Logs Insights parses them), besides the emulator's own lines.
func checkLogs(t *testing.T, fn, out string) {
	t.Helper()
	var lines int
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // the emulator's log, START, END, REPORT
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Errorf("%s wrote a line that is no JSON object: %v: %s", fn, err, line)
		}
		lines++
	}
	if lines == 0 {
		t.Errorf("%s logged nothing:\n%s", fn, out)
	}
}

// world is what the functions reach: tables, and moto for the rest.
type world struct {
	moto     *motoserver.Server
	secretID string
	topicARN string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	m := motoserver.Start(t)
	cfg := m.Config()
	w := &world{moto: m, secretID: "plainview/api-keys"}

	key, err := auth.KeyFromPlaintext(exampleKey, []string{string(routes.ValvesActuate), string(routes.IncidentsWrite)}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var ring auth.Keyring
	if err := ring.Add(key); err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(cfg)
	if _, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(w.secretID), SecretString: aws.String("{}")}); err != nil {
		t.Fatal(err)
	}
	if err := secretstore.New(sm, w.secretID).Save(t.Context(), ring); err != nil {
		t.Fatal(err)
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(t.Context(), &sns.CreateTopicInput{Name: aws.String("plainview-operators")})
	if err != nil {
		t.Fatal(err)
	}
	w.topicARN = aws.ToString(topic.TopicArn)
	return w
}

// values are the functions' own variables, as the stack sets them in
// production, pointed at this world.
func (w *world) values(table string) map[string]string {
	return map[string]string{
		spec.EnvTableName:          table,
		spec.EnvEnvironment:        "production",
		spec.EnvVersion:            "rie-test",
		spec.EnvLogLevel:           "info",
		spec.EnvRequireKeyForReads: "false",
		spec.EnvCORSOrigins:        "https://ops.example.com",
		// The form of an account's endpoint; AWS_ENDPOINT_URL sends the
		// calls to moto instead.
		spec.EnvIoTEndpoint:    "a1b2c3d4e5f6g7-ats.iot." + motoserver.Region + ".amazonaws.com",
		spec.EnvNotifyTopicARN: w.topicARN,
		spec.EnvKeysSecretID:   w.secretID,
		spec.EnvKeyCacheTTL:    "60s",
	}
}

// table is a created and seeded table of the test's own, and the endpoint
// of its server: the tests' DynamoDB Local (shared/testkit/dynamotest).
func (w *world) table(t *testing.T) (endpoint, name string) {
	t.Helper()
	endpoint, cfg := dynamotest.Endpoint(t)
	db := store.NewClient(cfg, endpoint)
	name = dynamotest.TableName()
	dynamotest.DeleteAtEnd(t, db, name)
	s := store.New(db, name, nil)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(ctx); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return endpoint, name
}

// proxy checks an API Gateway proxy answer: the status, JSON, then more.
func proxy(status int, more func(*testing.T, events.APIGatewayProxyResponse)) func(*testing.T, []byte) {
	return func(t *testing.T, payload []byte) {
		var r events.APIGatewayProxyResponse
		if err := json.Unmarshal(payload, &r); err != nil {
			t.Fatalf("no proxy answer: %v; %s", err, payload)
		}
		checkProxy(t, r, status, more)
	}
}

// streamed checks a streamed answer as API Gateway reads it (the prelude
// up to eight zero bytes, then the body), then as proxy does.
func streamed(status int, more func(*testing.T, events.APIGatewayProxyResponse)) func(*testing.T, []byte) {
	return func(t *testing.T, payload []byte) {
		r, err := functiontest.Unstream(payload)
		if err != nil {
			t.Fatal(err)
		}
		checkProxy(t, r, status, more)
	}
}

func checkProxy(t *testing.T, r events.APIGatewayProxyResponse, status int, more func(*testing.T, events.APIGatewayProxyResponse)) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", r.StatusCode, status, r.Body)
	}
	if ct := header(r, "Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	more(t, r)
}

func errorCode(code string) func(*testing.T, events.APIGatewayProxyResponse) {
	return func(t *testing.T, r events.APIGatewayProxyResponse) {
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil || body.Error.Code != code || body.Error.Message == "" {
			t.Errorf("error %+v (%v), want code %s with a message", body.Error, err, code)
		}
	}
}

func header(r events.APIGatewayProxyResponse, name string) string {
	if v := http.Header(r.MultiValueHeaders).Get(name); v != "" {
		return v
	}
	return r.Headers[name]
}
