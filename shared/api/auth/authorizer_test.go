package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// loaderFunc is a Loader from a function.
type loaderFunc func(ctx context.Context) (Keyring, error)

func (f loaderFunc) Load(ctx context.Context) (Keyring, error) { return f(ctx) }

func static(r Keyring) Loader {
	return loaderFunc(func(context.Context) (Keyring, error) { return r, nil })
}

const testMethodArn = "arn:aws:execute-api:eu-west-1:000000000000:a1b2c3d4e5/prod/POST/valves/v-101/actuate"

// authRequest is a REQUEST authorizer event for POST /valves/v-101/actuate
// with the given headers.
func authRequest(headers map[string]string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	multi := map[string][]string{}
	for k, v := range headers {
		multi[k] = []string{v}
	}
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:              "REQUEST",
		MethodArn:         testMethodArn,
		Resource:          "/valves/{id}/actuate",
		Path:              "/valves/v-101/actuate",
		HTTPMethod:        "POST",
		Headers:           headers,
		MultiValueHeaders: multi,
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			RequestID: "787eb489-edac-4983-9709-06b643f1c86c",
			Stage:     "prod",
		},
	}
}

// authorizerFixture is an authorizer over a keyring of one good key
// ("ops") and one revoked key ("old"), logging into logs.
type authorizerFixture struct {
	authorize Authorizer
	good      string
	revoked   string
	hashes    []string
	logs      bytes.Buffer
}

func newAuthorizerFixture(t *testing.T) *authorizerFixture {
	t.Helper()
	f := &authorizerFixture{}
	var k, old Key
	f.good, k = mustGenerate(t, "ops_team", []string{"read", "valves:actuate"}, []string{"v-1*"})
	f.revoked, old = mustGenerate(t, "old", []string{"admin"}, nil)
	ring := Keyring{Keys: []Key{k, old}}
	if err := ring.Revoke("old", testNow); err != nil {
		t.Fatal(err)
	}
	f.hashes = []string{k.Hash, old.Hash}
	f.authorize = NewAuthorizer(static(ring), slog.New(slog.NewJSONHandler(&f.logs, nil)))
	return f
}

