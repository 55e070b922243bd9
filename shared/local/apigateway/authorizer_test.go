package apigateway_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/local/apigateway"
	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

// The keys the fake authorizer knows, by what it answers.
const (
	goodKey   = "pv_good_secret"
	badKey    = "pv_bad_secret"    // "Unauthorized"
	denyKey   = "pv_deny_secret"   // a Deny policy
	brokenKey = "pv_broken_secret" // another error
	panicKey  = "pv_panic_secret"  // a panic
)

// anyMethod is an execute-api resource covering every method of the local
// API in every stage.
const anyMethod = "arn:aws:execute-api:local:000000000000:local/*"

func policy(effect string, resources ...string) events.APIGatewayCustomAuthorizerPolicy {
	return events.APIGatewayCustomAuthorizerPolicy{
		Version: "2012-10-17",
		Statement: []events.IAMPolicyStatement{
			{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: resources},
		},
	}
}

// authorizerCall is what the authorizer saw of one call.
type authorizerCall struct {
	ev          events.APIGatewayCustomAuthorizerRequestTypeRequest
	lc          *lambdacontext.LambdaContext
	hasDeadline bool
}

// fakeAuthorizer answers by the key as the constants above say, allowing a
// good key with resp (or anyMethod and a key_id context when resp is nil).
// It counts its calls and reports each on the channel.
type fakeAuthorizer struct {
	resp  *events.APIGatewayCustomAuthorizerResponse
	n     atomic.Int64
	calls chan authorizerCall
}

func newFakeAuthorizer(resp *events.APIGatewayCustomAuthorizerResponse) *fakeAuthorizer {
	return &fakeAuthorizer{resp: resp, calls: make(chan authorizerCall, 64)}
}

func (a *fakeAuthorizer) handle(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	a.n.Add(1)
	lc, _ := lambdacontext.FromContext(ctx)
	_, hasDeadline := ctx.Deadline()
	a.calls <- authorizerCall{ev: ev, lc: lc, hasDeadline: hasDeadline}

	switch ev.Headers["X-Api-Key"] {
	case goodKey:
		if a.resp != nil {
			return *a.resp, nil
		}
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID:    "k-good",
			PolicyDocument: policy("Allow", anyMethod),
			Context:        map[string]any{"key_id": "k-good"},
		}, nil
	case denyKey:
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "k-deny", PolicyDocument: policy("Deny", anyMethod)}, nil
	case brokenKey:
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("secrets manager: connection refused")
	case panicKey:
		panic("nil key table")
	default:
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
	}
}

func (a *fakeAuthorizer) count() int { return int(a.n.Load()) }

func (a *fakeAuthorizer) lastCall(t *testing.T) authorizerCall {
	t.Helper()
	var call authorizerCall
	for {
		select {
		case call = <-a.calls:
		default:
			if call.ev.Type == "" {
				t.Fatal("the authorizer was not called")
			}
			return call
		}
	}
}

func withKey(req *http.Request, key string) *http.Request {
	req.Header.Set("X-API-Key", key)
	return req
}

func TestPublicRoutesIgnoreKeysGoodOrBad(t *testing.T) {
	auth := newFakeAuthorizer(nil)
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle})

	// /health is public; /valves is a read route, public while keys are
	// not required for reads.
	for _, path := range []string{"/health", "/valves"} {
		for _, key := range []string{"", goodKey, badKey, denyKey} {
			req := newRequest(t, http.MethodGet, srv.URL+path, nil)
			if key != "" {
				withKey(req, key)
			}
			resp, body := do(t, req)

			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s with key %q: status = %d, want 200 (body %s)", path, key, resp.StatusCode, body)
			}
			if ev := receive(t, got).ev; ev.RequestContext.Authorizer != nil {
				t.Errorf("GET %s with key %q: Authorizer = %v, want none on a public route", path, key, ev.RequestContext.Authorizer)
			}
		}
	}
	if n := auth.count(); n != 0 {
		t.Errorf("the authorizer ran %d times for public routes, want 0", n)
	}
}

