package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/plainview/serverless/shared/api/auth"
)

// sampleEvent is events/authorizer/request.json as the Lambda runtime
// hands it to the function.
func sampleEvent(t *testing.T) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "events", "authorizer", "request.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("sample event: %v", err)
	}
	return ev
}

// keyFile is a key file in a temp folder holding one new key, and that
// key.
func keyFile(t *testing.T) (auth.FileStore, string) {
	t.Helper()
	store := auth.FileStore{Path: filepath.Join(t.TempDir(), "keys.json")}
	plaintext, k, err := auth.Generate("ops", []string{"valves:actuate"}, []string{"v-1*"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var ring auth.Keyring
	if err := ring.Add(k); err != nil {
		t.Fatal(err)
	}
	if err := store.Save(t.Context(), ring); err != nil {
		t.Fatal(err)
	}
	return store, plaintext
}

func TestSampleEventIsRefused(t *testing.T) {
	store, _ := keyFile(t)
	var logs bytes.Buffer
	h := handler(store, slog.New(slog.NewJSONHandler(&logs, nil)))
	ev := sampleEvent(t)

	resp, err := h(t.Context(), ev)

	// The sample's key is a well-formed placeholder no keyring holds.
	if err == nil || err.Error() != "Unauthorized" {
		t.Fatalf("sample event = %+v, %v; want the error \"Unauthorized\" (a 401)", resp, err)
	}
	if !strings.Contains(logs.String(), `"outcome":"deny"`) || !strings.Contains(logs.String(), `"key_id":"example"`) {
		t.Errorf("log = %s, want a deny line naming the claimed key id", logs.String())
	}
}

func TestSampleEventWithAKeyIsAllowed(t *testing.T) {
	store, plaintext := keyFile(t)
	var logs bytes.Buffer
	h := handler(store, slog.New(slog.NewJSONHandler(&logs, nil)))
	ev := sampleEvent(t)
	ev.Headers["X-API-Key"] = plaintext
	ev.MultiValueHeaders["X-API-Key"] = []string{plaintext}

	resp, err := h(t.Context(), ev)
	if err != nil {
		t.Fatalf("handler = %v, want an Allow policy", err)
	}

	// The answer as the Lambda runtime sends it to API Gateway: IAM's
	// capitalised policy fields, string context values.
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		PrincipalID    string `json:"principalId"`
		PolicyDocument struct {
			Version   string
			Statement []struct {
				Action   []string
				Effect   string
				Resource []string
			}
		} `json:"policyDocument"`
		Context map[string]string `json:"context"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("response %s: %v", b, err)
	}
	if got.PrincipalID != "ops" {
		t.Errorf("principalId = %q, want ops", got.PrincipalID)
	}
	st := got.PolicyDocument.Statement
	wantResource := "arn:aws:execute-api:eu-west-1:000000000000:a1b2c3d4e5/v1/*/*"
	if got.PolicyDocument.Version != "2012-10-17" || len(st) != 1 || st[0].Effect != "Allow" ||
		strings.Join(st[0].Action, ",") != "execute-api:Invoke" || strings.Join(st[0].Resource, ",") != wantResource {
		t.Errorf("policy = %s, want Allow execute-api:Invoke on %s", b, wantResource)
	}
	want := map[string]string{"key_id": "ops", "scopes": "valves:actuate", "assets": "v-1*"}
	for k, v := range want {
		if got.Context[k] != v {
			t.Errorf("context[%q] = %q, want %q", k, got.Context[k], v)
		}
	}
	if strings.Contains(logs.String(), plaintext) {
		t.Errorf("the log holds the key: %s", logs.String())
	}
}

func TestLoadConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	c, err := loadConfig(env(map[string]string{"KEYS_SECRET_ID": "plainview/api-keys"}))
	if err != nil || c.secretID != "plainview/api-keys" || c.cacheTTL != 60*time.Second {
		t.Errorf("defaults = %+v, %v; want the secret and a 60s cache", c, err)
	}
	c, err = loadConfig(env(map[string]string{"KEYS_SECRET_ID": "s", "KEY_CACHE_TTL": "0s"}))
	if err != nil || c.cacheTTL != 0 {
		t.Errorf("KEY_CACHE_TTL=0s = %+v, %v; want no caching", c, err)
	}
	for name, m := range map[string]map[string]string{
		"no secret id":       {"KEY_CACHE_TTL": "30s"},
		"ttl without unit":   {"KEYS_SECRET_ID": "s", "KEY_CACHE_TTL": "60"},
		"negative ttl":       {"KEYS_SECRET_ID": "s", "KEY_CACHE_TTL": "-1s"},
		"ttl not a duration": {"KEYS_SECRET_ID": "s", "KEY_CACHE_TTL": "soon"},
	} {
		if c, err := loadConfig(env(m)); err == nil {
			t.Errorf("%s: loadConfig = %+v, want an error", name, c)
		}
	}
}
