package bridge

import (
	"context"
	crand "crypto/rand"
	"math/rand/v2"
	"time"
)

// Defaults for BackoffConfig fields left zero.
const (
	DefaultBackoffMin         = time.Second
	DefaultBackoffMax         = time.Minute
	DefaultBackoffStableAfter = time.Minute
)

// BackoffConfig tunes a Backoff; a zero field takes its default.
type BackoffConfig struct {
	// Min is the first wait's upper bound (1 s); each failure doubles it.
	Min time.Duration
	// Max caps the doubling (60 s).
	Max time.Duration
	// StableAfter is how long a connection must have lasted for the next
	// wait to start again from Min (60 s).
	StableAfter time.Duration
}

// Backoff paces reconnection attempts: capped exponential growth with
// jitter. Each wait is drawn uniformly from [base/2, base], where base is
// Min doubled once per consecutive failure and capped at Max, so agents that
// lost main together do not return together.
//
// A Backoff belongs to one reconnecting loop (one per agent, one per
// dialer); it is not safe for concurrent use and shares nothing with other
// instances.
type Backoff struct {
	cfg         BackoffConfig
	attempts    int
	connectedAt time.Time
	rand        *rand.Rand
}

// NewBackoff returns a Backoff at its first attempt.
func NewBackoff(cfg BackoffConfig) *Backoff {
	if cfg.Min <= 0 {
		cfg.Min = DefaultBackoffMin
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultBackoffMax
	}
	if cfg.Max < cfg.Min {
		cfg.Max = cfg.Min
	}
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = DefaultBackoffStableAfter
	}
	var seed [32]byte
	crand.Read(seed[:])
	return &Backoff{cfg: cfg, rand: rand.New(rand.NewChaCha8(seed))}
}

// Next returns how long to wait before the next attempt and counts the
// attempt. If Connected was called and that connection lasted StableAfter,
// the sequence restarts from Min first.
func (b *Backoff) Next() time.Duration {
	if !b.connectedAt.IsZero() {
		if time.Since(b.connectedAt) >= b.cfg.StableAfter {
			b.attempts = 0
		}
		b.connectedAt = time.Time{}
	}
	base := b.cfg.Min
	for i := 0; i < b.attempts && base < b.cfg.Max; i++ {
		base *= 2
	}
	base = min(base, b.cfg.Max)
	b.attempts++
	half := base / 2
	return half + time.Duration(b.rand.Int64N(int64(base-half)+1))
}

// Connected records that an attempt succeeded. Call it when a connection
// is established; the next call to Next decides, from how long it lasted,
// whether to start again from Min.
func (b *Backoff) Connected() { b.connectedAt = time.Now() }

// Reset starts the sequence again from Min.
func (b *Backoff) Reset() {
	b.attempts = 0
	b.connectedAt = time.Time{}
}

// Attempts is the number of waits handed out since the last reset.
func (b *Backoff) Attempts() int { return b.attempts }

// Wait sleeps for Next(), or until ctx ends, whichever is first; it returns
// ctx.Err() in the second case.
func (b *Backoff) Wait(ctx context.Context) error { return sleep(ctx, b.Next()) }

// sleep waits for d, or until ctx ends (then it returns ctx.Err()).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
