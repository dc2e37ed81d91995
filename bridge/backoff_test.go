package bridge

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoffSequence(t *testing.T) {
	t.Parallel()
	b := NewBackoff(BackoffConfig{})
	bases := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60, 60}
	for i, base := range bases {
		base *= time.Second
		d := b.Next()
		if d < base/2 || d > base {
			t.Errorf("wait %d = %s, want within [%s, %s]", i+1, d, base/2, base)
		}
	}
	if b.Attempts() != len(bases) {
		t.Errorf("Attempts = %d, want %d", b.Attempts(), len(bases))
	}
	b.Reset()
	if d := b.Next(); d > time.Second {
		t.Errorf("after Reset: %s, want at most 1s", d)
	}
}

func TestBackoffJitter(t *testing.T) {
	t.Parallel()
	// Two instances, or one instance over many draws, do not march in step.
	seen := map[time.Duration]bool{}
	for range 50 {
		b := NewBackoff(BackoffConfig{})
		for range 4 {
			b.Next()
		}
		seen[b.Next()] = true // base 16s
	}
	if len(seen) < 40 {
		t.Errorf("50 fifth waits took only %d distinct values", len(seen))
	}
}

func TestBackoffNoOverflow(t *testing.T) {
	t.Parallel()
	b := NewBackoff(BackoffConfig{Min: time.Second, Max: 24 * time.Hour})
	for i := range 200 {
		if d := b.Next(); d <= 0 || d > 24*time.Hour {
			t.Fatalf("wait %d = %s", i+1, d)
		}
	}
}

// TestBackoffTiming runs on synctest's fake clock: Wait sleeps exactly the
// drawn duration, stops at ctx, and a stable connection resets the sequence
// while a short one does not.
func TestBackoffTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBackoff(BackoffConfig{Min: time.Second, Max: 8 * time.Second, StableAfter: time.Minute})
		ctx := context.Background()
		var total time.Duration
		for range 5 { // bases 1, 2, 4, 8, 8
			start := time.Now()
			if err := b.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			total += time.Since(start)
		}
		if total < 11500*time.Millisecond || total > 23*time.Second {
			t.Errorf("five waits took %s, want between 11.5s and 23s", total)
		}

		// A connection that drops after 10 s: the backoff keeps growing.
		b.Connected()
		time.Sleep(10 * time.Second)
		if d := b.Next(); d < 4*time.Second {
			t.Errorf("after a short connection: %s, want the capped 8s base", d)
		}

		// A connection that lasted a minute: back to the start.
		b.Connected()
		time.Sleep(time.Minute)
		if d := b.Next(); d > time.Second {
			t.Errorf("after a stable connection: %s, want at most 1s", d)
		}

		// Every wait stops with its context.
		ctx, cancel := context.WithCancel(ctx)
		for range 3 {
			b.Next()
		}
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait: %v, want context.Canceled", err)
		}
		if took := time.Since(start); took != 100*time.Millisecond {
			t.Errorf("canceled Wait took %s", took)
		}
	})
}
