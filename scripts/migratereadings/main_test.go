package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/dynamotest"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

// putOld writes a reading as the store wrote it before December 2026.
func putOld(t *testing.T, db *dynamodb.Client, table, gsi1pk string, r domain.Reading, expires time.Time) {
	t.Helper()
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	values := map[string]types.AttributeValue{}
	for m, v := range r.Values {
		values[m] = &types.AttributeValueMemberN{Value: fmt.Sprint(v)}
	}
	_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": s("READINGS#" + r.Device), "sk": s(fmt.Sprintf("%013d#%s", r.At.UnixMilli(), r.ID)),
		"gsi1pk": s(gsi1pk), "gsi1sk": s(fmt.Sprintf("%013d#%s#%s", r.At.UnixMilli(), r.Device, r.ID)),
		"id": s(r.ID), "device": s(r.Device), "asset": s(r.Asset), "at": s(r.At.Format(time.RFC3339Nano)),
		"values":     &types.AttributeValueMemberM{Value: values},
		"expires_at": &types.AttributeValueMemberN{Value: fmt.Sprint(expires.Unix())},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOldReadingsAreCountedThenMovedIntoBlocks(t *testing.T) {
	db, table := dynamotest.Client(t)
	st := store.New(db, table, nil)
	ctx := context.Background()
	if err := st.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var want []string
	for i := range 23 {
		dev := fmt.Sprintf("v-%d", 101+i%3)
		r := domain.Reading{ID: fmt.Sprintf("old%02d", i), Device: dev, Asset: dev, At: now.Add(-time.Duration(i) * 17 * time.Second),
			Values: map[string]float64{"flow_rate_lpm": 1000.5 + float64(i), "temperature_c": 41.25}}
		part := []string{"READINGS", "READINGS#0", "READINGS#1", "READINGS#2", "READINGS#3"}[i%5]
		putOld(t, db, table, part, r, now.Add(29*24*time.Hour))
		want = append(want, r.ID)
	}
	putOld(t, db, table, "READINGS#2", domain.Reading{ID: "gone", Device: "v-101", Asset: "v-101", At: now.Add(-40 * 24 * time.Hour),
		Values: map[string]float64{"kpa": 1}}, now.Add(-time.Hour))
	env := map[string]string{"DYNAMODB_ENDPOINT": "", "TABLE_NAME": table}
	endpoint, _ := dynamotest.Endpoint(t)
	env["DYNAMODB_ENDPOINT"] = endpoint
	getenv := func(k string) string { return env[k] }

	var out bytes.Buffer
	if err := run(ctx, nil, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "24 readings found, 1 of them expired; 0 moved") {
		t.Errorf("dry run said %q", out.String())
	}
	if ids, _ := st.StoredReadingIDs(ctx); len(ids) != 0 {
		t.Errorf("a dry run stored %d readings", len(ids))
	}
	out.Reset()
	if err := run(ctx, []string{"-apply", "-page", "4"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "24 readings found, 1 of them expired; 23 moved") {
		t.Errorf("apply said %q", out.String())
	}
	var got []string
	for _, dev := range []string{"v-101", "v-102", "v-103"} {
		rs, _, err := st.Readings(ctx, dev, now.Add(-time.Hour), now, domain.Page{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Values["temperature_c"] != 41.25 || r.Asset != dev {
				t.Errorf("moved reading %+v", r)
			}
			got = append(got, r.ID)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("readings after the move = %v, want %v", got, want)
	}
	out.Reset()
	if err := run(ctx, []string{"-apply"}, getenv, &out, &out); err != nil || !strings.Contains(out.String(), "0 readings found") {
		t.Errorf("a second run: %q, %v; want nothing left to move", out.String(), err)
	}
	if err := run(ctx, []string{"extra"}, getenv, &out, &out); err == nil {
		t.Errorf("an argument was taken")
	}
}
