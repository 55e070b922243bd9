package routes_test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/contract/routes"
)

func TestTableRoutesAreWellFormed(t *testing.T) {
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	functions := []string{routes.FuncReads, routes.FuncValves, routes.FuncIncidents, routes.FuncEvents}
	scopes := []routes.Scope{
		routes.Public, routes.Read, routes.ValvesActuate, routes.ValvesOverride,
		routes.IncidentsWrite, routes.AlertsWrite, routes.Admin,
	}
	// A {param} both API Gateway and ServeMux accept: a Go identifier.
	paramName := regexp.MustCompile(`^\{[A-Za-z_][A-Za-z0-9_]*\}$`)
	table := routes.Table()
	if len(table) == 0 {
		t.Fatal("the table is empty")
	}
	for _, r := range table {
		name := r.Method + " " + r.Path
		if !slices.Contains(methods, r.Method) {
			t.Errorf("%s: method %q is not an HTTP method the API uses", name, r.Method)
		}
		if !strings.HasPrefix(r.Path, "/") {
			t.Errorf("%s: path does not start with /", name)
		}
		if r.Path != "/" {
			for i, seg := range strings.Split(r.Path[1:], "/") {
				if seg == "" {
					t.Errorf("%s: segment %d is empty", name, i)
				}
				if strings.ContainsAny(seg, "{}") && !paramName.MatchString(seg) {
					t.Errorf("%s: segment %q is neither literal nor a {param}", name, seg)
				}
			}
		}
		if !slices.Contains(functions, r.Function) {
			t.Errorf("%s: unknown function %q", name, r.Function)
		}
		if !slices.Contains(scopes, r.Scope) {
			t.Errorf("%s: unknown scope %q", name, r.Scope)
		}
		if r.Throttle.RatePerSecond <= 0 || r.Throttle.Burst <= 0 {
			t.Errorf("%s: throttle %+v does not let requests through", name, r.Throttle)
		}
		if r.Summary == "" {
			t.Errorf("%s: no summary", name)
		}
	}
}

func TestTableHasNoDuplicateRoutes(t *testing.T) {
	// Paths are compared with their parameters unnamed: /valves/{id} and
	// /valves/{valve_id} are the same resource to API Gateway.
	seen := map[string]string{}
	for _, r := range routes.Table() {
		segs := strings.Split(r.Path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") {
				segs[i] = "{}"
			}
		}
		key := r.Method + " " + strings.Join(segs, "/")
		if prev, dup := seen[key]; dup {
			t.Errorf("%s %s duplicates %s", r.Method, r.Path, prev)
		}
		seen[key] = r.Method + " " + r.Path
	}
}

func TestFunctionsListsEachFunctionOnceInTableOrder(t *testing.T) {
	got := routes.Functions(routes.Table())
	want := []string{routes.FuncReads, routes.FuncValves, routes.FuncIncidents, routes.FuncEvents}
	if !slices.Equal(got, want) {
		t.Errorf("Functions = %v, want %v", got, want)
	}
	if got := routes.Functions(nil); len(got) != 0 {
		t.Errorf("Functions(nil) = %v, want none", got)
	}
}

// example is a concrete path for a route: each {param} replaced by a value
// that is no literal segment of the table.
func example(path string) (string, map[string]string) {
	params := map[string]string{}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, "{"); ok {
			name = strings.TrimSuffix(name, "}")
			segs[i] = "x-" + name
			params[name] = segs[i]
		}
	}
	return strings.Join(segs, "/"), params
}

func TestPatternsServeTheSameRoutesOnAServeMux(t *testing.T) {
	table := routes.Table()
	mux := http.NewServeMux()
	for _, r := range table {
		func() {
			// ServeMux panics on a malformed pattern or on two patterns
			// that match the same requests with neither more specific:
			// the same ambiguity would make Match depend on table order.
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("registering %q: %v", r.Pattern(), p)
				}
			}()
			mux.HandleFunc(r.Pattern(), func(http.ResponseWriter, *http.Request) {})
		}()
	}
	// The local gateway serves with the mux and the Lambdas route with
	// Match: both must pick the same route for every path of the table.
	for _, r := range table {
		path, _ := example(r.Path)
		_, pattern := mux.Handler(httptest.NewRequest(r.Method, path, nil))
		if pattern != r.Pattern() {
			t.Errorf("ServeMux routes %s %s to %q, want %q", r.Method, path, pattern, r.Pattern())
		}
	}
	// "/" is the root only, not a catch-all.
	if _, pattern := mux.Handler(httptest.NewRequest(http.MethodGet, "/nope", nil)); pattern != "" {
		t.Errorf("ServeMux routes GET /nope to %q, want no route", pattern)
	}
}

