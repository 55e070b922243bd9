package apigateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/local/apigateway"
)

const (
	allowedOrigin = "https://app.example.com"
	otherOrigin   = "https://evil.example.com"
)

func policyFor(t *testing.T, list string) cors.Policy {
	t.Helper()
	p, err := cors.Parse(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func preflight(t *testing.T, url, origin, method string) (*http.Response, []byte) {
	t.Helper()
	req := newRequest(t, http.MethodOptions, url, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	req.Header.Set("Access-Control-Request-Headers", "content-type, x-api-key")
	return do(t, req)
}

func TestPreflightFromAnAllowedOriginIs204WithTheResourcesMethods(t *testing.T) {
	auth := newFakeAuthorizer(nil)
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{CORS: policyFor(t, allowedOrigin), Authorizer: auth.handle, RequireKeyForReads: true})

	for path, methods := range map[string]string{
		"/valves/v-101/actuate": "POST, OPTIONS",
		"/incidents":            "GET, POST, OPTIONS",
		"/incidents/i-1/update": "POST, OPTIONS",
		"/health":               "GET, OPTIONS",
		"/":                     "GET, OPTIONS",
	} {
		resp, body := preflight(t, srv.URL+path, allowedOrigin, http.MethodPost)

		if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
			t.Errorf("OPTIONS %s: answer = %d %q, want 204 and no body", path, resp.StatusCode, body)
		}
		for name, want := range map[string]string{
			"Access-Control-Allow-Origin":  allowedOrigin,
			"Access-Control-Allow-Methods": methods,
			"Access-Control-Allow-Headers": "Content-Type, X-API-Key, Idempotency-Key, Last-Event-ID",
			"Access-Control-Max-Age":       "600",
		} {
			if got := resp.Header.Get(name); got != want {
				t.Errorf("OPTIONS %s: %s = %q, want %q", path, name, got, want)
			}
		}
		if !uuidForm.MatchString(resp.Header.Get("x-amzn-RequestId")) {
			t.Errorf("OPTIONS %s: no request id", path)
		}
	}
	notInvoked(t, got)
	if n := auth.count(); n != 0 {
		t.Errorf("the authorizer ran %d times for preflights, want 0", n)
	}
}

func TestPreflightFromARefusedOriginHasNoCORSHeaders(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{CORS: policyFor(t, allowedOrigin)})

	resp, _ := preflight(t, srv.URL+"/valves/v-101/actuate", otherOrigin, http.MethodPost)

	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("status = %d, want 204: the browser refuses on the missing headers", resp.StatusCode)
	}
	for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age"} {
		if v := resp.Header.Get(name); v != "" {
			t.Errorf("%s = %q for a refused origin", name, v)
		}
	}
	notInvoked(t, got)
}

func TestOptionsOnAnUnknownPathIs404(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{CORS: policyFor(t, allowedOrigin)})

	for _, path := range []string{"/nowhere", "/valves/v-101/unknown", "/valves//health"} {
		resp, body := preflight(t, srv.URL+path, allowedOrigin, http.MethodGet)
		wantError(t, resp, body, http.StatusNotFound, apierror.CodeNotFound)
	}
	notInvoked(t, got)
}

// The gateway's own answers need CORS headers too, or a page cannot see
// why it was refused. They get them for an allowed origin only.
func TestGatewayAnswersCarryCORSHeadersForAnAllowedOriginOnly(t *testing.T) {
	table := append(routes.Table(), routes.Route{
		Method: http.MethodGet, Path: "/tiny", Function: routes.FuncReads,
		Throttle: routes.Throttle{RatePerSecond: 1, Burst: 1},
	})
	auth := newFakeAuthorizer(nil)
	h, _ := recorder(ok200)
	srv := httptest.NewServer(apigateway.New(table, every(h), apigateway.Options{CORS: policyFor(t, allowedOrigin), Authorizer: auth.handle}))
	t.Cleanup(srv.Close)
	do(t, newRequest(t, http.MethodGet, srv.URL+"/tiny", nil)) // empties /tiny's bucket

	for _, tc := range []struct {
		name, method, path, key string
		status                  int
	}{
		{"401 without a key", http.MethodPost, "/incidents", "", http.StatusUnauthorized},
		{"401 with a bad key", http.MethodPost, "/incidents", badKey, http.StatusUnauthorized},
		{"403 denied", http.MethodPost, "/incidents", denyKey, http.StatusForbidden},
		{"404", http.MethodGet, "/nowhere", "", http.StatusNotFound},
		{"429", http.MethodGet, "/tiny", "", http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for origin, allowed := range map[string]bool{allowedOrigin: true, otherOrigin: false, "": false} {
				req := newRequest(t, tc.method, srv.URL+tc.path, nil)
				if origin != "" {
					req.Header.Set("Origin", origin)
				}
				if tc.key != "" {
					withKey(req, tc.key)
				}
				resp, _ := do(t, req)
				if resp.StatusCode != tc.status {
					t.Fatalf("Origin %q: status = %d, want %d", origin, resp.StatusCode, tc.status)
				}

				acao, expose := resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Expose-Headers")
				switch {
				case allowed && (acao != origin || expose == "" || resp.Header.Get("Vary") != "Origin"):
					t.Errorf("Origin %q: Allow-Origin %q, Expose-Headers %q, Vary %q; want the origin, the list, Origin",
						origin, acao, expose, resp.Header.Get("Vary"))
				case !allowed && (acao != "" || expose != ""):
					t.Errorf("Origin %q: Allow-Origin %q, Expose-Headers %q; want none", origin, acao, expose)
				}
			}
		})
	}
}

// A function's answer is the function's: the handlers apply the policy
// themselves, as a REST proxy integration requires, and the gateway adds
// nothing.
func TestFunctionAnswersAreLeftToTheFunction(t *testing.T) {
	h, _ := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{CORS: policyFor(t, allowedOrigin)})

	req := newRequest(t, http.MethodGet, srv.URL+"/health", nil)
	req.Header.Set("Origin", allowedOrigin)
	resp, _ := do(t, req)

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("Access-Control-Allow-Origin = %q on a function's answer, want the gateway to add nothing", v)
	}
}

func TestZeroPolicyAllowsNoOrigin(t *testing.T) {
	h, got := recorder(ok200)
	srv := serve(t, every(h), apigateway.Options{})

	resp, _ := preflight(t, srv.URL+"/incidents", allowedOrigin, http.MethodPost)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight: %d with Allow-Origin %q, want 204 without", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	req := newRequest(t, http.MethodGet, srv.URL+"/nowhere", nil)
	req.Header.Set("Origin", allowedOrigin)
	if resp, _ := do(t, req); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("404: Allow-Origin %q, want none", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	notInvoked(t, got)
}
