package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/domain"
	"github.com/plainview/serverless/shared/dynamotest"
	"github.com/plainview/serverless/shared/store"
)

// fakeIoT answers the IoT control plane's REST-JSON calls that
// provisioning makes, as the service documents them (paths, methods,
// query and header bindings, error type in X-Amzn-ErrorType), and keeps
// the registry they change. fail names an operation to answer with an
// AWS error instead.
type fakeIoT struct {
	t    *testing.T
	mu   sync.Mutex
	fail map[string]string // operation -> error type

	calls    []string
	things   map[string]thing
	certs    map[string]string   // id -> status
	policies map[string][]string // policy -> targets
	nextCert int

	// inventory is the table the command reads the device from: the
	// seed, in a real (local) DynamoDB.
	inventory *store.Store
}

type thing struct {
	Type       string
	Attributes map[string]string
	Principals []string
}

const (
	fakeEndpoint = "a1b2c3-ats.iot.eu-west-1.amazonaws.com"
	arnPrefix    = "arn:aws:iot:eu-west-1:000000000000:"
)

func newFakeIoT(t *testing.T) *fakeIoT {
	inv := dynamotest.Store(t)
	if err := inv.Seed(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &fakeIoT{t: t, fail: map[string]string{}, things: map[string]thing{}, certs: map[string]string{},
		policies: map[string][]string{spec.DevicePolicyName("development"): nil}, inventory: inv}
}

func (f *fakeIoT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	thingPath := regexp.MustCompile(`^/things/([^/]+)$`)
	principalsPath := regexp.MustCompile(`^/things/([^/]+)/principals$`)
	policyPath := regexp.MustCompile(`^/target-policies/([^/]+)$`)
	certPath := regexp.MustCompile(`^/certificates/([^/]+)$`)
	f.mu.Lock()
	defer f.mu.Unlock()
	// Every call the real SDK sends is signed for the iot service.
	if !strings.Contains(r.Header.Get("Authorization"), "/iot/aws4_request") {
		f.t.Errorf("%s %s: not signed for iot: %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			f.t.Errorf("%s %s: body %q is not JSON", r.Method, r.URL.Path, body)
		}
	}
	p, q := r.URL.Path, r.URL.Query()
	op := ""
	var m []string
	switch {
	case r.Method == http.MethodGet && p == "/endpoint":
		op = "DescribeEndpoint"
	case r.Method == http.MethodPost && p == "/keys-and-certificate":
		op = "CreateKeysAndCertificate"
	case thingPath.MatchString(p):
		m = thingPath.FindStringSubmatch(p)
		op = map[string]string{http.MethodGet: "DescribeThing", http.MethodPost: "CreateThing"}[r.Method]
	case principalsPath.MatchString(p):
		m = principalsPath.FindStringSubmatch(p)
		op = map[string]string{http.MethodGet: "ListThingPrincipals", http.MethodPut: "AttachThingPrincipal"}[r.Method]
	case policyPath.MatchString(p):
		m = policyPath.FindStringSubmatch(p)
		op = map[string]string{http.MethodPut: "AttachPolicy", http.MethodPost: "DetachPolicy"}[r.Method]
	case certPath.MatchString(p):
		m = certPath.FindStringSubmatch(p)
		op = map[string]string{http.MethodPut: "UpdateCertificate", http.MethodDelete: "DeleteCertificate"}[r.Method]
	}
	if op == "" {
		f.t.Errorf("unexpected call %s %s", r.Method, r.URL)
		awsError(w, http.StatusBadRequest, "InvalidRequestException", "unknown operation")
		return
	}
	f.calls = append(f.calls, op)
	if typ, ok := f.fail[op]; ok {
		awsError(w, http.StatusForbidden, typ, "injected failure of "+op)
		return
	}

	switch op {
	case "DescribeEndpoint":
		if got := q.Get("endpointType"); got != "iot:Data-ATS" {
			f.t.Errorf("endpointType %q, want iot:Data-ATS", got)
		}
		reply(w, map[string]any{"endpointAddress": fakeEndpoint})
	case "DescribeThing":
		th, ok := f.things[m[1]]
		if !ok {
			awsError(w, http.StatusNotFound, "ResourceNotFoundException", "Thing "+m[1]+" cannot be found.")
			return
		}
		reply(w, map[string]any{"thingName": m[1], "thingArn": arnPrefix + "thing/" + m[1], "thingTypeName": th.Type, "attributes": th.Attributes})
	case "CreateThing":
		if _, ok := f.things[m[1]]; ok {
			awsError(w, http.StatusConflict, "ResourceAlreadyExistsException", "exists")
			return
		}
		var req struct {
			ThingTypeName    string `json:"thingTypeName"`
			AttributePayload struct {
				Attributes map[string]string `json:"attributes"`
			} `json:"attributePayload"`
		}
		_ = json.Unmarshal(body, &req)
		f.things[m[1]] = thing{Type: req.ThingTypeName, Attributes: req.AttributePayload.Attributes}
		reply(w, map[string]any{"thingName": m[1], "thingArn": arnPrefix + "thing/" + m[1], "thingId": "id-" + m[1]})
	case "ListThingPrincipals":
		th, ok := f.things[m[1]]
		if !ok {
			awsError(w, http.StatusNotFound, "ResourceNotFoundException", "no thing")
			return
		}
		// One principal a page, so a listing of several takes pages.
		start := 0
		if tok := q.Get("nextToken"); tok != "" {
			start, _ = strconv.Atoi(tok)
		}
		out := map[string]any{"principals": th.Principals[start:min(start+1, len(th.Principals))]}
		if start+1 < len(th.Principals) {
			out["nextToken"] = strconv.Itoa(start + 1)
		}
		reply(w, out)
	case "CreateKeysAndCertificate":
		if q.Get("setAsActive") != "true" {
			f.t.Errorf("certificate created with setAsActive=%q", q.Get("setAsActive"))
		}
		f.nextCert++
		id := fmt.Sprintf("cert%04d", f.nextCert)
		f.certs[id] = "ACTIVE"
		reply(w, map[string]any{
			"certificateArn": arnPrefix + "cert/" + id, "certificateId": id,
			"certificatePem": "-----BEGIN CERTIFICATE-----\n" + id + "\n-----END CERTIFICATE-----\n",
			"keyPair":        map[string]any{"PublicKey": "public " + id, "PrivateKey": "-----BEGIN RSA PRIVATE KEY-----\n" + id + "\n-----END RSA PRIVATE KEY-----\n"},
		})
	case "AttachPolicy", "DetachPolicy":
		targets, ok := f.policies[m[1]]
		if !ok {
			awsError(w, http.StatusNotFound, "ResourceNotFoundException", "Policy "+m[1]+" cannot be found.")
			return
		}
		target, _ := in["target"].(string)
		if op == "AttachPolicy" {
			f.policies[m[1]] = append(targets, target)
		} else {
			f.policies[m[1]] = remove(targets, target)
		}
		w.WriteHeader(http.StatusOK)
	case "AttachThingPrincipal":
		th, ok := f.things[m[1]]
		if !ok {
			awsError(w, http.StatusNotFound, "ResourceNotFoundException", "no thing")
			return
		}
		th.Principals = append(th.Principals, r.Header.Get("X-Amzn-Principal"))
		f.things[m[1]] = th
		reply(w, map[string]any{})
	case "UpdateCertificate":
		f.certs[m[1]] = q.Get("newStatus")
		w.WriteHeader(http.StatusOK)
	case "DeleteCertificate":
		if f.certs[m[1]] != "INACTIVE" {
			awsError(w, http.StatusConflict, "CertificateStateException", "only an inactive certificate can be deleted")
			return
		}
		delete(f.certs, m[1])
		w.WriteHeader(http.StatusOK)
	}
}

func remove(s []string, v string) []string {
	var out []string
	for _, e := range s {
		if e != v {
			out = append(out, e)
		}
	}
	return out
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func awsError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// client is the real SDK client pointed at the fake.
func (f *fakeIoT) client(t *testing.T) func(context.Context) (IoTAPI, error) {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return func(context.Context) (IoTAPI, error) {
		return iot.New(iot.Options{
			Region:       "eu-west-1",
			BaseEndpoint: aws.String(srv.URL),
			Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
			// One attempt: an injected failure is the answer, not a retry.
			RetryMaxAttempts: 1,
		}), nil
	}
}

func provision(t *testing.T, f *fakeIoT, client func(context.Context) (IoTAPI, error), args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, &stdout, &stderr, client, func(context.Context) (Inventory, error) { return f.inventory, nil })
	return stdout.String(), err
}

func TestProvisionRegistersTheDeviceAndWritesWhatTheSimulatorNeeds(t *testing.T) {
	f := newFakeIoT(t)
	client := f.client(t)
	out := filepath.Join(t.TempDir(), "v-101")

	stdout, err := provision(t, f, client, "-device", "v-101", "-out", out)
	if err != nil {
		t.Fatal(err)
	}

	th, ok := f.things["v-101"]
	if !ok || th.Type != spec.ThingTypeName("development") || th.Attributes[spec.ThingAttrKind] != "valve" || th.Attributes[spec.ThingAttrAsset] != "v-101" {
		t.Fatalf("thing = %+v, %v", th, ok)
	}
	certArn := arnPrefix + "cert/cert0001"
	if got := f.policies[spec.DevicePolicyName("development")]; len(got) != 1 || got[0] != certArn {
		t.Errorf("policy targets %v, want [%s]", got, certArn)
	}
	if len(th.Principals) != 1 || th.Principals[0] != certArn {
		t.Errorf("thing principals %v, want [%s]", th.Principals, certArn)
	}

	key, err := os.Stat(filepath.Join(out, keyFile))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, %v; want mode 0600", key, err)
	}
	if dir, _ := os.Stat(out); dir.Mode().Perm() != 0o700 {
		t.Errorf("output folder mode %v, want 0700", dir.Mode().Perm())
	}
	for name, want := range map[string]string{keyFile: "RSA PRIVATE KEY-----\ncert0001\n", certFile: "CERTIFICATE-----\ncert0001\n"} {
		if b, err := os.ReadFile(filepath.Join(out, name)); err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s = %q, %v", name, b, err)
		}
	}
	// The devices file in the simulator's format: this device, no token.
	var devices struct {
		Devices []struct{ ID, Kind, Asset, Token string }
	}
	b, err := os.ReadFile(filepath.Join(out, devicesFile))
	if err != nil || json.Unmarshal(b, &devices) != nil || len(devices.Devices) != 1 ||
		devices.Devices[0].ID != "v-101" || devices.Devices[0].Kind != "valve" || devices.Devices[0].Token != "" {
		t.Errorf("devices file %s: %v", b, err)
	}
	cmd := fmt.Sprintf("go run ./scripts/simulator -url ssl://%s:8883 -devices %s -cert %s -key %s -ca %s", fakeEndpoint,
		filepath.Join(out, devicesFile), filepath.Join(out, certFile), filepath.Join(out, keyFile), filepath.Join(out, rootCAFile))
	if !strings.Contains(stdout, cmd) || !strings.Contains(stdout, "Thing v-101 created") || !strings.Contains(stdout, "amazontrust.com") {
		t.Errorf("output:\n%s\nwant the simulator command\n%s", stdout, cmd)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 3 {
		t.Errorf("%d files in the output folder, want 3 (no leftovers): %v", len(entries), entries)
	}
}

