package apigateway

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/plainview/serverless/shared/contract/routes"
)

// API Gateway's account-level throttle per region, the stage's limit when
// Options.StageThrottle is zero.
const (
	DefaultStageRate  = 10000 // requests per second
	DefaultStageBurst = 5000
)

// throttle holds API Gateway's token buckets: one per route, shared by all
// clients, and one for the whole stage.
type throttle struct {
	// mu makes taking a token from both buckets one step, so a request
	// refused by one bucket takes nothing from the other.
	mu     sync.Mutex
	stage  *rate.Limiter
	routes map[string]*rate.Limiter // by routeKey
	now    func() time.Time
}

// newThrottle builds the buckets of a table and a stage; now is the clock
// they refill by.
func newThrottle(table []routes.Route, stage routes.Throttle, now func() time.Time) *throttle {
	if stage == (routes.Throttle{}) {
		stage = routes.Throttle{RatePerSecond: DefaultStageRate, Burst: DefaultStageBurst}
	}
	t := &throttle{stage: limiter(stage), routes: map[string]*rate.Limiter{}, now: now}
	for _, r := range table {
		// A route without a throttle of its own has only the stage's, as
		// a method without a method-level setting does on API Gateway.
		if r.Throttle != (routes.Throttle{}) {
			t.routes[routeKey(r)] = limiter(r.Throttle)
		}
	}
	return t
}

// limiter is a token bucket holding up to Burst tokens, refilled at
// RatePerSecond. A bucket with no rate or no burst admits nothing: that is
// how API Gateway switches a method off, and a bucket that never refills
// would otherwise admit its burst once and then promise a retry in
// centuries.
func limiter(t routes.Throttle) *rate.Limiter {
	if t.RatePerSecond <= 0 || t.Burst < 1 {
		return rate.NewLimiter(0, 0)
	}
	return rate.NewLimiter(rate.Limit(t.RatePerSecond), t.Burst)
}

func routeKey(r routes.Route) string {
	return r.Method + " " + r.Path
}

// admit takes one token from the route's bucket and one from the stage's,
// or none at all. Refused, it returns how long until a token would be
// there; for a bucket that admits nothing there is no true answer, and it
// says a second.
func (t *throttle) admit(r routes.Route) (wait time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Read under the lock: with every reservation at a time no earlier than
	// the one before, a bucket never refills the same interval twice.
	now := t.now()
	var taken []*rate.Reservation
	// The route's limit first, then the stage's: the order API Gateway
	// applies them in.
	for _, lim := range []*rate.Limiter{t.routes[routeKey(r)], t.stage} {
		if lim == nil {
			continue
		}
		res := lim.ReserveN(now, 1)
		if res.OK() {
			if wait = res.DelayFrom(now); wait == 0 {
				taken = append(taken, res)
				continue
			}
		} else {
			wait = time.Second
		}
		// Give back what this request reserved: a refused request must
		// not use up the tokens of the requests after it.
		res.CancelAt(now)
		for _, prev := range taken {
			prev.CancelAt(now)
		}
		return wait, false
	}
	return 0, true
}

// retryAfter is a Retry-After value in whole seconds, rounded up and at
// least one, so a client that obeys it finds a token.
func retryAfter(wait time.Duration) string {
	return strconv.FormatInt(int64(max(1, math.Ceil(wait.Seconds()))), 10)
}
