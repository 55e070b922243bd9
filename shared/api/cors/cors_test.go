package cors_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/plainview/serverless/shared/api/cors"
)

func mustParse(t *testing.T, list string) cors.Policy {
	t.Helper()
	p, err := cors.Parse(list)
	if err != nil {
		t.Fatalf("Parse(%q): %v", list, err)
	}
	return p
}

// corsHeaders is every header the policy may set, to check that a refusal
// sets none of them.
var corsHeaders = []string{
	"Access-Control-Allow-Origin",
	"Access-Control-Expose-Headers",
	"Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers",
	"Access-Control-Max-Age",
	"Vary",
}

func wantNoCORSHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for _, name := range corsHeaders {
		if v := h.Values(name); v != nil {
			t.Errorf("%s = %q, want unset", name, v)
		}
	}
}

func TestParseAcceptsOriginsAndTheWildcard(t *testing.T) {
	for _, list := range []string{
		"https://app.example.com",
		"http://localhost:3000",
		"https://app.example.com, http://localhost:3000",
		"  https://app.example.com ,http://127.0.0.1:8080  ",
		"http://[::1]:5173",
		"HTTPS://App.Example.COM",
		"*",
		"https://app.example.com,*",
	} {
		if _, err := cors.Parse(list); err != nil {
			t.Errorf("Parse(%q): %v, want it accepted", list, err)
		}
	}
}

func TestParseRefusesWhatIsNotAnOrigin(t *testing.T) {
	for _, list := range []string{
		"app.example.com",               // no scheme
		"localhost:3000",                // parses as scheme "localhost"
		"ftp://files.example.com",       // not http(s)
		"https://",                      // no host
		"https://:443",                  // no host, only a port
		"https:app.example.com",         // opaque, no //
		"https://app.example.com/",      // a path, even a lone slash
		"https://app.example.com/app",   // a path
		"https://app.example.com?x=1",   // a query
		"https://app.example.com?",      // an empty query
		"https://app.example.com#top",   // a fragment
		"https://app.example.com#",      // an empty fragment
		"https://user@app.example.com",  // user information
		"https://app.example.com:",      // an empty port
		"https://app.example.com:https", // a port that is not a number
		"https://app.example.com,",      // an empty entry
		"https://a.example.com,,https://b.example.com",
		"https://app .example.com", // a space in the host
	} {
		if p, err := cors.Parse(list); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", list, p)
		}
	}
}

func TestEmptyListAndZeroPolicyAllowNoOrigin(t *testing.T) {
	for name, p := range map[string]cors.Policy{
		"Parse(\"\")":   mustParse(t, ""),
		"Parse(\"  \")": mustParse(t, "  "),
		"zero value":    {},
	} {
		if p.Allowed("https://app.example.com") || p.Allowed("http://localhost:3000") {
			t.Errorf("%s allows an origin, want none", name)
		}
	}
}

func TestAllowedMatchesExactlyFoldingSchemeAndHost(t *testing.T) {
	p := mustParse(t, "https://App.Example.com, http://localhost:3000")

	for origin, want := range map[string]bool{
		"https://app.example.com":      true,
		"HTTPS://APP.EXAMPLE.COM":      true, // scheme and host are case-insensitive
		"http://localhost:3000":        true,
		"http://app.example.com":       false, // another scheme is another origin
		"https://app.example.com:8443": false, // another port is another origin
		"http://localhost:3001":        false,
		"http://localhost":             false,
		"https://evil-app.example.com": false,
		"https://app.example.com.evil": false, // no prefix matching
		"https://app.example.com/":     false, // browsers never send a path
		"null":                         false, // sandboxed frames, file: pages
		"":                             false, // not a cross-origin request
	} {
		if got := p.Allowed(origin); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", origin, got, want)
		}
	}
}

func TestWildcardAllowsAnyOriginButNotNone(t *testing.T) {
	p := mustParse(t, "*")

	for _, origin := range []string{"https://app.example.com", "http://localhost:1234", "https://anyone.test"} {
		if !p.Allowed(origin) {
			t.Errorf("Allowed(%q) = false under *", origin)
		}
	}
	if p.Allowed("") {
		t.Error(`Allowed("") = true: a request without Origin is not cross-origin`)
	}
}

func TestApplyNamesTheOriginAndExposesTheAPIHeaders(t *testing.T) {
	for _, list := range []string{"https://app.example.com", "*"} {
		t.Run(list, func(t *testing.T) {
			h := http.Header{}
			mustParse(t, list).Apply(h, "https://app.example.com")

			// The origin itself, never "*", also under a "*" policy.
			if got := h.Values("Access-Control-Allow-Origin"); !slices.Equal(got, []string{"https://app.example.com"}) {
				t.Errorf("Access-Control-Allow-Origin = %q, want the request's origin", got)
			}
			if got := h.Values("Vary"); !slices.Equal(got, []string{"Origin"}) {
				t.Errorf("Vary = %q, want Origin", got)
			}
			want := "Location, Retry-After, X-Amzn-RequestId, Idempotency-Key"
			if got := h.Get("Access-Control-Expose-Headers"); got != want {
				t.Errorf("Access-Control-Expose-Headers = %q, want %q", got, want)
			}
			// A preflight's headers have no place on an actual answer.
			for _, name := range []string{"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age"} {
				if h.Get(name) != "" {
					t.Errorf("%s = %q on an actual answer", name, h.Get(name))
				}
			}
		})
	}
}

