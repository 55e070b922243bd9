package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

const (
	valves    = "legacy/testdata/valves.json"
	incidents = "legacy/testdata/incidents.json"
	table     = "plainview-import"
)

var ctx = context.Background()

// server is a DynamoDB-compatible server with the seeded table, reached
// the way the command reaches it: by its endpoint.
func server(t *testing.T) (endpoint string, db *dynamodb.Client) {
	t.Helper()
	endpoint, _ = dynamotest.Endpoint(t)
	db = store.NewClient(store.LocalConfig(), endpoint)
	dynamotest.DeleteAtEnd(t, db, table)
	st := store.New(db, table, nil)
	if err := st.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	return endpoint, db
}

func scan(t *testing.T, db *dynamodb.Client) []byte {
	t.Helper()
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil || len(out.LastEvaluatedKey) > 0 {
		t.Fatalf("scan: %v (a test table fits one page)", err)
	}
	var items []map[string]any
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &items); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(items, func(a, b map[string]any) int {
		return cmp.Or(cmp.Compare(a["pk"].(string), b["pk"].(string)), cmp.Compare(a["sk"].(string), b["sk"].(string)))
	})
	b, _ := json.Marshal(items)
	return b
}

// env is the environment of a developer with no local settings.
func env(string) string { return "" }

func runImport(args ...string) (string, error) {
	var out, errs bytes.Buffer
	err := run(ctx, args, env, &out, &errs)
	return out.String() + errs.String(), err
}

func TestDryRunThenApplyThenNothingToChange(t *testing.T) {
	endpoint, db := server(t)
	target := []string{"-endpoint", endpoint, "-table", table}
	before := scan(t, db)

	out, err := runImport(append(target, "-valves", valves, "-incidents", incidents)...)
	if err != nil {
		t.Fatal(err, out)
	}
	for _, want := range []string{
		"table plainview-import at " + endpoint,
		"actuations added: 5", "incidents added: 4",
		"dry run: nothing written; run again with -apply",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if !bytes.Equal(before, scan(t, db)) {
		t.Fatal("the dry run wrote")
	}

	out, err = runImport(append(target, "-valves", valves, "-incidents", incidents, "-apply")...)
	if err != nil || !strings.HasSuffix(out, "applied\n") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	st := store.New(db, table, nil)
	if acts, _, err := st.Actuations(ctx, "v-101", domain.Page{Limit: 50}); err != nil || len(acts) != 3 {
		t.Errorf("v-101 history = %d, %v", len(acts), err)
	}
	applied := scan(t, db)

	out, err = runImport(append(target, "-valves", valves, "-incidents", incidents, "-apply")...)
	if err != nil || !strings.Contains(out, "nothing to change") || !strings.Contains(out, "actuations added: 0 (already here: 5)") {
		t.Fatalf("second apply: %v\n%s", err, out)
	}
	if !bytes.Equal(applied, scan(t, db)) {
		t.Error("the second run changed the table")
	}
}

func TestARefusedFileIsNamedWithItsLineAndNothingIsWritten(t *testing.T) {
	endpoint, db := server(t)
	before := scan(t, db)
	bad := "legacy/testdata/bad/incidents-severity.json"
	out, err := runImport("-endpoint", endpoint, "-table", table, "-valves", valves, "-incidents", bad, "-apply")
	if err == nil || !strings.Contains(err.Error(), bad+`:46:17: severity "high" is not one of info, warning, critical`) ||
		!strings.Contains(err.Error(), "nothing written") {
		t.Fatalf("err = %v\n%s", err, out)
	}
	if !bytes.Equal(before, scan(t, db)) {
		t.Error("a refused import wrote")
	}
}

func TestTheEnvironmentPicksTheTableAndFlagsOverrideIt(t *testing.T) {
	endpoint, _ := server(t)
	var out bytes.Buffer
	getenv := func(k string) string {
		return map[string]string{"DYNAMODB_ENDPOINT": endpoint, "TABLE_NAME": table}[k]
	}
	if err := run(ctx, []string{"-valves", valves}, getenv, &out, &out); err != nil || !strings.Contains(out.String(), "table plainview-import at "+endpoint) {
		t.Fatalf("%v\n%s", err, out.String())
	}
	out.Reset()
	// Another table by flag: that one does not exist.
	if err := run(ctx, []string{"-valves", valves, "-table", "other"}, getenv, &out, &out); err == nil || !strings.Contains(err.Error(), "other") {
		t.Errorf("a missing table: %v", err)
	}
}

func TestBadInvocationsAreRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-endpoint", "http://127.0.0.1:1"}, "nothing to import"},
		{[]string{"-valves", "no/such/file.json"}, "no such file"},
		{[]string{"-valves", valves, "extra"}, "unexpected arguments"},
		{[]string{"-table", "a b", "-valves", valves}, `-table or -endpoint: TABLE_NAME "a b" is not a DynamoDB table name`},
		{[]string{"-endpoint", "127.0.0.1:8000", "-valves", valves}, "is not an http(s) URL"},
		{[]string{"-nope"}, "flag provided but not defined"},
	} {
		if out, err := runImport(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q\n%s", c.args, err, c.want, out)
		}
	}
}
