package dockerwatch

import "time"

// backoff yields the waits between reconnection attempts: Initial doubled
// per consecutive failure and capped at Max, each shortened by up to
// Jitter of itself. Shortening (never lengthening) keeps the cap a real
// cap while still spreading many watchers that lost the same engine.
type backoff struct {
	cfg     BackoffConfig
	rand    func() float64 // [0, 1)
	attempt int
}

// next returns the wait before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	d := b.cfg.Initial
	for i := 0; i < b.attempt && d < b.cfg.Max; i++ {
		d *= 2
	}
	d = min(d, b.cfg.Max)
	b.attempt++
	cut := time.Duration(float64(d) * b.cfg.Jitter * b.rand())
	return d - cut
}

func (b *backoff) reset() { b.attempt = 0 }
