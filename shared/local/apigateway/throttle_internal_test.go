package apigateway

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/contract/routes"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// A request the stage refuses must give back the token its route's bucket
// gave it, or a busy stage would drain every route it refuses.
func TestRequestRefusedByTheStageTakesNoRouteToken(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	// The route's bucket barely refills: whatever it has left over the
	// test is what it was not charged.
	slow := routes.Route{Method: http.MethodGet, Path: "/slow", Throttle: routes.Throttle{RatePerSecond: 0.001, Burst: 2}}
	free := routes.Route{Method: http.MethodGet, Path: "/free"}
	th := newThrottle([]routes.Route{slow, free}, routes.Throttle{RatePerSecond: 1, Burst: 1}, clock.now)

	if _, ok := th.admit(free); !ok {
		t.Fatal("first request refused")
	}
	for i := range 3 {
		if _, ok := th.admit(slow); ok {
			t.Fatalf("request %d on /slow admitted with the stage empty", i+1)
		}
	}
	for i := range 2 {
		clock.advance(time.Second) // one stage token
		if wait, ok := th.admit(slow); !ok {
			t.Fatalf("/slow after the stage refilled, %d: refused (wait %v); the refused requests took its tokens", i+1, wait)
		}
	}

	clock.advance(time.Second)
	wait, ok := th.admit(slow)
	if ok {
		t.Fatal("/slow admitted a third request with a burst of 2")
	}
	// The route's own bucket refuses now, and its wait is the one told.
	if wait < 900*time.Second {
		t.Errorf("wait = %v, want about the 1000 s the route's bucket needs for a token", wait)
	}
}

func TestRetryAfterIsWholeSecondsRoundedUpAtLeastOne(t *testing.T) {
	for wait, want := range map[time.Duration]int{
		0:                       1,
		time.Millisecond:        1,
		time.Second:             1,
		1500 * time.Millisecond: 2,
		59*time.Second + 1:      60,
	} {
		if got := retryAfter(wait); got != strconv.Itoa(want) {
			t.Errorf("retryAfter(%v) = %q, want %d", wait, got, want)
		}
	}
}
