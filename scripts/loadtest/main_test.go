package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/local/stack"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

// TestABriefRunReportsEveryFigure runs both phases for a few hundred
// requests, so the command cannot rot: at this load nothing may fail but
// the intended 409s.
func TestABriefRunReportsEveryFigure(t *testing.T) {
	var out, errs bytes.Buffer
	args := []string{"-clients", "4", "-duration", "1m", "-requests", "400", "-mix", "read=80,actuate=10,incident=10"}
	endpoint, _ := dynamotest.Endpoint(t)
	env := func(k string) string { return map[string]string{"DYNAMODB_ENDPOINT": endpoint}[k] }
	if err := run(args, env, &out, &errs); err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errs.String())
	}
	report := out.String()
	for _, want := range []string{
		`(?m)^machine: .+ CPUs`,
		`route throttles off \(stack.Config.DisableThrottling`,
		`(?m)^local stack: 400 requests in `,
		`(?m)^  all +400 +\d+ +[\d.]+ ms +[\d.]+ ms +[\d.]+ ms +[\d.]+ ms$`,
		`(?m)^  CPU per request: [\d.]+ ms in this process `,
		`(?m)^  read +\d+ `, `(?m)^  actuate +\d+ `, `(?m)^  incident +\d+ `,
		`statuses: 200: \d+, 201: \d+, 202: [1-3], 409: \d+\n  intended: \d+ × 409 actuation_in_progress, 0 × 429 throttled\n  errors:   0\n`,
		`(?m)^gateway alone \(no-op handler, same authorizer\): 400 requests`,
		`statuses: 200: 400\n.*\n  errors:   0\n`,
		`goal \(1000 req/s on the mixed workload, p99 under 50.0 ms, no errors but the intended 409/429\): not judged: this run's mix is not the goal's`,
		`the gateway alone \(no-op handler\) served \d+ req/s`,
	} {
		if !regexp.MustCompile(want).MatchString(report) {
			t.Errorf("the report has no %s:\n%s", want, report)
		}
	}
}

func TestARunningStackIsLoadedThroughItsURLWithAKeyAddedToItsFile(t *testing.T) {
	endpoint, _ := dynamotest.Endpoint(t)
	st, err := stack.Start(context.Background(), stack.Config{
		DynamoEndpoint: endpoint, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), TableName: dynamotest.TableName(), Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out, errs bytes.Buffer
	// The stack keeps its throttles; 100 requests of the default mix stay
	// within every route's burst, so a 429 would still be counted apart.
	args := []string{"-url", st.APIURL, "-keys-file", st.KeysFile, "-clients", "2", "-requests", "100", "-ceiling=false"}
	if err := run(args, func(string) string { return "" }, &out, &errs); err != nil {
		t.Fatalf("run: %v\n%s", err, errs.String())
	}
	if !strings.Contains(out.String(), "target: "+st.APIURL) || !regexp.MustCompile(`local stack: 100 requests[^\n]*\n(.*\n)*  errors:   0\n`).MatchString(out.String()) {
		t.Errorf("report:\n%s", out.String())
	}
	if strings.Contains(out.String(), "pv_") {
		t.Errorf("the report shows a key:\n%s", out.String())
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	withKey := func(k string) string {
		if k == "PLAINVIEW_API_KEY" {
			return "pv_x_y"
		}
		return ""
	}
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-clients", "5000"},
		{"-duration", "0s"},
		{"-requests", "-1"},
		{"-mix", "read=90,actuate=3"},
		{"-mix", "read=90,actuate=3,incident=7,read=0"},
		{"-mix", "read=90,actuate=3,telemetry=7"},
		{"-mix", "read=x,actuate=3,incident=7"},
		{"-url", "http://example.com:3000"},
		{"-url", "http://10.0.0.7:3000"},
		{"-url", "http://127.0.0.1.example.com:3000"},
		{"-url", "https://127.0.0.1:3000"},
		{"-url", "http://127.0.0.1:3000/valves"},
		{"-url", "http://user:pw@127.0.0.1:3000"},
		{"-url", "http://127.0.0.1:3000", "-throttles"},
		{"-keys-file", "keys.json"},
		{"extra"},
	} {
		var out, errs bytes.Buffer
		if err := run(args, withKey, &out, &errs); err == nil {
			t.Errorf("%s: no error", strings.Join(args, " "))
		}
	}
	var out, errs bytes.Buffer
	if err := run([]string{"-url", "http://127.0.0.1:3000"}, func(string) string { return "" }, &out, &errs); err == nil || !strings.Contains(err.Error(), "PLAINVIEW_API_KEY") {
		t.Errorf("-url without a key: %v", err)
	}
}

func TestOnlyLoopbackURLsAreAccepted(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:3000":  "http://127.0.0.1:3000",
		"http://localhost:3000/": "http://localhost:3000",
		"http://[::1]:3000":      "http://[::1]:3000",
		"http://127.0.0.2:3000":  "http://127.0.0.2:3000",
	} {
		if got, err := localURL(raw); err != nil || got != want {
			t.Errorf("localURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

func TestPercentilesAreNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(201-i)*time.Millisecond)
	}
	s := percentiles(d)
	if s.n != 200 || s.p50 != 100*time.Millisecond || s.p95 != 190*time.Millisecond || s.p99 != 198*time.Millisecond || s.max != 200*time.Millisecond {
		t.Errorf("percentiles = %+v", s)
	}
}
