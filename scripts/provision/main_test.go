package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
	"github.com/plainview/serverless/shared/testkit/motoserver"
)

// The tests provision against AWS IoT's control plane as moto's server
// plays it, over the wire. A recording wrapper counts the calls (some
// refusals must come before AWS is asked) and can make one operation fail,
// to test the clean-up of a half-done registration: a fault moto would
// not produce, in logic that is ours, not moto's.

// world is moto's IoT with what the development stack creates (the
// thing type and the device policy), and the inventory table, seeded.
type world struct {
	iot       *iot.Client
	rec       *recorder
	inventory *store.Store
}

func newWorld(t *testing.T) *world {
	t.Helper()
	inv := dynamotest.Store(t)
	if err := inv.Seed(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := iot.NewFromConfig(motoserver.Start(t).Config())
	if _, err := c.CreateThingType(t.Context(), &iot.CreateThingTypeInput{ThingTypeName: aws.String(spec.ThingTypeName("development"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePolicy(t.Context(), &iot.CreatePolicyInput{
		PolicyName:     aws.String(spec.DevicePolicyName("development")),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`),
	}); err != nil {
		t.Fatal(err)
	}
	return &world{iot: c, rec: &recorder{IoTAPI: c, fail: map[string]error{}}, inventory: inv}
}

func (w *world) client(context.Context) (IoTAPI, error) { return w.rec, nil }

func provision(t *testing.T, w *world, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, &stdout, &stderr, w.client, func(context.Context) (Inventory, error) { return w.inventory, nil })
	return stdout.String(), err
}

// principals lists what is attached to the thing, as IoT says.
func (w *world) principals(t *testing.T, thing string) []string {
	t.Helper()
	out, err := w.iot.ListThingPrincipals(t.Context(), &iot.ListThingPrincipalsInput{ThingName: aws.String(thing)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Principals
}

// policyTargets lists what the device policy is attached to.
func (w *world) policyTargets(t *testing.T, environment string) []string {
	t.Helper()
	out, err := w.iot.ListTargetsForPolicy(t.Context(), &iot.ListTargetsForPolicyInput{PolicyName: aws.String(spec.DevicePolicyName(environment))})
	if err != nil {
		t.Fatal(err)
	}
	return out.Targets
}

// certificates lists the account's certificates.
func (w *world) certificates(t *testing.T) []types.Certificate {
	t.Helper()
	out, err := w.iot.ListCertificates(t.Context(), &iot.ListCertificatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	return out.Certificates
}

// recorder passes every call to IoT, noting its name; an operation named
// in fail answers that error instead.
type recorder struct {
	IoTAPI
	mu    sync.Mutex
	calls []string
	fail  map[string]error
}

func (r *recorder) call(op string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, op)
	return r.fail[op]
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) DescribeEndpoint(ctx context.Context, in *iot.DescribeEndpointInput, o ...func(*iot.Options)) (*iot.DescribeEndpointOutput, error) {
	if err := r.call("DescribeEndpoint"); err != nil {
		return nil, err
	}
	return r.IoTAPI.DescribeEndpoint(ctx, in, o...)
}

func (r *recorder) DescribeThing(ctx context.Context, in *iot.DescribeThingInput, o ...func(*iot.Options)) (*iot.DescribeThingOutput, error) {
	if err := r.call("DescribeThing"); err != nil {
		return nil, err
	}
	return r.IoTAPI.DescribeThing(ctx, in, o...)
}

func (r *recorder) CreateThing(ctx context.Context, in *iot.CreateThingInput, o ...func(*iot.Options)) (*iot.CreateThingOutput, error) {
	if err := r.call("CreateThing"); err != nil {
		return nil, err
	}
	return r.IoTAPI.CreateThing(ctx, in, o...)
}

func (r *recorder) ListThingPrincipals(ctx context.Context, in *iot.ListThingPrincipalsInput, o ...func(*iot.Options)) (*iot.ListThingPrincipalsOutput, error) {
	if err := r.call("ListThingPrincipals"); err != nil {
		return nil, err
	}
	return r.IoTAPI.ListThingPrincipals(ctx, in, o...)
}

func (r *recorder) CreateKeysAndCertificate(ctx context.Context, in *iot.CreateKeysAndCertificateInput, o ...func(*iot.Options)) (*iot.CreateKeysAndCertificateOutput, error) {
	if err := r.call("CreateKeysAndCertificate"); err != nil {
		return nil, err
	}
	return r.IoTAPI.CreateKeysAndCertificate(ctx, in, o...)
}

func (r *recorder) AttachPolicy(ctx context.Context, in *iot.AttachPolicyInput, o ...func(*iot.Options)) (*iot.AttachPolicyOutput, error) {
	if err := r.call("AttachPolicy"); err != nil {
		return nil, err
	}
	return r.IoTAPI.AttachPolicy(ctx, in, o...)
}

func (r *recorder) AttachThingPrincipal(ctx context.Context, in *iot.AttachThingPrincipalInput, o ...func(*iot.Options)) (*iot.AttachThingPrincipalOutput, error) {
	if err := r.call("AttachThingPrincipal"); err != nil {
		return nil, err
	}
	return r.IoTAPI.AttachThingPrincipal(ctx, in, o...)
}

func (r *recorder) DetachPolicy(ctx context.Context, in *iot.DetachPolicyInput, o ...func(*iot.Options)) (*iot.DetachPolicyOutput, error) {
	if err := r.call("DetachPolicy"); err != nil {
		return nil, err
	}
	return r.IoTAPI.DetachPolicy(ctx, in, o...)
}

func (r *recorder) UpdateCertificate(ctx context.Context, in *iot.UpdateCertificateInput, o ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error) {
	if err := r.call("UpdateCertificate"); err != nil {
		return nil, err
	}
	return r.IoTAPI.UpdateCertificate(ctx, in, o...)
}

func (r *recorder) DeleteCertificate(ctx context.Context, in *iot.DeleteCertificateInput, o ...func(*iot.Options)) (*iot.DeleteCertificateOutput, error) {
	if err := r.call("DeleteCertificate"); err != nil {
		return nil, err
	}
	return r.IoTAPI.DeleteCertificate(ctx, in, o...)
}

func TestProvisionRegistersTheDeviceAndWritesWhatTheSimulatorNeeds(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	out := filepath.Join(t.TempDir(), "v-101")

	stdout, err := provision(t, w, "-device", "v-101", "-out", out)
	if err != nil {
		t.Fatal(err)
	}

	th, err := w.iot.DescribeThing(t.Context(), &iot.DescribeThingInput{ThingName: aws.String("v-101")})
	if err != nil || aws.ToString(th.ThingTypeName) != spec.ThingTypeName("development") ||
		th.Attributes[spec.ThingAttrKind] != "valve" || th.Attributes[spec.ThingAttrAsset] != "v-101" {
		t.Fatalf("thing = %+v, %v", th, err)
	}
	certs := w.certificates(t)
	if len(certs) != 1 || certs[0].Status != types.CertificateStatusActive {
		t.Fatalf("certificates %+v, want one, active", certs)
	}
	certArn := aws.ToString(certs[0].CertificateArn)
	if got := w.policyTargets(t, "development"); len(got) != 1 || got[0] != certArn {
		t.Errorf("policy targets %v, want [%s]", got, certArn)
	}
	if got := w.principals(t, "v-101"); len(got) != 1 || got[0] != certArn {
		t.Errorf("thing principals %v, want [%s]", got, certArn)
	}

	key, err := os.Stat(filepath.Join(out, keyFile))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, %v; want mode 0600", key, err)
	}
	if dir, _ := os.Stat(out); dir.Mode().Perm() != 0o700 {
		t.Errorf("output folder mode %v, want 0700", dir.Mode().Perm())
	}
	// The certificate written is the one IoT holds, and the key is its key.
	described, err := w.iot.DescribeCertificate(t.Context(), &iot.DescribeCertificateInput{CertificateId: certs[0].CertificateId})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _ := os.ReadFile(filepath.Join(out, certFile))
	if string(certPEM) != aws.ToString(described.CertificateDescription.CertificatePem) {
		t.Errorf("%s is not the certificate IoT holds", certFile)
	}
	keyPEM, _ := os.ReadFile(filepath.Join(out, keyFile))
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Errorf("the key file is not the certificate's key: %v", err)
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
	// The endpoint is the account's iot:Data-ATS one; moto makes up a new
	// one at each DescribeEndpoint (AWS's is fixed), so its form is checked.
	cmd := regexp.MustCompile(`go run \./scripts/simulator -url ssl://[a-z0-9]{14}-ats\.iot\.eu-west-1\.amazonaws\.com:8883 -devices ` +
		regexp.QuoteMeta(fmt.Sprintf("%s -cert %s -key %s -ca %s", filepath.Join(out, devicesFile), filepath.Join(out, certFile), filepath.Join(out, keyFile), filepath.Join(out, rootCAFile))))
	if !cmd.MatchString(stdout) || !strings.Contains(stdout, "Thing v-101 created") || !strings.Contains(stdout, "amazontrust.com") {
		t.Errorf("output:\n%s\nwant the simulator command %s", stdout, cmd)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 3 {
		t.Errorf("%d files in the output folder, want 3 (no leftovers): %v", len(entries), entries)
	}
}

func TestARunAgainReusesTheThingWithANewCertificate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	out := filepath.Join(t.TempDir(), "A-North")
	for range 2 {
		if _, err := provision(t, w, "-device", "A-North", "-out", out); err != nil {
			t.Fatal(err)
		}
	}
	earlier := w.principals(t, "A-North")
	before := len(w.rec.Calls())
	stdout, err := provision(t, w, "-device", "A-North", "-out", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range w.rec.Calls()[before:] {
		if c == "CreateThing" {
			t.Error("an existing thing was created again")
		}
	}
	now := w.principals(t, "A-North")
	if len(earlier) != 2 || len(now) != 3 {
		t.Fatalf("principals %v then %v, want two then three certificates", earlier, now)
	}
	// Both earlier certificates named, the new one in the files.
	var newest string
	for _, p := range now {
		if !slices.Contains(earlier, p) {
			newest = p
		}
	}
	newID := newest[strings.LastIndex(newest, "/")+1:]
	for _, want := range append([]string{"Thing A-North exists", "New certificate " + newID}, earlier...) {
		if !strings.Contains(stdout, want) {
			t.Errorf("output has no %q:\n%s", want, stdout)
		}
	}
	described, err := w.iot.DescribeCertificate(t.Context(), &iot.DescribeCertificateInput{CertificateId: aws.String(newID)})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, certFile)); string(b) != aws.ToString(described.CertificateDescription.CertificatePem) {
		t.Errorf("the certificate file is not the new certificate")
	}
}

func TestAValveRegisteredThroughTheInventoryCanBeProvisioned(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	now := time.Now()
	ev := domain.NewEvent(domain.EventInventoryChanged, "v-200", "admin", now, map[string]string{"action": "created"})
	if err := w.inventory.CreateValve(t.Context(), domain.Valve{ID: "v-200", Name: "Bypass D4"}, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := provision(t, w, "-device", "v-200", "-out", t.TempDir()); err != nil {
		t.Fatalf("a registered valve: %v", err)
	}
	th, err := w.iot.DescribeThing(t.Context(), &iot.DescribeThingInput{ThingName: aws.String("v-200")})
	if err != nil {
		t.Fatalf("no thing for v-200: %v", err)
	}
	if th.Attributes["kind"] != domain.DeviceValve || th.Attributes["asset"] != "v-200" {
		t.Errorf("thing attributes = %v", th.Attributes)
	}
	// Retired, it is out of the inventory again.
	retired := domain.NewEvent(domain.EventInventoryChanged, "v-200", "admin", now, map[string]string{"action": "retired"})
	if err := w.inventory.RetireValve(t.Context(), "v-200", 1, now, retired); err != nil {
		t.Fatal(err)
	}
	calls := len(w.rec.Calls())
	if _, err := provision(t, w, "-device", "v-200", "-out", t.TempDir()); err == nil || !strings.Contains(err.Error(), "not in the inventory") {
		t.Errorf("a retired valve: %v, want a refusal", err)
	}
	if got := w.rec.Calls(); len(got) != calls {
		t.Errorf("AWS was called for a retired valve: %v", got[calls:])
	}
}

func TestAnIdOutsideTheInventoryIsRefusedBeforeAWSIsAsked(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, id := range []string{"v-999", "", "V-101", "v-101/../x"} {
		_, err := provision(t, w, "-device", id, "-out", t.TempDir())
		if err == nil {
			t.Errorf("device %q accepted", id)
		}
	}
	if got := w.rec.Calls(); len(got) != 0 {
		t.Errorf("AWS was called: %v", got)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for name, args := range map[string][]string{
		"environment":  {"-device", "v-101", "-environment", "staging"},
		"policy name":  {"-device", "v-101", "-policy", "my policy"},
		"thing type":   {"-device", "v-101", "-thing-type", strings.Repeat("x", 129)},
		"an operand":   {"-device", "v-101", "extra"},
		"unknown flag": {"-device", "v-101", "-region", "eu-west-1"},
	} {
		if _, err := provision(t, w, append(args, "-out", t.TempDir())...); err == nil {
			t.Errorf("%s: %v accepted", name, args)
		}
	}
	if got := w.rec.Calls(); len(got) != 0 {
		t.Errorf("AWS was called: %v", got)
	}
}

func TestAnAWSErrorLeavesNoCertificateAndNoFiles(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"AttachPolicy", "AttachThingPrincipal"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.rec.fail[op] = &types.UnauthorizedException{Message: aws.String("not allowed here")}
			out := filepath.Join(t.TempDir(), "v-102")

			_, err := provision(t, w, "-device", "v-102", "-out", out)

			if err == nil || !strings.Contains(err.Error(), "UnauthorizedException") || !strings.Contains(err.Error(), "deleted again") {
				t.Fatalf("err = %v, want the AWS error and the clean-up", err)
			}
			if certs := w.certificates(t); len(certs) != 0 {
				t.Errorf("certificates left: %+v", certs)
			}
			if got := w.policyTargets(t, "development"); len(got) != 0 {
				t.Errorf("the policy is still attached to %v", got)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("files written: %v", entries)
			}
		})
	}
}

func TestAMissingPolicyIsReportedByName(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// Production's stack is not deployed: its thing type and policy are
	// missing. The thing type exists here, so the policy is what fails.
	if _, err := w.iot.CreateThingType(t.Context(), &iot.CreateThingTypeInput{ThingTypeName: aws.String(spec.ThingTypeName("production"))}); err != nil {
		t.Fatal(err)
	}
	_, err := provision(t, w, "-device", "v-101", "-environment", "production", "-out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), spec.DevicePolicyName("production")) || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("err = %v", err)
	}
	if certs := w.certificates(t); len(certs) != 0 {
		t.Errorf("certificates left: %+v", certs)
	}
}

func TestAThingOfAnotherTypeIsNotTakenOver(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if _, err := w.iot.CreateThingType(t.Context(), &iot.CreateThingTypeInput{ThingTypeName: aws.String("someone-else")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.iot.CreateThing(t.Context(), &iot.CreateThingInput{
		ThingName: aws.String("v-101"), ThingTypeName: aws.String("someone-else"),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"kind": "valve", "asset": "v-101"}},
	}); err != nil {
		t.Fatal(err)
	}
	_, err := provision(t, w, "-device", "v-101", "-out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "someone-else") {
		t.Errorf("err = %v, want a refusal naming the other type", err)
	}
	if slices.Contains(w.rec.Calls(), "CreateKeysAndCertificate") {
		t.Error("a certificate was created for a thing that was refused")
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
	report(&buf, "out", dev, "tt", "pol", Result{Endpoint: "a1b2c3-ats.iot.eu-west-1.amazonaws.com", CertificateID: "c"})
	line := buf.String()[strings.Index(buf.String(), "go run ./scripts/simulator"):]
	for _, flagName := range regexp.MustCompile(` -([a-z-]+) `).FindAllStringSubmatch(line, -1) {
		if !declared[flagName[1]] {
			t.Errorf("the printed command uses -%s, which the simulator does not declare", flagName[1])
		}
	}
}