func TestWriteRouteWithoutKeyIs401AndTheAuthorizerIsNotCalled(t *testing.T) {
	auth := newFakeAuthorizer(nil)
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle})

	for name, req := range map[string]*http.Request{
		"no header":    newRequest(t, http.MethodPost, srv.URL+"/incidents", []byte(`{}`)),
		"empty header": withKey(newRequest(t, http.MethodPost, srv.URL+"/incidents", []byte(`{}`)), ""),
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := do(t, req)

			wantError(t, resp, body, http.StatusUnauthorized, apierror.CodeUnauthorized)
			notInvoked(t, got)
		})
	}
	if n := auth.count(); n != 0 {
		t.Errorf("the authorizer ran %d times without an identity source, want 0", n)
	}
}

func TestKeyTheAuthorizerCallsUnauthorizedIs401(t *testing.T) {
	auth := newFakeAuthorizer(nil)
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle})

	resp, body := do(t, withKey(newRequest(t, http.MethodPost, srv.URL+"/valves/v-101/actuate", []byte(`{}`)), badKey))

	wantError(t, resp, body, http.StatusUnauthorized, apierror.CodeUnauthorized)
	notInvoked(t, got)
	if n := auth.count(); n != 1 {
		t.Errorf("authorizer calls = %d, want 1", n)
	}
}

func TestAuthorizerFailureIs503AndItsTextStaysInTheLog(t *testing.T) {
	for name, tc := range map[string]struct {
		authorizer apigateway.AuthorizerHandler
		logged     string
	}{
		"error": {
			authorizer: newFakeAuthorizer(nil).handle, // brokenKey
			logged:     "connection refused",
		},
		"panic": {
			authorizer: newFakeAuthorizer(nil).handle, // panicKey
			logged:     "nil key table",
		},
		// Only the exact message "Unauthorized" means 401 to API Gateway.
		"Unauthorized with more words": {
			authorizer: func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
				return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("Unauthorized: key k-1 revoked")
			},
			logged: "key k-1 revoked",
		},
		// A context value that is an object is a configuration error on AWS.
		"object in the context": {
			authorizer: newFakeAuthorizer(&events.APIGatewayCustomAuthorizerResponse{
				PrincipalID:    "k-good",
				PolicyDocument: policy("Allow", anyMethod),
				Context:        map[string]any{"scopes": []string{"read"}},
			}).handle,
			logged: "scopes",
		},
	} {
		t.Run(name, func(t *testing.T) {
			logs := &syncbuf.Buffer{}
			h, got := recorder(ok200)
			srv := serve(t, every(h), apigateway.Options{
				Authorizer: tc.authorizer,
				Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
			})
			key := map[string]string{"error": brokenKey, "panic": panicKey}[name]
			if key == "" {
				key = goodKey
			}

			resp, body := do(t, withKey(newRequest(t, http.MethodPost, srv.URL+"/incidents", []byte(`{}`)), key))

			if msg := wantError(t, resp, body, http.StatusServiceUnavailable, apierror.CodeUnavailable); msg != "the key store is unavailable; retry later" {
				t.Errorf("message = %q", msg)
			}
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("no Retry-After")
			}
			if strings.Contains(string(body), tc.logged) {
				t.Errorf("the answer leaks the authorizer's failure: %s", body)
			}
			notInvoked(t, got)
			log := logs.String()
			if !strings.Contains(log, tc.logged) || !strings.Contains(log, resp.Header.Get("x-amzn-RequestId")) {
				t.Errorf("log lacks the failure or the request id:\n%s", log)
			}
			if strings.Contains(log, key) {
				t.Errorf("log contains the API key:\n%s", log)
			}
		})
	}
}

