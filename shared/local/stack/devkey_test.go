package stack_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/local/stack"
)

// PLAINVIEW_DEV_API_KEY: the key given works, across restarts; a key
// whose id the key file already holds with another secret stops the start
// with an error that says so, instead of being ignored.
func TestTheGivenDevKey(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.DevAPIKey = "pv_mine_" + strings.Repeat("ab", 32)
	openIncident := func(st *stack.Stack, key string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, st.APIURL+"/incidents", strings.NewReader(`{"title":"t","severity":"info"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-API-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 2 { // the first start adds the key, the second finds it
		st, err := stack.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		if st.DevKey != "" {
			t.Error("a given key is shown as if generated")
		}
		if got := openIncident(st, cfg.DevAPIKey); got != http.StatusCreated {
			t.Errorf("POST /incidents with the given key: %d, want 201", got)
		}
		st.Close()
	}

	cfg.DevAPIKey = "pv_mine_" + strings.Repeat("cd", 32)
	st, err := stack.Start(context.Background(), cfg)
	if err == nil {
		st.Close()
		t.Fatal("a key with a taken id and another secret was accepted")
	}
	for _, want := range []string{"PLAINVIEW_DEV_API_KEY", `"mine"`, "another id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), strings.Repeat("cd", 32)) {
		t.Error("the error shows the secret")
	}
}
