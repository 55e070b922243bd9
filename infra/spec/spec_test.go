package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/contract/routes"
)

// apiGatewayTimeout is API Gateway's integration timeout: a function
// behind the API that runs longer has lost its caller already.
const apiGatewayTimeout = 29 * time.Second

func TestEveryRouteFunctionIsDeclaredAndSized(t *testing.T) {
	declared := map[string]Function{}
	for _, f := range Functions() {
		if _, dup := declared[f.Name]; dup {
			t.Errorf("function %s declared twice", f.Name)
		}
		declared[f.Name] = f
		if f.MemoryMB < 128 || f.MemoryMB > 10240 {
			t.Errorf("%s: %d MB is not a Lambda memory size", f.Name, f.MemoryMB)
		}
		if f.Timeout < time.Second || f.Timeout%time.Second != 0 {
			t.Errorf("%s: timeout %v is not whole seconds", f.Name, f.Timeout)
		}
	}
	for _, name := range routes.Functions(routes.Table()) {
		f, ok := declared[name]
		if !ok || f.MemoryMB == 0 {
			t.Errorf("the route table's function %s has no size in infra/spec", name)
			continue
		}
		// A streamed integration may run 15 minutes; the stream ends
		// itself before the function's timeout (httpapi.StreamConfig).
		if routes.Streams(routes.Table(), name) {
			if f.Timeout != StreamTimeout {
				t.Errorf("%s streams: timeout %v, want the streamed integration's %v", name, f.Timeout, StreamTimeout)
			}
			continue
		}
		if f.Timeout >= apiGatewayTimeout {
			t.Errorf("%s: timeout %v, want under API Gateway's %v so the function's own error is logged", name, f.Timeout, apiGatewayTimeout)
		}
	}
	if a, ok := declared[FuncAuthorizer]; !ok || a.Timeout >= apiGatewayTimeout {
		t.Errorf("the authorizer is missing or may outlive the request: %+v", a)
	}
}

// A function added to functions/ must be deployed, or named as pending
// with what will deploy it.
func TestEveryFunctionDirectoryIsDeployedOrPending(t *testing.T) {
	dirs, err := os.ReadDir("../../functions")
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, d := range dirs {
		if d.IsDir() {
			onDisk = append(onDisk, d.Name())
		}
	}
	var known []string
	for _, f := range Functions() {
		known = append(known, f.Name)
		if _, pending := Pending()[f.Name]; pending {
			t.Errorf("%s is deployed and still listed as pending", f.Name)
		}
	}
	for name := range Pending() {
		known = append(known, name)
	}
	sort.Strings(onDisk)
	sort.Strings(known)
	if !slices.Equal(onDisk, known) {
		t.Errorf("functions/ holds %v; infra/spec deploys or names as pending %v", onDisk, known)
	}
}

// getenv matches the variables a function's code reads.
var getenv = regexp.MustCompile(`[gG]etenv\("([A-Z0-9_]+)"\)`)

func readsOf(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range getenv.FindAllStringSubmatch(string(b), -1) {
		names = append(names, m[1])
	}
	return names
}

// Each function gets exactly the variables its code reads (function.Start
// runs function.Setup): a variable read and not set is a function that
// cannot start; one set and not read is an ARN or a setting where it does
// not belong.
func TestEnvironmentIsWhatTheCodeReads(t *testing.T) {
	shared := readsOf(t, "../../shared/lambda/config/config.go")
	for _, f := range Functions() {
		main := filepath.Join("../../functions", f.Name, "main.go")
		reads := readsOf(t, main)
		b, _ := os.ReadFile(main)
		if strings.Contains(string(b), "function.Setup(") || strings.Contains(string(b), "function.Start(") {
			reads = append(reads, shared...)
		}
		// notify.Operators reads the operators' topic for it.
		if strings.Contains(string(b), "notify.Operators(") {
			reads = append(reads, readsOf(t, "../../shared/adapters/notify/sns.go")...)
		}
		// Lambda itself sets the region and the role's credentials
		// (config.AWS reads them); a stack may not.
		lambdaSets := []string{"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
		var want []string
		for _, name := range reads {
			if name != EnvDynamoDBEndpoint && !slices.Contains(lambdaSets, name) && !slices.Contains(want, name) {
				want = append(want, name)
			}
		}
		sort.Strings(want)
		got := slices.Clone(f.Env)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the stack sets %v; its code reads %v", f.Name, got, want)
		}
	}
}

