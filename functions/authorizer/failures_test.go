package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/lambda/function"
)

// brokenStore is a key store that cannot be read (Secrets Manager down,
// access denied).
type brokenStore struct{}

func (brokenStore) Load(context.Context) (auth.Keyring, error) {
	return auth.Keyring{}, errors.New("secretsmanager: GetSecretValue: AccessDeniedException")
}

func TestAKeyStoreFailureIsCountedAndStillFailsTheRequest(t *testing.T) {
	var emf bytes.Buffer
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	keys := newCountingLoader(brokenStore{}, metrics.NewEmitter(&emf, metricsNamespace), func() time.Time { return at }, slog.New(slog.DiscardHandler))
	h := handler(keys, slog.New(slog.DiscardHandler))
	ev := sampleEvent(t)

	_, err := h(t.Context(), ev)

	if err == nil || err.Error() == "Unauthorized" {
		t.Fatalf("err = %v, want a failure API Gateway answers 5xx, not a refusal", err)
	}
	var doc struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Function         string
		KeyStoreFailures float64
	}
	lines := strings.Split(strings.TrimSpace(emf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d EMF documents, want one: %q", len(lines), emf.String())
	}
	if err := json.Unmarshal([]byte(lines[0]), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.AWS.CloudWatchMetrics
	if len(d) != 1 || d[0].Namespace != function.Namespace || len(d[0].Metrics) != 1 || d[0].Metrics[0].Name != metricStoreFailure ||
		doc.Function != "authorizer" || doc.KeyStoreFailures != 1 || doc.AWS.Timestamp != at.UnixMilli() {
		t.Errorf("EMF document %s", lines[0])
	}
}

func TestAReadableKeyStoreCountsNothing(t *testing.T) {
	store, key := keyFile(t)
	var emf bytes.Buffer
	keys := newCountingLoader(store, metrics.NewEmitter(&emf, metricsNamespace), time.Now, slog.New(slog.DiscardHandler))
	h := handler(keys, slog.New(slog.DiscardHandler))

	for _, k := range []string{key, "pv_nobody_" + strings.Repeat("0", 64)} {
		ev := sampleEvent(t)
		ev.Headers = map[string]string{auth.APIKeyHeader: k}
		ev.MultiValueHeaders = nil
		_, _ = h(t.Context(), ev) // an allow and a refusal: neither is a store failure
	}
	if emf.Len() != 0 {
		t.Errorf("metrics without a store failure: %s", emf.String())
	}
}
