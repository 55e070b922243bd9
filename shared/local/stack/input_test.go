package stack_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// What encoding/json and net/http let through, each refused with a 400
// that names the problem, and nothing stored (issue 15).
func TestLenientInputIsRefusedWithItsReasonAndWritesNothing(t *testing.T) {
	st := writeStack(t)
	key := newKey(t, st, "ops", allScopes)
	admin := newKey(t, st, "admin", []string{"admin"})
	before := tableDump(t, st)
	json := []string{"application/json"}
	for _, c := range []struct {
		name, path, key, body string
		header                map[string][]string
		says                  string // in the message
	}{
		{"a field twice", "/incidents", key, `{"title":"a","title":"b","severity":"info"}`, nil, `"title" is given twice`},
		{"a field twice, nested", "/pipeline/alerts", key, `{"section":"A-North","severity":"minor","location":{"lat":1,"lat":2,"lon":3}}`, nil, `"lat" is given twice`},
		{"a name in capitals", "/incidents", key, `{"TITLE":"t","severity":"info"}`, nil, "snake_case"},
		{"a name with a long s", "/incidents", key, `{"title":"t","\u017feverity":"info"}`, nil, "snake_case"},
		{"bytes that are not UTF-8", "/incidents", key, "{\"title\":\"caf\xe9\",\"severity\":\"info\"}", nil, "UTF-8"},
		{"a NUL in a title", "/incidents", key, `{"title":"a\u0000b","severity":"info"}`, nil, "NUL"},
		{"a bell in a description", "/incidents", key, `{"title":"t","severity":"info","description":"ding\u0007"}`, nil, "control character"},
		{"Content-Type twice", "/incidents", key, `{"title":"t","severity":"info"}`, map[string][]string{"Content-Type": {"application/json", "application/json"}}, "Content-Type is given more than once"},
		{"Idempotency-Key twice", "/incidents", key, `{"title":"t","severity":"info"}`, map[string][]string{"Content-Type": json, "Idempotency-Key": {"k-1", "k-2"}}, "Idempotency-Key is given more than once"},
		{"a maintenance date of year 1", "/valves", admin, `{"id":"v-300","name":"x","location":"y","estimated_maintenance":"0001-01-01T00:00:00Z"}`, nil, "estimated_maintenance"},
		{"a maintenance date of year 9999", "/valves/v-101/update", admin, `{"estimated_maintenance":"9999-12-31T00:00:00Z"}`, nil, "estimated_maintenance"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodPost, st.APIURL+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("X-API-Key", c.key)
			r.Header["Content-Type"] = json
			for k, v := range c.header {
				r.Header[k] = v
			}
			res, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			a := answer{res.StatusCode, res.Header, b}
			if a.status != 400 || errorCode(t, a) != "bad_request" || !strings.Contains(a.json(t)["error"].(map[string]any)["message"].(string), c.says) {
				t.Errorf("%d %s, want 400 saying %q", a.status, a.body, c.says)
			}
		})
	}
	if after := tableDump(t, st); after != before {
		t.Errorf("refused input changed the store")
	}
	// Each of those, written properly, is taken.
	want(t, post(t, st, key, "/incidents", `{"title":"café","severity":"info","description":"line one\nline two"}`), 201)
	want(t, post(t, st, admin, "/valves/v-101/update", `{"estimated_maintenance":"2031-06-01T00:00:00Z"}`), 200)
}
