package dockerwatch

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	cfg := BackoffConfig{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}
	seq := func(r float64, n int) []time.Duration {
		b := backoff{cfg: cfg, rand: func() float64 { return r }}
		var out []time.Duration
		for range n {
			out = append(out, b.next())
		}
		return out
	}
	ms := time.Millisecond
	s := time.Second

	t.Run("doubles up to the cap", func(t *testing.T) {
		t.Parallel()
		want := []time.Duration{500 * ms, s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s, 30 * s}
		if diff := cmp.Diff(want, seq(0, 9)); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
	})
	t.Run("jitter only shortens, by at most Jitter", func(t *testing.T) {
		t.Parallel()
		want := []time.Duration{400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 12800 * ms, 24 * s}
		if diff := cmp.Diff(want, seq(1, 7)); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
	})
	t.Run("reset starts over", func(t *testing.T) {
		t.Parallel()
		b := backoff{cfg: cfg, rand: func() float64 { return 0 }}
		for range 20 { // far past the cap: no overflow
			b.next()
		}
		b.reset()
		if got := b.next(); got != cfg.Initial {
			t.Errorf("after reset: %v, want %v", got, cfg.Initial)
		}
	})
}
