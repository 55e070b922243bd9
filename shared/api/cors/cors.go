// Package cors is the API's cross-origin policy: which browser origins may
// read its answers, and the headers that tell a browser so.
//
// The policy is an allow-list read from configuration (CORS_ORIGINS). The
// Lambda handlers apply it to their answers, as a REST API proxy
// integration must (API Gateway adds nothing to a proxied answer); the
// gateway applies it to the answers it makes itself and answers preflights
// with it.
package cors

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The header values of the policy. They are fixed: what a browser may send
// and read is part of the API's contract, not of a deployment's settings.
const (
	// exposeHeaders are the answer headers a script may read besides the
	// CORS-safelisted ones: where a created thing is, when to retry, the id
	// to quote in a support request, and the idempotency key replayed.
	exposeHeaders = "Location, Retry-After, X-Amzn-RequestId, Idempotency-Key"
	// allowHeaders are the request headers a script may send besides the
	// CORS-safelisted ones. Last-Event-ID resumes the event stream: an
	// EventSource sends it without a preflight, a fetch-based client with
	// one.
	allowHeaders = "Content-Type, X-API-Key, Idempotency-Key, Last-Event-ID"
	// maxAge lets a browser keep a preflight's answer ten minutes, so a
	// page does not pay a round trip before every write.
	maxAge = "600"
)

// Policy says which origins may read the API's answers. The zero Policy
// allows none, which is what a production deployment without a configured
// list must get.
type Policy struct {
	any     bool
	origins map[string]bool // lower-case scheme://host[:port]
	anyPort map[string]bool // lower-case scheme://host of entries scheme://host:*
}

// Loopback is the development default of CORS_ORIGINS: pages served from
// this machine, on any port (a front end's dev server picks its own), and
// nothing else. A page elsewhere must be listed.
const Loopback = "http://localhost:*, http://127.0.0.1:*"

// Parse reads a comma-separated list of origins, as CORS_ORIGINS holds it.
// Each entry is scheme://host[:port] with scheme http or https and nothing
// after the host or port, scheme://host:* for that host on any port, or
// "*" for any origin. Spaces around entries are
// ignored. An empty (or blank) list allows no origin.
//
// An entry with a path, even a lone "/", is an error rather than something
// to tidy up: browsers never send one in Origin, so such an entry would
// silently never match, and a typo in an allow-list should fail the start,
// not the customer's page.
func Parse(list string) (Policy, error) {
	var p Policy
	if strings.TrimSpace(list) == "" {
		return p, nil
	}
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "*" {
			p.any = true
			continue
		}
		if host, ok := strings.CutSuffix(entry, ":*"); ok {
			origin, err := parseOrigin(host)
			if err != nil {
				return Policy{}, err
			}
			if u, _ := url.Parse(origin); u.Port() != "" {
				return Policy{}, fmt.Errorf("cors: origin %q: a port and :* both", entry)
			}
			if p.anyPort == nil {
				p.anyPort = map[string]bool{}
			}
			p.anyPort[origin] = true
			continue
		}
		origin, err := parseOrigin(entry)
		if err != nil {
			return Policy{}, err
		}
		if p.origins == nil {
			p.origins = map[string]bool{}
		}
		p.origins[origin] = true
	}
	return p, nil
}

