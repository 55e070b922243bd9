package apigateway_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/local/apigateway"
)

// tinyBurst is the burst of tinyThrottle.
const tinyBurst = 3

// tinyThrottle is a bucket of one token a second and a burst of three: the
// fourth request in a row is refused unless a whole second passes between
// the first and the fourth, far more than four requests on loopback take.
func tinyThrottle() routes.Throttle {
	return routes.Throttle{RatePerSecond: 1, Burst: tinyBurst}
}

// tinyTable has two routes with small buckets of their own, one without a
// bucket of its own, and one behind the authorizer.
func tinyTable() []routes.Route {
	return []routes.Route{
		{Method: http.MethodGet, Path: "/a", Function: "f", Scope: routes.Public, Throttle: tinyThrottle()},
		{Method: http.MethodGet, Path: "/b", Function: "f", Scope: routes.Public, Throttle: tinyThrottle()},
		{Method: http.MethodGet, Path: "/free", Function: "f", Scope: routes.Public},
		{Method: http.MethodPost, Path: "/write", Function: "f", Scope: routes.AlertsWrite, Throttle: tinyThrottle()},
	}
}

func serveTable(t *testing.T, table []routes.Route, h apigateway.Handler, opts apigateway.Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(apigateway.New(table, map[string]apigateway.Handler{"f": h}, opts))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	return do(t, newRequest(t, http.MethodGet, url, nil))
}

// wantThrottled checks an answer is the 429 of the error shape with a
// Retry-After of whole seconds, at least one.
func wantThrottled(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	wantError(t, resp, body, http.StatusTooManyRequests, apierror.CodeThrottled)
	ra := resp.Header.Get("Retry-After")
	if secs, err := strconv.Atoi(ra); err != nil || secs < 1 {
		t.Errorf("Retry-After = %q, want whole seconds, at least 1", ra)
	}
}

func TestRouteBucketAnswersItsBurstThen429(t *testing.T) {
	h, got := recorder(ok200)
	srv := serveTable(t, tinyTable(), h, apigateway.Options{})

	for i := range tinyBurst {
		if resp, body := get(t, srv.URL+"/a"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d of the burst: status = %d, want 200 (body %s)", i+1, resp.StatusCode, body)
		}
		receive(t, got)
	}
	resp, body := get(t, srv.URL+"/a")
	wantThrottled(t, resp, body)
	notInvoked(t, got)

	// Each route has its own bucket.
	if resp, _ := get(t, srv.URL+"/b"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /b after /a ran dry: status = %d, want 200", resp.StatusCode)
	}
}

func TestStageBucketIsSharedByEveryRoute(t *testing.T) {
	h, _ := recorder(ok200)
	srv := serveTable(t, tinyTable(), h, apigateway.Options{StageThrottle: routes.Throttle{RatePerSecond: 1, Burst: 2}})

	for _, path := range []string{"/a", "/b"} {
		if resp, _ := get(t, srv.URL+path); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status = %d, want 200", path, resp.StatusCode)
		}
	}
	// /free has no bucket of its own and /a has tokens left: the stage
	// refuses both.
	for _, path := range []string{"/free", "/a"} {
		resp, body := get(t, srv.URL+path)
		wantThrottled(t, resp, body)
	}
}

func TestRequestRefusedByItsRouteTakesNoStageToken(t *testing.T) {
	table := []routes.Route{
		{Method: http.MethodGet, Path: "/one", Function: "f", Throttle: routes.Throttle{RatePerSecond: 1, Burst: 1}},
		{Method: http.MethodGet, Path: "/free", Function: "f"},
	}
	h, _ := recorder(ok200)
	srv := serveTable(t, table, h, apigateway.Options{StageThrottle: routes.Throttle{RatePerSecond: 1, Burst: 2}})

	if resp, _ := get(t, srv.URL+"/one"); resp.StatusCode != http.StatusOK {
		t.Fatalf("first GET /one: status = %d, want 200", resp.StatusCode)
	}
	for range 3 {
		resp, body := get(t, srv.URL+"/one")
		wantThrottled(t, resp, body)
	}
	// The stage gave one token to the first /one and none to the refused
	// ones: one is left.
	if resp, _ := get(t, srv.URL+"/free"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /free: status = %d, want 200: refused requests used up the stage's tokens", resp.StatusCode)
	}
}

func TestThrottlingComesBeforeTheAuthorizer(t *testing.T) {
	auth := newFakeAuthorizer(nil)
	h, _ := recorder(ok200)
	srv := serveTable(t, tinyTable(), h, apigateway.Options{Authorizer: auth.handle})

	for range tinyBurst {
		do(t, withKey(newRequest(t, http.MethodPost, srv.URL+"/write", nil), badKey))
	}
	resp, body := do(t, withKey(newRequest(t, http.MethodPost, srv.URL+"/write", nil), badKey))

	wantThrottled(t, resp, body)
	if n := auth.count(); n != tinyBurst {
		t.Errorf("authorizer calls = %d, want %d: a throttled request costs no authorizer call", n, tinyBurst)
	}
}

func TestPreflightsAndUnknownRoutesAreNotThrottled(t *testing.T) {
	h, _ := recorder(ok200)
	srv := serveTable(t, tinyTable(), h, apigateway.Options{StageThrottle: routes.Throttle{RatePerSecond: 1, Burst: 1}})

	if resp, _ := get(t, srv.URL+"/a"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /a: status = %d, want 200", resp.StatusCode)
	}
	for range 3 {
		if resp, _ := do(t, newRequest(t, http.MethodOptions, srv.URL+"/a", nil)); resp.StatusCode != http.StatusNoContent {
			t.Errorf("OPTIONS /a with the stage dry: status = %d, want 204", resp.StatusCode)
		}
		resp, body := get(t, srv.URL+"/nowhere")
		wantError(t, resp, body, http.StatusNotFound, apierror.CodeNotFound)
	}
}

func TestDisableThrottlingLetsEveryRequestThrough(t *testing.T) {
	h, _ := recorder(ok200)
	srv := serveTable(t, tinyTable(), h, apigateway.Options{
		DisableThrottling: true,
		StageThrottle:     routes.Throttle{RatePerSecond: 1, Burst: 1},
	})

	for i := range 3 * tinyBurst {
		if resp, body := get(t, srv.URL+"/a"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status = %d, want 200 (body %s)", i+1, resp.StatusCode, body)
		}
	}
}

func TestRouteThrottledToZeroAdmitsNothing(t *testing.T) {
	table := []routes.Route{
		{Method: http.MethodGet, Path: "/off", Function: "f", Throttle: routes.Throttle{RatePerSecond: 0, Burst: 5}},
		{Method: http.MethodGet, Path: "/also-off", Function: "f", Throttle: routes.Throttle{RatePerSecond: 5, Burst: 0}},
	}
	h, got := recorder(ok200)
	srv := serveTable(t, table, h, apigateway.Options{})

	for _, path := range []string{"/off", "/also-off"} {
		resp, body := get(t, srv.URL+path)
		wantThrottled(t, resp, body)
	}
	notInvoked(t, got)
}

func TestDefaultStageThrottleIsTheAccountDefault(t *testing.T) {
	if apigateway.DefaultStageRate != 10000 || apigateway.DefaultStageBurst != 5000 {
		t.Errorf("default stage throttle = %d rps, burst %d; API Gateway's account default is 10000 rps, burst 5000",
			apigateway.DefaultStageRate, apigateway.DefaultStageBurst)
	}
}
