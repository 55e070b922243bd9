package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEveryFunctionStartsColdWithoutNetworkCallsAtInit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rows, err := measure(ctx, options{runs: 2, goal: 2 * time.Millisecond, goTool: "go"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"hello": "hello", "reads": "200", "valves": "202", "incidents": "201", "events": "200",
		"authorizer": "Allow", "ingest": "0 failed", "timeouts": "0 timed out",
	}
	if len(rows) != len(want) || rows[0].name != floor {
		t.Fatalf("want the floor first, then the stack's %d functions; got %d rows: %+v", len(want)-1, len(rows), rows)
	}
	for _, r := range rows {
		if r.outcome != want[r.name] {
			t.Errorf("%s answered %q, want %q", r.name, r.outcome, want[r.name])
		}
		// The rule: clients are built at init, but nothing calls
		// out before the first event.
		if r.initCalls != 0 {
			t.Errorf("%s made %d network calls during its init", r.name, r.initCalls)
		}
		if r.runs != 2 || r.initP50 <= 0 || r.initMax < r.initP50 || r.invokeP50 <= 0 || r.rssMaxKB <= 0 || r.binaryBytes <= 0 {
			t.Errorf("%s: incomplete measurement %+v", r.name, r)
		}
	}
}

func TestOnlyMeasuresTheNamedFunctionsBesideTheFloor(t *testing.T) {
	ts, err := targets("../..", []string{"authorizer"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range ts {
		names = append(names, tg.name)
	}
	if !slices.Equal(names, []string{"hello", "authorizer"}) {
		t.Errorf("-only authorizer measures %v", names)
	}
	if _, err := targets("../..", []string{"nonesuch"}); err == nil || !strings.Contains(err.Error(), "nonesuch") {
		t.Errorf("-only nonesuch: %v, want an error naming it", err)
	}
}

func TestFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "0"}, {"-n", "1001"}, {"-n", "ten"},
		{"-goal", "-1ms"}, {"-goal", "2"}, {"-goal", "2s"},
		{"-go", " "}, {"stray"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted it", args)
		}
	}
	o, err := parseFlags([]string{"-n", "3", "-only", " reads, hello,valves ,"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.runs != 3 || o.goal != 2*time.Millisecond || !slices.Equal(o.only, []string{"reads", "valves"}) {
		t.Errorf("parseFlags = %+v", o)
	}
}

func TestTheSandboxRefusesAVariableItCannotSet(t *testing.T) {
	w, err := newWorld(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, err = w.env(target{name: "future", env: []string{"TABLE_NAME", "PAYMENT_PROVIDER_URL"}}, "/var/task", "http://127.0.0.1:2")
	if err == nil || !strings.Contains(err.Error(), "PAYMENT_PROVIDER_URL") {
		t.Errorf("env for an unknown variable: %v, want an error naming it", err)
	}
	env, err := w.env(target{name: "reads", memoryMB: 256, env: []string{"TABLE_NAME"}}, "/var/task", "http://127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"LAMBDA_TASK_ROOT=/var/task", "DYNAMODB_ENDPOINT=http://127.0.0.1:2", "AWS_ACCESS_KEY_ID=local"} {
		if !slices.Contains(env, v) {
			t.Errorf("the sandbox's environment lacks %s", v)
		}
	}
	for _, v := range env {
		if strings.HasPrefix(v, "HOME=") || strings.HasPrefix(v, "AWS_PROFILE=") || strings.HasPrefix(v, "AWS_LAMBDA_RUNTIME_API=") {
			t.Errorf("the sandbox's environment carries %s from outside", v)
		}
	}
}

func TestCallsAreCountedInTheirWindow(t *testing.T) {
	t0 := time.Now()
	l := callLog{calls: []call{
		{at: t0.Add(-time.Millisecond)}, {at: t0}, {at: t0.Add(time.Millisecond)}, {at: t0.Add(2 * time.Millisecond)},
	}}
	if n := l.between(t0, t0.Add(time.Millisecond)); n != 2 {
		t.Errorf("between = %d, want the 2 calls in the closed window", n)
	}
}

func TestPeakRSSReadsALiveProcess(t *testing.T) {
	kb, err := peakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if kb < 1024 {
		t.Errorf("this test process peaked at %d KiB; a Go test binary needs more than 1 MiB", kb)
	}
	if _, err := peakRSS(-1); err == nil {
		t.Error("peakRSS of no process succeeded")
	}
}

func TestAWSCallsReachTheStandInsThroughTheProxy(t *testing.T) {
	w, err := newWorld(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ca, err := os.ReadFile(w.caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("the certificate authority file holds no certificate")
	}
	proxy, _ := url.Parse(w.proxy.URL)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: roots}}}

	before := time.Now()
	resp, err := client.Post("https://"+iotEndpoint+"/topics/plainview%2Fdevices%2Fv-101%2Fcommands?qos=1", "application/json", strings.NewReader(`{"command":"OPEN"}`))
	if err != nil {
		t.Fatalf("IoT publish through the proxy: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("IoT publish answered %d", resp.StatusCode)
	}
	// A call no function should make is refused, not sent on.
	resp, err = client.Get("https://s3." + region + ".amazonaws.com/bucket/key")
	if err != nil {
		t.Fatalf("S3 through the proxy: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("an unexpected AWS call answered %d, want 501", resp.StatusCode)
	}
	if n := w.calls.between(before, time.Now()); n != 2 {
		t.Errorf("%d calls logged, want 2", n)
	}
}

func TestAgainstMeasuresEachFunctionOfTheOtherCheckoutBesideIt(t *testing.T) {
	ts, err := targets("../..", []string{"reads", "authorizer"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range withAgainst(ts, "/tmp/before") {
		got = append(got, tg.name+" "+tg.root)
	}
	want := []string{"hello ", "reads ", "reads@against /tmp/before", "authorizer ", "authorizer@against /tmp/before"}
	if !slices.Equal(got, want) {
		t.Errorf("-against measures %q, want %q", got, want)
	}
}

// -direct times each bootstrap to its first request for an event, with
// no emulator and no invocation.
func TestDirectTimesTheStartToTheFirstRequestForAnEvent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rows, err := measure(ctx, options{runs: 2, only: []string{"authorizer"}, goal: 2 * time.Millisecond, goTool: "go", direct: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].name != floor || rows[1].name != "authorizer" {
		t.Fatalf("rows %+v, want the floor and the authorizer", rows)
	}
	for _, r := range rows {
		if r.runs != 2 || r.initP50 <= 0 || r.initMax < r.initP50 || r.rssMaxKB <= 0 || r.invokeP50 != 0 || r.outcome != "(not invoked)" || r.initCalls != 0 {
			t.Errorf("%s: %+v, want two timed starts, nothing invoked, no calls", r.name, r)
		}
	}
}