func TestApplyRepeatsTheOriginAsSent(t *testing.T) {
	h := http.Header{}
	mustParse(t, "https://app.example.com").Apply(h, "https://APP.example.com")

	// The browser compares the header with its own Origin byte for byte.
	if got := h.Get("Access-Control-Allow-Origin"); got != "https://APP.example.com" {
		t.Errorf("Access-Control-Allow-Origin = %q, want the Origin header as sent", got)
	}
}

func TestApplyToARefusedOriginGrantsNothingButVariesOnOrigin(t *testing.T) {
	p := mustParse(t, "https://app.example.com")
	for _, origin := range []string{"https://other.example.com", ""} {
		h := http.Header{}
		p.Apply(h, origin)
		// A cache must not serve this header-less answer to an allowed
		// origin, so the answer still varies on Origin.
		if v := h.Values("Vary"); len(v) != 1 || v[0] != "Origin" {
			t.Errorf("Vary = %q, want Origin", v)
		}
		h.Del("Vary")
		wantNoCORSHeaders(t, h)
	}
}

func TestApplyUnderAnEmptyListAddsNothing(t *testing.T) {
	p := mustParse(t, "")
	for _, origin := range []string{"https://app.example.com", ""} {
		h := http.Header{}
		p.Apply(h, origin)
		// No origin is ever granted, so every origin gets the same answer:
		// no Vary, and no CORS header.
		if len(h) != 0 {
			t.Errorf("Apply(%q) under an empty list set %v", origin, h)
		}
	}
}

func TestApplyKeepsOtherVaryFieldsAndAddsOriginOnce(t *testing.T) {
	p := mustParse(t, "https://app.example.com")

	h := http.Header{"Vary": {"Accept-Encoding"}}
	p.Apply(h, "https://app.example.com")
	p.Apply(h, "https://app.example.com") // a second pass adds nothing
	if got := h.Values("Vary"); !slices.Equal(got, []string{"Accept-Encoding", "Origin"}) {
		t.Errorf("Vary = %q, want Accept-Encoding then Origin", got)
	}

	h = http.Header{"Vary": {"accept-encoding, origin"}}
	p.Apply(h, "https://app.example.com")
	if got := h.Values("Vary"); !slices.Equal(got, []string{"accept-encoding, origin"}) {
		t.Errorf("Vary = %q, want it unchanged: it names Origin already", got)
	}
}

func TestPreflightListsMethodsHeadersAndMaxAge(t *testing.T) {
	h := http.Header{}
	methods := []string{http.MethodGet, http.MethodPost}
	mustParse(t, "https://app.example.com").Preflight(h, "https://app.example.com", methods)

	for name, want := range map[string]string{
		"Access-Control-Allow-Origin":  "https://app.example.com",
		"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
		"Access-Control-Allow-Headers": "Content-Type, X-API-Key, Idempotency-Key, Last-Event-ID",
		"Access-Control-Max-Age":       "600",
		"Vary":                         "Origin",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !slices.Equal(methods, []string{http.MethodGet, http.MethodPost}) {
		t.Errorf("Preflight changed the caller's methods to %q", methods)
	}
}

func TestPreflightNamesOPTIONSOnce(t *testing.T) {
	h := http.Header{}
	mustParse(t, "*").Preflight(h, "https://app.example.com", []string{http.MethodOptions, http.MethodGet})

	if got := h.Get("Access-Control-Allow-Methods"); strings.Count(got, "OPTIONS") != 1 || !strings.Contains(got, "GET") {
		t.Errorf("Access-Control-Allow-Methods = %q, want GET and OPTIONS once", got)
	}
}

func TestPreflightForARefusedOriginChangesNothing(t *testing.T) {
	p := mustParse(t, "https://app.example.com")
	for _, origin := range []string{"https://other.example.com", "null", ""} {
		h := http.Header{}
		p.Preflight(h, origin, []string{http.MethodGet})
		wantNoCORSHeaders(t, h)
	}
}

func TestAHostOnAnyPortAllowsThatHostOnly(t *testing.T) {
	p := mustParse(t, cors.Loopback)
	for _, o := range []string{"http://localhost:5173", "http://localhost:3000", "http://LOCALHOST:8080", "http://127.0.0.1:1", "http://localhost"} {
		if !p.Allowed(o) {
			t.Errorf("%s refused by %q", o, cors.Loopback)
		}
	}
	for _, o := range []string{
		"https://evil.example", "http://evil.example:3000", "https://localhost:3000", // another host, another scheme
		"http://localhost.evil.example:3000", "http://127.0.0.1.evil.example", "http://localhost:3000/", // look-alikes
		"http://localhost:30x0", "http://localhost:", "http://user@localhost:3000", "null",
	} {
		if p.Allowed(o) {
			t.Errorf("%s allowed by %q", o, cors.Loopback)
		}
	}
	h := http.Header{}
	p.Preflight(h, "https://evil.example", []string{http.MethodGet})
	wantNoCORSHeaders(t, h)
	for _, bad := range []string{"http://localhost:3000:*", "http://localhost/x:*", "ftp://localhost:*", ":*"} {
		if _, err := cors.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
