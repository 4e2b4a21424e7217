// Package backoff is how long to wait after failures in a row, the one way the agent and the
// daemon's reconciler retry: exponential, capped, half of it random so a fleet that failed
// together does not retry together.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay is the wait after failures consecutive failures (1 for the first): base doubled for
// each further failure, capped at max, with "equal jitter": half of it fixed, half random.
// github.com/cenkalti/backoff does this with a stateful object and a randomisation factor
// around the delay; a pure function of the failure count is all both callers need.
func Delay(base, max time.Duration, failures int) time.Duration {
	d := min(base, max)
	for i := 1; i < failures && d > 0 && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + rand.N(half+1)
}
