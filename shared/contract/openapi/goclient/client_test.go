package goclient_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/contract/openapi/goclient"
	"github.com/plainview/serverless/shared/local/stack"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// generateArgs is the go:generate line of generate.go, the one way the
// client is made, as arguments after "go".
func generateArgs(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("generate.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "//go:generate go "); ok {
			return strings.Fields(line)
		}
	}
	t.Fatal("generate.go has no //go:generate go line")
	return nil
}

// The committed client is what oapi-codegen (the version go.mod pins)
// makes of the committed openapi.yaml today: the document generates a
// client, and this one is not stale.
func TestTheClientIsWhatOAPICodegenGenerates(t *testing.T) {
	args := generateArgs(t)
	out := filepath.Join(t.TempDir(), "client.gen.go")
	i := slices.Index(args, "-o")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("the go:generate line %q names no -o file", args)
	}
	args[i+1] = out
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("client.gen.go is stale: run `make generate` (it runs go generate ./shared/contract/openapi/goclient) and commit it")
	}
}

// The generated client, used as a stranger to this code would, against the
// local stack: a read, a write with a key and an Idempotency-Key, and the
// errors an enum it knows and the server refuses, and a missing valve.
func TestTheClientWorksAgainstTheLocalStack(t *testing.T) {
	ctx := context.Background()
	endpoint, _ := dynamotest.Endpoint(t)
	table := dynamotest.TableName()
	dynamotest.DeleteAtEnd(t, store.NewClient(store.LocalConfig(), endpoint), table)
	st, err := stack.Start(ctx, stack.Config{
		DynamoEndpoint: endpoint, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), TableName: table, Version: "test",
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	key := addKey(t, st, "client", []string{"incidents:write"})

	withKey := goclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("X-API-Key", key)
		return nil
	})
	c, err := goclient.NewClientWithResponses(st.APIURL, withKey)
	if err != nil {
		t.Fatal(err)
	}

	// A read: every seed valve, its status one of the enum's words.
	valves, err := c.GetValvesWithResponse(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if valves.StatusCode() != http.StatusOK || valves.JSON200 == nil {
		t.Fatalf("GET /valves: %d %s", valves.StatusCode(), valves.Body)
	}
	var ids []string
	for _, v := range *valves.JSON200 {
		ids = append(ids, v.Id)
		if !v.Status.Valid() {
			t.Errorf("valve %s: status %q is not in the document's enum", v.Id, v.Status)
		}
	}
	for _, want := range []string{"v-101", "v-102", "v-103"} {
		if !slices.Contains(ids, want) {
			t.Errorf("GET /valves: %v, want %s among them", ids, want)
		}
	}

	// A keyed write, replayed by its Idempotency-Key.
	idem := "client-test-1"
	body := goclient.IncidentBody{Title: "Pump 3 vibration", Severity: goclient.IncidentSeverityWarning}
	created, err := c.PostIncidentsWithResponse(ctx, &goclient.PostIncidentsParams{IdempotencyKey: &idem}, body)
	if err != nil {
		t.Fatal(err)
	}
	if created.StatusCode() != http.StatusCreated || created.JSON201 == nil {
		t.Fatalf("POST /incidents: %d %s", created.StatusCode(), created.Body)
	}
	in := created.JSON201
	if in.Severity != goclient.IncidentSeverityWarning || in.Status != goclient.IncidentStatusActive || in.Version < 1 {
		t.Errorf("created %+v", in)
	}
	if created.Headers201 == nil || created.Headers201.Location != "/incidents/"+in.Id {
		t.Errorf("Location %+v, want /incidents/%s", created.Headers201, in.Id)
	}
	again, err := c.PostIncidentsWithResponse(ctx, &goclient.PostIncidentsParams{IdempotencyKey: &idem}, body)
	if err != nil {
		t.Fatal(err)
	}
	if again.StatusCode() != http.StatusCreated || again.JSON201 == nil || again.JSON201.Id != in.Id {
		t.Errorf("replay: %d %s, want the same incident %s", again.StatusCode(), again.Body, in.Id)
	}
	read, err := c.GetIncidentsByIdWithResponse(ctx, in.Id)
	if err != nil {
		t.Fatal(err)
	}
	if read.JSON200 == nil || read.JSON200.Title != body.Title {
		t.Errorf("GET /incidents/%s: %d %s", in.Id, read.StatusCode(), read.Body)
	}

	// Errors: a word the enum lacks, which the client can tell before
	// sending and the server refuses; a write without a key; a valve that
	// is not there. Each answer is the error envelope, decoded.
	bad := goclient.IncidentBody{Title: "x", Severity: "apocalyptic"}
	if bad.Severity.Valid() {
		t.Error(`the client takes "apocalyptic" as a severity`)
	}
	refused, err := c.PostIncidentsWithResponse(ctx, nil, bad)
	if err != nil {
		t.Fatal(err)
	}
	if refused.JSON400 == nil || refused.JSON400.Error.Code != "bad_request" || !strings.Contains(refused.JSON400.Error.Message, "severity") {
		t.Errorf("bad severity: %d %s, want 400 bad_request about severity", refused.StatusCode(), refused.Body)
	}
	anonymous, err := goclient.NewClientWithResponses(st.APIURL)
	if err != nil {
		t.Fatal(err)
	}
	unauth, err := anonymous.PostIncidentsWithResponse(ctx, nil, body)
	if err != nil {
		t.Fatal(err)
	}
	if unauth.JSON401 == nil || unauth.JSON401.Error.Code == "" {
		t.Errorf("no key: %d %s, want 401 with an error code", unauth.StatusCode(), unauth.Body)
	}
	missing, err := c.GetValvesByIdWithResponse(ctx, "v-999")
	if err != nil {
		t.Fatal(err)
	}
	if missing.JSON404 == nil || missing.JSON404.Error.Code != "not_found" {
		t.Errorf("GET /valves/v-999: %d %s, want 404 not_found", missing.StatusCode(), missing.Body)
	}
}

func TestMain(m *testing.M) { dynamotest.Main(m) }

// addKey adds a key to the stack's key file and returns it.
func addKey(t *testing.T, st *stack.Stack, id string, scopes []string) string {
	t.Helper()
	ctx := context.Background()
	plain, k, err := auth.Generate(id, scopes, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	file := auth.FileStore{Path: st.KeysFile}
	ring, err := file.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Add(k); err != nil {
		t.Fatal(err)
	}
	if err := file.Save(ctx, ring); err != nil {
		t.Fatal(err)
	}
	return plain
}