func TestMatchFindsEveryRouteOfTheTable(t *testing.T) {
	table := routes.Table()
	for _, r := range table {
		path, wantParams := example(r.Path)
		got, params, ok := routes.Match(table, r.Method, path)
		if !ok || got.Method != r.Method || got.Path != r.Path {
			t.Errorf("Match(%s %s) = %s %s, %v; want %s %s", r.Method, path, got.Method, got.Path, ok, r.Method, r.Path)
			continue
		}
		if len(params) != 0 || len(wantParams) != 0 {
			if !maps.Equal(params, wantParams) {
				t.Errorf("Match(%s %s) params = %v, want %v", r.Method, path, params, wantParams)
			}
		}
	}
}

func TestMatch(t *testing.T) {
	table := routes.Table()
	tests := []struct {
		method, path string
		wantPath     string // "" for no match
		wantParams   map[string]string
	}{
		{"GET", "/", "/", nil},
		{"GET", "/health", "/health", nil},
		{"GET", "/valves", "/valves", nil},
		{"GET", "/valves/v-101", "/valves/{id}", map[string]string{"id": "v-101"}},
		{"GET", "/valves/v-101/health", "/valves/{id}/health", map[string]string{"id": "v-101"}},
		{"GET", "/valves/v-101/actuations/act-7", "/valves/{id}/actuations/{actuation_id}", map[string]string{"id": "v-101", "actuation_id": "act-7"}},
		{"POST", "/valves/v-101/actuate", "/valves/{id}/actuate", map[string]string{"id": "v-101"}},
		{"GET", "/pipeline/sections/A-North", "/pipeline/sections/{section}", map[string]string{"section": "A-North"}},

		// A literal segment beats a parameter, whatever the table order.
		{"GET", "/incidents/health", "/incidents/health", nil},
		{"GET", "/incidents/inc-1", "/incidents/{id}", map[string]string{"id": "inc-1"}},
		{"GET", "/incidents/healthy", "/incidents/{id}", map[string]string{"id": "healthy"}},
		// The method is part of the route.
		{"POST", "/incidents", "/incidents", nil},
		{"GET", "/incidents", "/incidents", nil},

		// No match.
		{"DELETE", "/incidents", "", nil},
		{"GET", "/valves/v-101/actuate", "", nil},
		{"POST", "/valves/v-101", "", nil},
		{"get", "/valves", "", nil}, // methods are case-sensitive
		{"GET", "/nope", "", nil},
		{"GET", "/valves//health", "", nil},
		{"GET", "/valves/", "", nil},
		{"GET", "/valves/v-101/", "", nil},
		{"GET", "//", "", nil},
		{"GET", "", "", nil},
		{"GET", "valves", "", nil},
		{"GET", "/valves/v-101/health/extra", "", nil},
		{"GET", "/HEALTH", "", nil},
		{"GET", "/a/b/c/d/e/f/g/h/i", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r, params, ok := routes.Match(table, tt.method, tt.path)
			if tt.wantPath == "" {
				if ok {
					t.Fatalf("matched %s %s, want no match", r.Method, r.Path)
				}
				return
			}
			if !ok {
				t.Fatalf("no match, want %s", tt.wantPath)
			}
			if r.Method != tt.method || r.Path != tt.wantPath {
				t.Errorf("matched %s %s, want %s %s", r.Method, r.Path, tt.method, tt.wantPath)
			}
			if !maps.Equal(params, tt.wantParams) {
				t.Errorf("params = %v, want %v", params, tt.wantParams)
			}
		})
	}
}