func TestPolicyThatDoesNotAllowTheMethodIs403(t *testing.T) {
	const actuate = "arn:aws:execute-api:local:000000000000:local/local/POST/valves/v-101/actuate"
	for name, doc := range map[string]events.APIGatewayCustomAuthorizerPolicy{
		"Deny":                    policy("Deny", anyMethod),
		"Allow for other methods": policy("Allow", "arn:aws:execute-api:local:000000000000:local/local/GET/*"),
		"Allow for another stage": policy("Allow", "arn:aws:execute-api:local:000000000000:local/prod/*"),
		"Allow for another valve": policy("Allow", "arn:aws:execute-api:local:000000000000:local/local/POST/valves/v-102/actuate"),
		"Allow of another action": {Statement: []events.IAMPolicyStatement{
			{Action: []string{"execute-api:ManageConnections"}, Effect: "Allow", Resource: []string{anyMethod}},
		}},
		"Allow and a matching Deny": {Statement: []events.IAMPolicyStatement{
			{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{anyMethod}},
			{Action: []string{"execute-api:Invoke"}, Effect: "Deny", Resource: []string{actuate}},
		}},
		"no statement": {Version: "2012-10-17"},
	} {
		t.Run(name, func(t *testing.T) {
			auth := newFakeAuthorizer(&events.APIGatewayCustomAuthorizerResponse{PrincipalID: "k-good", PolicyDocument: doc})
			h, got := recorder(ok200)
			srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle})

			resp, body := do(t, withKey(newRequest(t, http.MethodPost, srv.URL+"/valves/v-101/actuate", []byte(`{}`)), goodKey))

			wantError(t, resp, body, http.StatusForbidden, apierror.CodeForbidden)
			notInvoked(t, got)
		})
	}
}

func TestPolicyResourcesMatchWithIAMWildcards(t *testing.T) {
	for _, stmt := range []events.IAMPolicyStatement{
		{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{"arn:aws:execute-api:local:000000000000:local/local/POST/valves/v-101/actuate"}},
		{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{"arn:aws:execute-api:local:000000000000:local/*/POST/valves/*/actuate"}},
		{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{"arn:aws:execute-api:*:*:*/local/POST/*"}},
		{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{"arn:aws:execute-api:local:000000000000:local/local/POST/valves/v-10?/actuate"}},
		{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{"other", "*"}},
		{Action: []string{"execute-api:*"}, Effect: "Allow", Resource: []string{anyMethod}},
		{Action: []string{"*"}, Effect: "Allow", Resource: []string{anyMethod}},
		{Action: []string{"EXECUTE-API:invoke"}, Effect: "Allow", Resource: []string{anyMethod}}, // actions ignore case
	} {
		t.Run(fmt.Sprint(stmt.Action, stmt.Resource), func(t *testing.T) {
			auth := newFakeAuthorizer(&events.APIGatewayCustomAuthorizerResponse{
				PrincipalID:    "k-good",
				PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Statement: []events.IAMPolicyStatement{stmt}},
			})
			h, got := recorder(ok200)
			srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle})

			resp, body := do(t, withKey(newRequest(t, http.MethodPost, srv.URL+"/valves/v-101/actuate", []byte(`{}`)), goodKey))

			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
			}
			receive(t, got)
		})
	}
}

func TestAllowedRequestCarriesTheAuthorizerContextAndPrincipal(t *testing.T) {
	auth := newFakeAuthorizer(&events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    "k-7",
		PolicyDocument: policy("Allow", anyMethod),
		Context: map[string]any{
			"key_id":  "k-7",
			"scopes":  "valves:actuate read",
			"assets":  12345678901234567, // more digits than a float64 holds
			"ratio":   0.5,
			"admin":   false,
			"comment": nil,
		},
	})
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle})

	resp, body := do(t, withKey(newRequest(t, http.MethodPost, srv.URL+"/valves/v-101/actuate", []byte(`{}`)), goodKey))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	authz := receive(t, got).ev.RequestContext.Authorizer

	// API Gateway passes context values on as strings (REST API, Lambda
	// proxy integration), and adds principalId and integrationLatency.
	want := map[string]any{
		"key_id":      "k-7",
		"scopes":      "valves:actuate read",
		"assets":      "12345678901234567",
		"ratio":       "0.5",
		"admin":       "false",
		"comment":     nil,
		"principalId": "k-7",
	}
	if _, ok := authz["integrationLatency"].(float64); !ok {
		t.Errorf("integrationLatency = %#v, want a number", authz["integrationLatency"])
	}
	delete(authz, "integrationLatency")
	if !maps.Equal(authz, want) {
		t.Errorf("Authorizer = %#v\nwant %#v", authz, want)
	}
}