// parseOrigin validates one entry and returns it in the form Allowed
// compares.
func parseOrigin(entry string) (string, error) {
	if entry == "" {
		return "", fmt.Errorf("cors: empty entry in the origin list")
	}
	u, err := url.Parse(entry)
	if err != nil {
		return "", fmt.Errorf("cors: origin %q: %w", entry, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("cors: origin %q: scheme must be http or https", entry)
	case u.Opaque != "" || u.Hostname() == "":
		return "", fmt.Errorf("cors: origin %q: no host (want scheme://host[:port])", entry)
	case u.User != nil:
		return "", fmt.Errorf("cors: origin %q: has user information", entry)
	case u.Path != "" || u.RawPath != "":
		return "", fmt.Errorf("cors: origin %q: has a path (an origin ends at the host or port)", entry)
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Errorf("cors: origin %q: has a query", entry)
	case u.Fragment != "" || strings.Contains(entry, "#"):
		return "", fmt.Errorf("cors: origin %q: has a fragment", entry)
	case strings.HasSuffix(u.Host, ":"):
		return "", fmt.Errorf("cors: origin %q: empty port", entry)
	}
	return scheme + "://" + strings.ToLower(u.Host), nil
}

// Allowed reports whether origin, an Origin request header, may read the
// API's answers. Scheme and host compare case-insensitively, as they do in
// URLs; anything else must match exactly. No origin (a request that is not
// cross-origin) is never "allowed": there is nothing to allow.
func (p Policy) Allowed(origin string) bool {
	if origin == "" {
		return false
	}
	if p.any {
		return true
	}
	// Lower-casing the whole header is the same as folding scheme and host:
	// the rest of a valid origin is a port, digits only, and an origin with
	// anything after the port matches no entry either way.
	origin = strings.ToLower(origin)
	if p.origins[origin] {
		return true
	}
	if len(p.anyPort) == 0 {
		return false
	}
	return p.anyPort[withoutPort(origin)]
}

// withoutPort is a lower-case origin without its port, or "" when it is
// not scheme://host[:port] with a numeric port.
func withoutPort(origin string) string {
	u, err := url.Parse(origin)
	if err != nil || u.Opaque != "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return ""
	}
	host := u.Host
	if port := u.Port(); port != "" {
		if strings.Trim(port, "0123456789") != "" {
			return ""
		}
		host = strings.TrimSuffix(host, ":"+port)
	} else if strings.HasSuffix(host, ":") {
		return ""
	}
	return u.Scheme + "://" + host
}

// Apply adds the CORS headers of an actual (not preflight) answer to h when
// origin is allowed; when it is not, a browser withholds the answer from
// the page, which is the refusal. Vary: Origin is set either way, so a
// shared cache never hands a refused origin's answer to an allowed one;
// only a policy that allows no origin at all leaves it out, as its answers
// are the same for every origin.
//
// Access-Control-Allow-Origin repeats the origin rather than "*", also for a
// "*" policy, so the answer names one reader; Vary: Origin keeps a cache
// from handing that answer to another origin.
func (p Policy) Apply(h http.Header, origin string) {
	if !p.any && len(p.origins) == 0 && len(p.anyPort) == 0 {
		return // no origin is ever granted: the answer does not vary on it
	}
	addVaryOrigin(h)
	if !p.Allowed(origin) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", exposeHeaders)
}

// Preflight adds the headers of a preflight (OPTIONS) answer to h when
// origin is allowed: the methods the resource has, which are methods plus
// OPTIONS, the request headers a page may send, and how long the browser
// may remember this. It changes nothing when origin is not allowed, and the
// browser then refuses to send the actual request.
func (p Policy) Preflight(h http.Header, origin string, methods []string) {
	if !p.Allowed(origin) {
		return
	}
	allow := slices.Clone(methods)
	if !slices.Contains(allow, http.MethodOptions) {
		allow = append(allow, http.MethodOptions)
	}
	h.Set("Access-Control-Allow-Origin", origin)
	addVaryOrigin(h)
	h.Set("Access-Control-Allow-Methods", strings.Join(allow, ", "))
	h.Set("Access-Control-Allow-Headers", allowHeaders)
	h.Set("Access-Control-Max-Age", maxAge)
}

// addVaryOrigin adds Origin to Vary unless it is there already, keeping
// what the answer varies on otherwise (Accept-Encoding, say).
func addVaryOrigin(h http.Header) {
	for _, v := range h.Values("Vary") {
		for field := range strings.SplitSeq(v, ",") {
			field = strings.TrimSpace(field)
			if field == "*" || strings.EqualFold(field, "Origin") {
				return
			}
		}
	}
	h.Add("Vary", "Origin")
}
