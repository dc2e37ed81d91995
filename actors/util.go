package actors

import (
	"fmt"
	"math/rand/v2"
	"time"
)

func typeName(v any) string { return fmt.Sprintf("%T", v) }

// backoffDelay is a capped exponential delay with up to 20 % jitter:
// base·2^(attempt-1), at most max.
func backoffDelay(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