func TestAuthorizerEventIsTheREQUESTEventOfTheRequest(t *testing.T) {
	auth := newFakeAuthorizer(nil)
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle, Stage: "dev"})

	req := withKey(newRequest(t, http.MethodPost, srv.URL+"/valves/v-101/actuate?dry_run=1&dry_run=2", []byte(`{}`)), goodKey)
	req.Header.Add("X-Trace", "a")
	req.Header.Add("X-Trace", "b")
	do(t, req)
	proxy := receive(t, got).ev
	call := auth.lastCall(t)
	ev := call.ev

	if ev.Type != "REQUEST" {
		t.Errorf("Type = %q, want REQUEST", ev.Type)
	}
	if want := "arn:aws:execute-api:local:000000000000:local/dev/POST/valves/v-101/actuate"; ev.MethodArn != want {
		t.Errorf("MethodArn = %q, want %q", ev.MethodArn, want)
	}
	if ev.Resource != "/valves/{id}/actuate" || ev.Path != "/valves/v-101/actuate" || ev.HTTPMethod != http.MethodPost {
		t.Errorf("Resource, Path, HTTPMethod = %q, %q, %q", ev.Resource, ev.Path, ev.HTTPMethod)
	}
	if ev.Headers["X-Api-Key"] != goodKey || ev.Headers["X-Trace"] != "b" {
		t.Errorf("Headers = %v, want the key and the last X-Trace", ev.Headers)
	}
	if got := ev.MultiValueHeaders["X-Trace"]; !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("MultiValueHeaders[X-Trace] = %q", got)
	}
	if !maps.Equal(ev.QueryStringParameters, map[string]string{"dry_run": "2"}) ||
		!slices.Equal(ev.MultiValueQueryStringParameters["dry_run"], []string{"1", "2"}) {
		t.Errorf("query = %v, %v", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
	}
	if !maps.Equal(ev.PathParameters, map[string]string{"id": "v-101"}) {
		t.Errorf("PathParameters = %v", ev.PathParameters)
	}
	if ev.StageVariables != nil {
		t.Errorf("StageVariables = %v, want nil", ev.StageVariables)
	}

	rc, prc := ev.RequestContext, proxy.RequestContext
	if rc.RequestID != prc.RequestID || rc.RequestID == "" {
		t.Errorf("authorizer's RequestID %q, function's %q: want the same request", rc.RequestID, prc.RequestID)
	}
	if rc.Stage != "dev" || rc.Path != "/dev/valves/v-101/actuate" || rc.ResourcePath != "/valves/{id}/actuate" ||
		rc.HTTPMethod != http.MethodPost || rc.AccountID != "000000000000" || rc.APIID != "local" ||
		rc.ResourceID != prc.ResourceID || rc.Identity.SourceIP != "127.0.0.1" {
		t.Errorf("RequestContext = %+v", rc)
	}

	if call.lc == nil || call.lc.InvokedFunctionArn != "arn:aws:lambda:local:000000000000:function:authorizer" ||
		!uuidForm.MatchString(call.lc.AwsRequestID) {
		t.Errorf("authorizer's LambdaContext = %+v", call.lc)
	}
	if !call.hasDeadline {
		t.Error("the authorizer's context has no deadline")
	}
}

