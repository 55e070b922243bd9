package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestABriefRunReportsEveryFigure runs every phase for two seconds at a
// low rate, so the command cannot rot: at this rate nothing may be lost.
func TestABriefRunReportsEveryFigure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack and two brokers")
	}
	var out, errs bytes.Buffer
	args := []string{"-duration", "2s", "-rate", "100", "-drain-timeout", "30s", "-phases", "ingest,ceiling,store"}
	if err := run(args, &out, &errs); err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errs.String())
	}
	report := out.String()
	for _, want := range []string{
		`(?m)^ingestion: `,
		`acknowledged: +[1-9]\d* \(`,
		`stored: +[1-9]\d* readings: \d+/s over the window`,
		`CPU per reading: +[\d.]+ ms in this process .*, [\d.]+ ms in DynamoDB Local`,
		`written: +\d+ while publishing: \d+/s sustained`,
		`lost: +0 \(`,
		`duplicated: +0 \(stored more than once\); 0 stored that the observer never saw`,
		`dead letters: +0\n`,
		`count check: .* = 0\n`,
		`publish→stored: +p50 \d+ ms, p90 \d+ ms, p99 \d+ ms, max \d+ ms \(n=[1-9]\d*\); 0 probes never found`,
		`peak memory: +[1-9]\d* MiB resident`,
		`(?m)^ceiling: `,
		`acknowledged: +[1-9]\d* by the end of the 2\.\d s window`,
		`(?m)^store only: 200 readings`,
		`goal \(2000 readings/s stored, sustained, none lost\): not met: offered 100/s, below the goal`,
	} {
		if !regexp.MustCompile(want).MatchString(report) {
			t.Errorf("the report has no %s:\n%s", want, report)
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", errs.String())
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-rate", "0"},
		{"-rate", "NaN"},
		{"-duration", "0s"},
		{"-poll-every", "-1ms"},
		{"-phases", "ingest,warp"},
		{"extra"},
	} {
		var out, errs bytes.Buffer
		start := time.Now()
		if err := run(args, &out, &errs); err == nil {
			t.Errorf("%s: no error", strings.Join(args, " "))
		}
		if time.Since(start) > time.Second || out.Len() > 0 {
			t.Errorf("%s: measured something before refusing: %s", strings.Join(args, " "), out.String())
		}
	}
}

func TestQuantilesAreNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	q := quantilesOf(d)
	if q.n != 100 || q.p50 != 50*time.Millisecond || q.p90 != 90*time.Millisecond || q.p99 != 99*time.Millisecond || q.max != 100*time.Millisecond {
		t.Errorf("quantiles = %+v", q)
	}
	if q := quantilesOf(nil); q.String() != "no samples" {
		t.Errorf("no samples: %s", q)
	}
}

func TestTheObserverPlacesAMessageAsIngestionStoresIt(t *testing.T) {
	o := &observer{devices: map[string]string{"pipeline/pressure/A-North": "g-a-north"}}
	r, ok := o.place("pipeline/pressure/A-North", []byte(`{"ts":1780000000.123,"kpa":2400.5}`))
	if !ok {
		t.Fatal("not placed")
	}
	// sha256("pipeline/pressure/A-North\x00g-a-north\x00" + base64 payload), first 10 bytes.
	if r.pk != "READINGS#g-a-north" || !strings.HasPrefix(r.sk, "1780000000123#") || r.sk != "1780000000123#"+r.id || len(r.id) != 20 {
		t.Errorf("placed as %+v", r)
	}
	if !r.published.Equal(time.UnixMilli(1780000000123)) {
		t.Errorf("published %v", r.published)
	}
	if _, ok := o.place("pipeline/pressure/Z-Nowhere", []byte(`{"ts":1}`)); ok {
		t.Error("placed a message on a topic no device publishes on")
	}
}