func TestARunAgainReusesTheThingWithANewCertificate(t *testing.T) {
	f := newFakeIoT(t)
	client := f.client(t)
	out := filepath.Join(t.TempDir(), "A-North")
	for range 2 {
		if _, err := provision(t, f, client, "-device", "A-North", "-out", out); err != nil {
			t.Fatal(err)
		}
	}
	f.calls = nil
	stdout, err := provision(t, f, client, "-device", "A-North", "-out", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.calls {
		if c == "CreateThing" {
			t.Error("an existing thing was created again")
		}
	}
	if th := f.things["A-North"]; len(th.Principals) != 3 || th.Attributes[spec.ThingAttrKind] != "gauge" {
		t.Errorf("thing = %+v, want three certificates and kind gauge", th)
	}
	// Both earlier certificates named (read over two pages), the new one in the files.
	for _, want := range []string{"Thing A-North exists", "New certificate cert0003", arnPrefix + "cert/cert0001", arnPrefix + "cert/cert0002"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output has no %q:\n%s", want, stdout)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, keyFile)); !strings.Contains(string(b), "cert0003") {
		t.Errorf("key file holds %q, want the new certificate's key", b)
	}
}

func TestAValveRegisteredThroughTheInventoryCanBeProvisioned(t *testing.T) {
	f := newFakeIoT(t)
	now := time.Now()
	ev := domain.NewEvent(domain.EventInventoryChanged, "v-200", "admin", now, map[string]string{"action": "created"})
	if err := f.inventory.CreateValve(t.Context(), domain.Valve{ID: "v-200", Name: "Bypass D4"}, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := provision(t, f, f.client(t), "-device", "v-200", "-out", t.TempDir()); err != nil {
		t.Fatalf("a registered valve: %v", err)
	}
	if th, ok := f.things["v-200"]; !ok {
		t.Errorf("no thing for v-200: %v", f.things)
	} else if th.Attributes["kind"] != domain.DeviceValve || th.Attributes["asset"] != "v-200" {
		t.Errorf("thing attributes = %v", th.Attributes)
	}
	// Retired, it is out of the inventory again.
	retired := domain.NewEvent(domain.EventInventoryChanged, "v-200", "admin", now, map[string]string{"action": "retired"})
	if err := f.inventory.RetireValve(t.Context(), "v-200", 1, now, retired); err != nil {
		t.Fatal(err)
	}
	calls := len(f.calls)
	if _, err := provision(t, f, f.client(t), "-device", "v-200", "-out", t.TempDir()); err == nil || !strings.Contains(err.Error(), "not in the inventory") {
		t.Errorf("a retired valve: %v, want a refusal", err)
	}
	if len(f.calls) != calls {
		t.Errorf("AWS was called for a retired valve: %v", f.calls[calls:])
	}
}

func TestAnIdOutsideTheInventoryIsRefusedBeforeAWSIsAsked(t *testing.T) {
	f := newFakeIoT(t)
	client := f.client(t)
	for _, id := range []string{"v-999", "", "V-101", "v-101/../x"} {
		_, err := provision(t, f, client, "-device", id, "-out", t.TempDir())
		if err == nil {
			t.Errorf("device %q accepted", id)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("AWS was called: %v", f.calls)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	f := newFakeIoT(t)
	client := f.client(t)
	for name, args := range map[string][]string{
		"environment":  {"-device", "v-101", "-environment", "staging"},
		"policy name":  {"-device", "v-101", "-policy", "my policy"},
		"thing type":   {"-device", "v-101", "-thing-type", strings.Repeat("x", 129)},
		"an operand":   {"-device", "v-101", "extra"},
		"unknown flag": {"-device", "v-101", "-region", "eu-west-1"},
	} {
		if _, err := provision(t, f, client, append(args, "-out", t.TempDir())...); err == nil {
			t.Errorf("%s: %v accepted", name, args)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("AWS was called: %v", f.calls)
	}
}

func TestAnAWSErrorLeavesNoCertificateAndNoFiles(t *testing.T) {
	for _, op := range []string{"AttachPolicy", "AttachThingPrincipal"} {
		t.Run(op, func(t *testing.T) {
			f := newFakeIoT(t)
			f.fail[op] = "UnauthorizedException"
			out := filepath.Join(t.TempDir(), "v-102")

			_, err := provision(t, f, f.client(t), "-device", "v-102", "-out", out)

			if err == nil || !strings.Contains(err.Error(), "UnauthorizedException") || !strings.Contains(err.Error(), "deleted again") {
				t.Fatalf("err = %v, want the AWS error and the clean-up", err)
			}
			if len(f.certs) != 0 {
				t.Errorf("certificates left: %v", f.certs)
			}
			if got := f.policies[spec.DevicePolicyName("development")]; len(got) != 0 {
				t.Errorf("the policy is still attached to %v", got)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("files written: %v", entries)
			}
		})
	}
}

func TestAMissingPolicyIsReportedByName(t *testing.T) {
	f := newFakeIoT(t)
	_, err := provision(t, f, f.client(t), "-device", "v-101", "-environment", "production", "-out", t.TempDir())
	// The fake holds only development's policy: production's stack is not deployed.
	if err == nil || !strings.Contains(err.Error(), spec.DevicePolicyName("production")) || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("err = %v", err)
	}
	if len(f.certs) != 0 {
		t.Errorf("certificates left: %v", f.certs)
	}
}

func TestAThingOfAnotherTypeIsNotTakenOver(t *testing.T) {
	f := newFakeIoT(t)
	f.things["v-101"] = thing{Type: "someone-else", Attributes: map[string]string{"kind": "valve", "asset": "v-101"}}
	_, err := provision(t, f, f.client(t), "-device", "v-101", "-out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "someone-else") {
		t.Errorf("err = %v, want a refusal naming the other type", err)
	}
	for _, c := range f.calls {
		if c == "CreateKeysAndCertificate" {
			t.Error("a certificate was created for a thing that was refused")
		}
	}
}

// The command printed must be one the simulator takes: each flag it uses
// is declared in scripts/simulator/main.go.
func TestThePrintedCommandUsesTheSimulatorsFlags(t *testing.T) {
	src := filepath.Join("..", "simulator", "main.go")
	file, err := parser.ParseFile(token.NewFileSet(), src, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		// fs.String("cert", ...), fs.Duration("duration", ...): the flag set's declarations.
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "fs" {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil {
					declared[v] = true
				}
			}
		}
		return true
	})
	var buf bytes.Buffer
	dev := domain.Device{ID: "v-101", Kind: domain.DeviceValve, Asset: "v-101"}
	report(&buf, "out", dev, "tt", "pol", Result{Endpoint: fakeEndpoint, CertificateID: "c"})
	line := buf.String()[strings.Index(buf.String(), "go run ./scripts/simulator"):]
	for _, flagName := range regexp.MustCompile(` -([a-z-]+) `).FindAllStringSubmatch(line, -1) {
		if !declared[flagName[1]] {
			t.Errorf("the printed command uses -%s, which the simulator does not declare", flagName[1])
		}
	}
}