func TestAuthorizerCacheTTL(t *testing.T) {
	post := func(t *testing.T, srv string, path, key string) int {
		t.Helper()
		resp, _ := do(t, withKey(newRequest(t, http.MethodPost, srv+path, []byte(`{}`)), key))
		return resp.StatusCode
	}

	t.Run("zero asks every time", func(t *testing.T) {
		auth := newFakeAuthorizer(nil)
		h, _ := recorder(ok200)
		srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle})

		post(t, srv.URL, "/incidents", goodKey)
		post(t, srv.URL, "/incidents", goodKey)

		if n := auth.count(); n != 2 {
			t.Errorf("authorizer calls = %d for two requests without a cache, want 2", n)
		}
	})

	t.Run("positive asks once per key", func(t *testing.T) {
		auth := newFakeAuthorizer(nil)
		h, _ := recorder(ok200)
		srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle, AuthorizerCacheTTL: time.Hour})

		for range 2 {
			if status := post(t, srv.URL, "/incidents", goodKey); status != http.StatusOK {
				t.Errorf("status = %d, want 200", status)
			}
		}
		if n := auth.count(); n != 1 {
			t.Errorf("authorizer calls = %d for two requests with one key, want 1", n)
		}
		for range 2 {
			if status := post(t, srv.URL, "/incidents", denyKey); status != http.StatusForbidden {
				t.Errorf("status = %d, want 403", status)
			}
		}
		if n := auth.count(); n != 2 {
			t.Errorf("authorizer calls = %d after two requests with a denied key, want one more: Deny is cached too", n)
		}
	})

	t.Run("errors are not cached", func(t *testing.T) {
		auth := newFakeAuthorizer(nil)
		h, _ := recorder(ok200)
		srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle, AuthorizerCacheTTL: time.Hour})

		for _, key := range []string{badKey, badKey, brokenKey, brokenKey} {
			post(t, srv.URL, "/incidents", key)
		}
		if n := auth.count(); n != 4 {
			t.Errorf("authorizer calls = %d for four refused or failed requests, want 4", n)
		}
	})

	// The cached policy is checked against each request's own method, so a
	// policy naming only the first method refuses the next, as on AWS.
	t.Run("a cached policy is evaluated per method", func(t *testing.T) {
		auth := newFakeAuthorizer(&events.APIGatewayCustomAuthorizerResponse{
			PrincipalID:    "k-good",
			PolicyDocument: policy("Allow", "arn:aws:execute-api:local:000000000000:local/local/POST/incidents"),
		})
		h, _ := recorder(ok200)
		srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle, AuthorizerCacheTTL: time.Hour})

		if status := post(t, srv.URL, "/incidents", goodKey); status != http.StatusOK {
			t.Errorf("POST /incidents: status = %d, want 200", status)
		}
		if status := post(t, srv.URL, "/pipeline/alerts", goodKey); status != http.StatusForbidden {
			t.Errorf("POST /pipeline/alerts with the cached policy: status = %d, want 403", status)
		}
		if n := auth.count(); n != 1 {
			t.Errorf("authorizer calls = %d, want 1", n)
		}
	})
}

func TestRequireKeyForReadsPutsReadRoutesBehindTheAuthorizer(t *testing.T) {
	auth := newFakeAuthorizer(nil)
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{Authorizer: auth.handle, RequireKeyForReads: true})

	resp, body := do(t, newRequest(t, http.MethodGet, srv.URL+"/valves/v-101", nil))
	wantError(t, resp, body, http.StatusUnauthorized, apierror.CodeUnauthorized)
	notInvoked(t, got)

	resp, body = do(t, withKey(newRequest(t, http.MethodGet, srv.URL+"/valves/v-101", nil), badKey))
	wantError(t, resp, body, http.StatusUnauthorized, apierror.CodeUnauthorized)
	notInvoked(t, got)

	resp, _ = do(t, withKey(newRequest(t, http.MethodGet, srv.URL+"/valves/v-101", nil), goodKey))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /valves/v-101 with a good key: status = %d, want 200", resp.StatusCode)
	}
	if authz := receive(t, got).ev.RequestContext.Authorizer; authz["principalId"] != "k-good" || authz["key_id"] != "k-good" {
		t.Errorf("Authorizer = %v, want the good key's context", authz)
	}

	// Public routes stay public.
	before := auth.count()
	resp, _ = do(t, withKey(newRequest(t, http.MethodGet, srv.URL+"/health", nil), badKey))
	if resp.StatusCode != http.StatusOK || auth.count() != before {
		t.Errorf("GET /health with a bad key: status = %d, authorizer calls %d → %d; want 200 and no call",
			resp.StatusCode, before, auth.count())
	}
	receive(t, got)
}

// Without an authorizer the gateway behaves as it did before it had one:
// every route is open and no event carries an authorizer context.
func TestWithoutAnAuthorizerEveryRouteIsOpen(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{RequireKeyForReads: true})

	for _, req := range []*http.Request{
		newRequest(t, http.MethodPost, srv.URL+"/valves/v-101/actuate", []byte(`{}`)),
		newRequest(t, http.MethodGet, srv.URL+"/valves", nil),
	} {
		resp, body := do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: status = %d, want 200 (body %s)", req.Method, req.URL.Path, resp.StatusCode, body)
		}
		if authz := receive(t, got).ev.RequestContext.Authorizer; authz != nil {
			t.Errorf("Authorizer = %v, want nil", authz)
		}
	}
}
