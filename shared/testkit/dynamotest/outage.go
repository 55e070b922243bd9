package dynamotest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Outage stands between clients and a DynamoDB, on an address of its own,
// and can go down and come back there, as a DynamoDB outage would, while
// the server behind it keeps its data. Restarting a JVM per test would be
// slow; this is what the fault tests cut.
type Outage struct {
	URL   string // point clients here
	addr  string
	proxy http.Handler

	mu  sync.Mutex
	srv *http.Server // nil while down
}

// NewOutage starts an outage proxy, up, in front of endpoint; it is
// stopped when the test ends.
func NewOutage(t testing.TB, endpoint string) *Outage {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("outage proxy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("outage proxy: %v", err)
	}
	o := &Outage{addr: ln.Addr().String(), proxy: httputil.NewSingleHostReverseProxy(target)}
	o.URL = "http://" + o.addr
	o.serve(ln)
	t.Cleanup(func() { o.Down() })
	return o
}

func (o *Outage) serve(ln net.Listener) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.srv = &http.Server{Handler: o.proxy, ReadHeaderTimeout: 10 * time.Second}
	go o.srv.Serve(ln)
}

// Down stops taking requests. Requests in flight are answered first, so a
// client is never told of a failure that committed. Down when down does
// nothing.
func (o *Outage) Down() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := o.srv.Shutdown(ctx)
	o.srv = nil
	return err
}

// Up takes requests again on the same address. Up when up does nothing.
func (o *Outage) Up() error {
	o.mu.Lock()
	up := o.srv != nil
	o.mu.Unlock()
	if up {
		return nil
	}
	var ln net.Listener
	var err error
	// The port was ours a moment ago; another process may hold it for a
	// moment (TIME_WAIT does not block a listener).
	for range 50 {
		if ln, err = net.Listen("tcp", o.addr); err == nil {
			o.serve(ln)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.Join(errors.New("outage proxy: cannot listen again on "+o.addr), err)
}
