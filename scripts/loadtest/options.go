package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// options are the command's flags, checked.
type options struct {
	url       string // a running stack's API; empty: start one in-process
	key       string // the API key for -url (PLAINVIEW_API_KEY)
	keysFile  string // or the key file of that stack, to add a key to
	clients   int
	duration  time.Duration
	requests  int64 // bound on requests per phase; 0: none
	mix       mix
	throttles bool   // keep the route throttles of the in-process stack
	ceiling   bool   // also measure the gateway with a no-op handler
	onDisk    bool   // the in-process stack's DynamoDB Local keeps its tables on disk
	dynamoURL string // DYNAMODB_ENDPOINT: the in-process stack uses this DynamoDB
	cpuProf   string
	verbose   bool
}

// mix is the share of each kind of request, in percent.
type mix struct{ read, actuate, incident int }

// defaultMix is the mixed workload the goal is set for.
var defaultMix = mix{read: 90, actuate: 3, incident: 7}

const defaultMixFlag = "read=90,actuate=3,incident=7"

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.url, "url", "", "base URL of a running local stack (127.0.0.1, ::1 or localhost only); empty: start one in this process on free ports")
	fs.StringVar(&o.keysFile, "keys-file", "", "with -url: the stack's key file, to which a load-test key is added (else PLAINVIEW_API_KEY is used)")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients, each with one request in flight")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long each phase runs")
	fs.Int64Var(&o.requests, "requests", 0, "stop a phase after this many requests (0: only -duration bounds it)")
	mixFlag := fs.String("mix", defaultMixFlag, "percent of reads, actuations and incident writes")
	fs.BoolVar(&o.throttles, "throttles", false, "keep the route throttles of the in-process stack (reads 100/s...): then 429s are expected; off by default (localstack.Config.DisableThrottling)")
	fs.BoolVar(&o.ceiling, "ceiling", true, "also measure the same gateway serving a no-op handler")
	fs.BoolVar(&o.onDisk, "dynamodb-on-disk", false, "the in-process stack's DynamoDB Local keeps its tables on disk (SQLite files), as make run does, rather than in memory")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of the stack phase to this file (go tool pprof)")
	fs.BoolVar(&o.verbose, "v", false, "log what the in-process stack logs (warnings and errors) on stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if o.mix, err = parseMix(*mixFlag); err != nil {
		return o, fmt.Errorf("-mix: %w", err)
	}
	switch {
	case o.clients < 1 || o.clients > 1000:
		return o, errors.New("-clients must be 1 to 1000")
	case o.duration <= 0 || o.duration > time.Hour:
		return o, errors.New("-duration must be over 0 and at most 1h")
	case o.requests < 0:
		return o, errors.New("-requests must not be negative")
	}
	if o.url != "" {
		if o.url, err = localURL(o.url); err != nil {
			return o, fmt.Errorf("-url: %w", err)
		}
		if o.throttles || o.onDisk {
			return o, errors.New("-throttles and -dynamodb-on-disk apply to the in-process stack only; a running stack keeps its own settings")
		}
		o.key = getenv("PLAINVIEW_API_KEY")
		if o.key == "" && o.keysFile == "" {
			return o, errors.New("-url needs a key with the read, valves:actuate and incidents:write scopes: set PLAINVIEW_API_KEY or give -keys-file")
		}
	} else if o.keysFile != "" {
		return o, errors.New("-keys-file goes with -url; the in-process stack makes its own key")
	}
	if o.dynamoURL = getenv("DYNAMODB_ENDPOINT"); o.dynamoURL != "" && o.onDisk {
		return o, errors.New("-dynamodb-on-disk: DYNAMODB_ENDPOINT names another DynamoDB, whose disk is its own")
	}
	return o, nil
}

// localURL accepts only an http URL on this machine's loopback: the load
// test must never be pointed at someone else's service.
func localURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("%q: want http://127.0.0.1:PORT (no path, query or credentials)", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) {
		return "", fmt.Errorf("%q: only 127.0.0.1, ::1 or localhost may be load-tested", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: bad port", raw)
		}
	}
	return "http://" + u.Host, nil
}

func parseMix(s string) (mix, error) {
	var m mix
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(val)
		if !ok || err != nil || n < 0 || n > 100 || seen[name] {
			return m, fmt.Errorf("%q: want read=N,actuate=N,incident=N with N from 0 to 100, each once", part)
		}
		seen[name] = true
		switch name {
		case "read":
			m.read = n
		case "actuate":
			m.actuate = n
		case "incident":
			m.incident = n
		default:
			return m, fmt.Errorf("%q: the kinds are read, actuate and incident", name)
		}
	}
	if m.read+m.actuate+m.incident != 100 {
		return m, fmt.Errorf("the shares add up to %d, not 100", m.read+m.actuate+m.incident)
	}
	return m, nil
}