func TestMatchPrefersLiteralsWhateverTheOrder(t *testing.T) {
	literal := routes.Route{Method: http.MethodGet, Path: "/a/b/c"}
	oneParam := routes.Route{Method: http.MethodGet, Path: "/a/{x}/c"}
	twoParams := routes.Route{Method: http.MethodGet, Path: "/a/{x}/{y}"}
	for _, table := range [][]routes.Route{
		{literal, oneParam, twoParams},
		{twoParams, oneParam, literal},
		{oneParam, twoParams, literal},
	} {
		if r, _, _ := routes.Match(table, "GET", "/a/b/c"); r.Path != literal.Path {
			t.Errorf("/a/b/c matched %s, want %s", r.Path, literal.Path)
		}
		if r, _, _ := routes.Match(table, "GET", "/a/z/c"); r.Path != oneParam.Path {
			t.Errorf("/a/z/c matched %s, want %s", r.Path, oneParam.Path)
		}
		if r, _, _ := routes.Match(table, "GET", "/a/z/z"); r.Path != twoParams.Path {
			t.Errorf("/a/z/z matched %s, want %s", r.Path, twoParams.Path)
		}
	}
}

func TestPatternPinsTheRootToItself(t *testing.T) {
	tests := []struct {
		r    routes.Route
		want string
	}{
		{routes.Route{Method: "GET", Path: "/"}, "GET /{$}"},
		{routes.Route{Method: "GET", Path: "/valves/{id}"}, "GET /valves/{id}"},
		{routes.Route{Method: "POST", Path: "/incidents"}, "POST /incidents"},
	}
	for _, tt := range tests {
		if got := tt.r.Pattern(); got != tt.want {
			t.Errorf("%s %s: Pattern() = %q, want %q", tt.r.Method, tt.r.Path, got, tt.want)
		}
	}
}

// FuzzMatch checks that Match never panics, and that a match is the route's
// path with its parameters filled in: each parameter non-empty and without
// a slash, so it is exactly one segment of the request path.
func FuzzMatch(f *testing.F) {
	table := routes.Table()
	f.Fuzz(func(t *testing.T, method, path string) {
		r, params, ok := routes.Match(table, method, path)
		if !ok {
			return
		}
		if r.Method != method {
			t.Fatalf("Match(%q, %q) returned a %s route", method, path, r.Method)
		}
		segs := strings.Split(r.Path, "/")
		want := 0
		for i, s := range segs {
			name, isParam := strings.CutPrefix(s, "{")
			if !isParam {
				continue
			}
			want++
			name = strings.TrimSuffix(name, "}")
			v, found := params[name]
			if !found || v == "" || strings.Contains(v, "/") {
				t.Fatalf("Match(%q, %q) = %s with params %q: %q must be one non-empty segment", method, path, r.Path, params, name)
			}
			segs[i] = v
		}
		if len(params) != want {
			t.Fatalf("Match(%q, %q) = %s with %d params %q, want %d", method, path, r.Path, len(params), params, want)
		}
		if filled := strings.Join(segs, "/"); filled != path {
			t.Fatalf("Match(%q, %q) = %s with params %q, which make %q", method, path, r.Path, params, filled)
		}
	})
}

func TestAllowListsThePathsMethodsWithHeadAndOptions(t *testing.T) {
	for _, c := range []struct {
		methods []string
		want    string
	}{
		{[]string{http.MethodGet}, "GET, HEAD, OPTIONS"},
		{[]string{http.MethodPost}, "POST, OPTIONS"},
		{[]string{http.MethodPost, http.MethodGet}, "GET, HEAD, POST, OPTIONS"},
	} {
		if got := routes.Allow(c.methods); got != c.want {
			t.Errorf("Allow(%v) = %q, want %q", c.methods, got, c.want)
		}
	}
}

// Only the event log streams: a streamed integration answers in Lambda's
// streamed format, which only the events function writes.
func TestOnlyTheEventLogStreams(t *testing.T) {
	for _, r := range routes.Table() {
		want := r.Method == http.MethodGet && r.Path == "/events"
		if r.Stream != want {
			t.Errorf("%s: Stream = %v, want %v", r.Pattern(), r.Stream, want)
		}
		if r.Stream && r.Function != routes.FuncEvents {
			t.Errorf("%s streams but is served by %s, not %s", r.Pattern(), r.Function, routes.FuncEvents)
		}
	}
}