func TestGatewayResponsesAnswerTheErrorShape(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range GatewayResponses() {
		if seen[g.Type] {
			t.Errorf("%s twice", g.Type)
		}
		seen[g.Type] = true
		// API Gateway's own message arrives JSON-quoted.
		body := strings.ReplaceAll(g.Template(), "$context.error.messageString", `"Missing \"Authentication\" Token"`)
		var shape struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&shape); err != nil || shape.Error.Code != g.Code || shape.Error.Message == "" {
			t.Errorf("%s: body %s is not the error shape with code %s: %v", g.Type, body, g.Code, err)
		}
		// VTL would read $ and # in a fixed message as code.
		if strings.ContainsAny(g.Message, "$#") {
			t.Errorf("%s: message %q holds VTL syntax", g.Type, g.Message)
		}
		if (g.Status == 429 || g.Status == 503) != (g.RetryAfter != "") {
			t.Errorf("%s: status %d with Retry-After %q; docs/API.md gives 429 and 503 a Retry-After", g.Type, g.Status, g.RetryAfter)
		}
	}
	for typ, status := range map[string]int{
		"UNAUTHORIZED": 401, "ACCESS_DENIED": 403, "MISSING_AUTHENTICATION_TOKEN": 404, "THROTTLED": 429,
		"REQUEST_TOO_LARGE": 413, "INTEGRATION_TIMEOUT": 504, "AUTHORIZER_FAILURE": 503, "DEFAULT_4XX": 0, "DEFAULT_5XX": 0,
	} {
		i := slices.IndexFunc(GatewayResponses(), func(g GatewayResponse) bool { return g.Type == typ })
		if i < 0 || GatewayResponses()[i].Status != status {
			t.Errorf("%s: missing, or not answered with %d", typ, status)
		}
	}
}

func TestLogicalID(t *testing.T) {
	for in, want := range map[string]string{
		"reads": "Reads", "key-rotation": "KeyRotation", "default_4xx": "Default4xx", "get /valves/{id}": "GetValvesId",
	} {
		if got := LogicalID(in); got != want {
			t.Errorf("LogicalID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNeedsAuthorizer(t *testing.T) {
	for _, c := range []struct {
		scope        routes.Scope
		keyForReads  bool
		wantAuthoriz bool
	}{
		{routes.Public, false, false}, {routes.Public, true, false},
		{routes.Read, false, false}, {routes.Read, true, true},
		{routes.ValvesActuate, false, true}, {routes.IncidentsWrite, false, true}, {routes.AlertsWrite, true, true},
	} {
		if got := NeedsAuthorizer(routes.Route{Scope: c.scope}, c.keyForReads); got != c.wantAuthoriz {
			t.Errorf("scope %q, key for reads %v: authorizer %v, want %v", c.scope, c.keyForReads, got, c.wantAuthoriz)
		}
	}
}

func TestCORSHeadersComeFromThePolicy(t *testing.T) {
	c, err := CORSHeaders()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{AuthorizerIdentityHeader, "Idempotency-Key", "Content-Type"} {
		if !slices.Contains(c.AllowHeaders, h) {
			t.Errorf("a page may not send %s: %v", h, c.AllowHeaders)
		}
	}
	if !slices.Contains(c.ExposeHeaders, "Retry-After") {
		t.Errorf("a page may not read Retry-After: %v", c.ExposeHeaders)
	}
	if c.MaxAge <= 0 {
		t.Errorf("preflight max age %d", c.MaxAge)
	}
}

func TestDeviceRegistryNamesKeepEnvironmentsApart(t *testing.T) {
	for _, name := range []func(string) string{DevicePolicyName, ThingTypeName} {
		dev, prod := name("development"), name("production")
		if dev == prod || !strings.Contains(dev, "development") || !strings.Contains(prod, "production") {
			t.Errorf("names %q and %q do not keep the environments apart", dev, prod)
		}
		// IoT: thing type and policy names are [a-zA-Z0-9:_-]{1,128}.
		if !regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`).MatchString(prod) {
			t.Errorf("%q is not a valid IoT name", prod)
		}
	}
	if n := len(ThingSearchableAttributes()); n == 0 || n > 3 {
		t.Errorf("%d searchable attributes; a thing type takes 1 to 3", n)
	}
}