// logLines returns the fixture's log lines, checking on the way that no
// key or hash was ever logged.
func (f *authorizerFixture) logLines(t *testing.T) []map[string]any {
	t.Helper()
	out := f.logs.String()
	for _, secret := range append([]string{f.good, f.revoked, f.good[len(f.good)-secretLen:]}, f.hashes...) {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds a key or a hash: %s", out)
		}
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestAuthorizerAllowsAGoodKey(t *testing.T) {
	for _, header := range []string{"X-API-Key", "x-api-key", "X-API-KEY"} {
		t.Run(header, func(t *testing.T) {
			f := newAuthorizerFixture(t)
			resp, err := f.authorize(t.Context(), authRequest(map[string]string{header: f.good}))
			if err != nil {
				t.Fatalf("authorize = %v, want an Allow policy", err)
			}
			checkAllow(t, resp, "ops_team")

			// What the function receives: the context through API
			// Gateway's JSON, read back into the principal.
			got, ok := PrincipalFromContext(asDeliveredAny(t, resp.Context))
			want := Principal{KeyID: "ops_team", Scopes: []string{"read", "valves:actuate"}, Assets: []string{"v-1*"}}
			if !ok || !equalPrincipal(got, want) {
				t.Errorf("principal from the context = %+v, %v; want %+v", got, ok, want)
			}

			lines := f.logLines(t)
			if len(lines) != 1 || lines[0]["key_id"] != "ops_team" || lines[0]["outcome"] != "allow" {
				t.Errorf("log = %v, want one line with key_id ops_team and outcome allow", lines)
			}
		})
	}
}

func checkAllow(t *testing.T, resp events.APIGatewayCustomAuthorizerResponse, keyID string) {
	t.Helper()
	if resp.PrincipalID != keyID {
		t.Errorf("principalId = %q, want %q", resp.PrincipalID, keyID)
	}
	doc := resp.PolicyDocument
	if doc.Version != "2012-10-17" || len(doc.Statement) != 1 {
		t.Fatalf("policy = %+v, want one statement, version 2012-10-17", doc)
	}
	st := doc.Statement[0]
	// The whole API and stage, so API Gateway's cached answer for this
	// key serves every route, not only the one first called.
	wantResource := "arn:aws:execute-api:eu-west-1:000000000000:a1b2c3d4e5/prod/*/*"
	if st.Effect != "Allow" || len(st.Action) != 1 || st.Action[0] != "execute-api:Invoke" ||
		len(st.Resource) != 1 || st.Resource[0] != wantResource {
		t.Errorf("statement = %+v, want Allow execute-api:Invoke on %s", st, wantResource)
	}
	for k, v := range resp.Context {
		if _, ok := v.(string); !ok {
			t.Errorf("context[%q] = %T, want a string (API Gateway passes strings)", k, v)
		}
	}
}

func asDeliveredAny(t *testing.T, c map[string]interface{}) map[string]interface{} {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]interface{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAuthorizerReadsMultiValueHeaders(t *testing.T) {
	f := newAuthorizerFixture(t)
	req := authRequest(nil)
	req.Headers = nil
	req.MultiValueHeaders = map[string][]string{"x-api-key": {f.good}}
	resp, err := f.authorize(t.Context(), req)
	if err != nil {
		t.Fatalf("authorize = %v", err)
	}
	checkAllow(t, resp, "ops_team")
}

func TestAuthorizerRefuses(t *testing.T) {
	f := newAuthorizerFixture(t)
	secret := f.good[len(f.good)-secretLen:]
	tests := []struct {
		name      string
		headers   map[string]string
		multi     map[string][]string
		wantKeyID string // the claimed id in the log line
	}{
		{name: "no header", headers: map[string]string{"Accept": "application/json"}},
		{name: "empty header", headers: map[string]string{"X-API-Key": " "}},
		{name: "key in another header", headers: map[string]string{"Authorization": "Bearer " + f.good}},
		{name: "malformed key", headers: map[string]string{"X-API-Key": "pv_example_notasecret"}},
		{name: "wrong secret", headers: map[string]string{"X-API-Key": "pv_ops_team_" + strings.Repeat("0", 64)}, wantKeyID: "ops_team"},
		{name: "unknown id", headers: map[string]string{"X-API-Key": "pv_nobody_" + secret}, wantKeyID: "nobody"},
		{name: "revoked key", headers: map[string]string{"X-API-Key": f.revoked}, wantKeyID: "old"},
		{name: "two different keys", multi: map[string][]string{"X-API-Key": {f.good, f.revoked}}},
		{name: "two spellings, two keys", headers: map[string]string{"X-API-Key": f.good, "x-api-key": f.revoked}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.logs.Reset()
			req := authRequest(tt.headers)
			if tt.multi != nil {
				req.MultiValueHeaders = tt.multi
			}
			resp, err := f.authorize(t.Context(), req)
			if err == nil || err.Error() != "Unauthorized" {
				t.Fatalf("authorize = %+v, %v; want the error \"Unauthorized\"", resp, err)
			}
			if resp.PrincipalID != "" || len(resp.PolicyDocument.Statement) != 0 || resp.Context != nil {
				t.Errorf("a refusal came with a policy: %+v", resp)
			}
			lines := f.logLines(t)
			if len(lines) != 1 || lines[0]["outcome"] != "deny" {
				t.Fatalf("log = %v, want one line with outcome deny", lines)
			}
			if id, _ := lines[0]["key_id"].(string); id != tt.wantKeyID {
				t.Errorf("logged key_id %q, want %q", id, tt.wantKeyID)
			}
		})
	}
}

func TestAuthorizerStoreFailureIsNotARefusal(t *testing.T) {
	good, _ := mustGenerate(t, "ops", []string{"read"}, nil)
	outage := errors.New("secrets manager: connection refused")
	var logs bytes.Buffer
	authorize := NewAuthorizer(loaderFunc(func(context.Context) (Keyring, error) {
		return Keyring{}, outage
	}), slog.New(slog.NewJSONHandler(&logs, nil)))

	_, err := authorize(t.Context(), authRequest(map[string]string{"X-API-Key": good}))
	if err == nil || err.Error() == "Unauthorized" || !errors.Is(err, outage) {
		t.Errorf("authorize with a failing store = %v; want the store's error (a 500), not Unauthorized", err)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the failure was not logged as an error: %s", logs.String())
	}
	if strings.Contains(logs.String(), good) {
		t.Errorf("the log holds the key: %s", logs.String())
	}
}

func TestAuthorizerBadMethodArnIsNotARefusal(t *testing.T) {
	f := newAuthorizerFixture(t)
	req := authRequest(map[string]string{"X-API-Key": f.good})
	req.MethodArn = "arn:aws:execute-api:eu-west-1:000000000000:a1b2c3d4e5"
	if _, err := f.authorize(t.Context(), req); err == nil || err.Error() == "Unauthorized" {
		t.Errorf("authorize with a bad method ARN = %v, want an error other than Unauthorized", err)
	}
}

func TestAPIWildcard(t *testing.T) {
	tests := []struct {
		arn, want string
	}{
		{testMethodArn, "arn:aws:execute-api:eu-west-1:000000000000:a1b2c3d4e5/prod/*/*"},
		{"arn:aws:execute-api:eu-west-1:000000000000:a1b2c3d4e5/prod/GET/", "arn:aws:execute-api:eu-west-1:000000000000:a1b2c3d4e5/prod/*/*"},
		{"arn:aws-cn:execute-api:cn-north-1:000000000000:abc/local/GET/valves", "arn:aws-cn:execute-api:cn-north-1:000000000000:abc/local/*/*"},
		{"arn:aws:execute-api:eu-west-1:000000000000:a1b2c3d4e5/prod", ""},
		{"arn:aws:execute-api:eu-west-1:000000000000:/prod/GET/", ""},
		{"arn:aws:lambda:eu-west-1:000000000000:function:x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := apiWildcard(tt.arn)
		if tt.want == "" {
			if err == nil {
				t.Errorf("apiWildcard(%q) = %q, want an error", tt.arn, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("apiWildcard(%q) = %q, %v; want %q", tt.arn, got, err, tt.want)
		}
	}
}
