package bench

import (
	"testing"
	"time"

	"github.com/labelgate/labelgate/bridge"
)

func TestHostileSets(t *testing.T) {
	t.Parallel()
	for _, target := range []int{64 << 10, 7_000_000} {
		sets, n, size, err := hostileSets(3, target)
		if err != nil {
			t.Fatalf("building the sets of %d bytes: %v", target, err)
		}
		if size > int64(target) || size < int64(target)*9/10 {
			t.Errorf("target %d: frame of %d bytes, want just under the target", target, size)
		}
		if size >= bridge.DefaultMaxFrameBytes {
			t.Errorf("target %d: frame of %d bytes does not fit the frame cap", target, size)
		}
		for v := range 2 {
			if got := len(sets[v].Containers); got != n {
				t.Fatalf("target %d: variant %d has %d containers, want %d", target, v, got, n)
			}
		}
		for c := range n {
			a, b := sets[0].Containers[c].Labels, sets[1].Containers[c].Labels
			if a["labelgate.tunnel.web.hostname"] != b["labelgate.tunnel.web.hostname"] {
				t.Fatalf("container %d: the variants claim different hostnames", c)
			}
			if a["labelgate.tunnel.web.service"] == b["labelgate.tunnel.web.service"] {
				t.Fatalf("container %d: the variants have the same service", c)
			}
			if c > 0 && sets[0].Containers[c-1].Name >= sets[0].Containers[c].Name {
				t.Fatalf("containers %d and %d are not sorted by name", c-1, c)
			}
		}
	}
}

func TestGCLive(t *testing.T) {
	t.Parallel()
	started := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	log := "time=… level=WARN msg=x\n" +
		"gc 1 @0.012s 1%: 0.010+1.2+0.003 ms clock, 0.020+0.1/1.0/0+0.006 ms cpu, 3->4->2 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"gc 2 @61.500s 3%: 0.1+20+0.01 ms clock, 0.2+1/9/2+0.02 ms cpu, 410->415->212 MB, 420 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"gc 3 @62.000s 3%: garbled\n"
	got := gcLive(log, started)
	want := []gcLiveHeap{{started.Add(12 * time.Millisecond), 2 << 20}, {started.Add(61500 * time.Millisecond), 212 << 20}}
	if len(got) != len(want) {
		t.Fatalf("got %d GCs, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].at.Equal(want[i].at) || got[i].live != want[i].live {
			t.Errorf("GC %d: got %v %d, want %v %d", i, got[i].at, got[i].live, want[i].at, want[i].live)
		}
	}
}

func TestHostileVerdicts(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	base := HostileResult{Agents: 2, FrameBytes: 7 * mib, DecodedBytes: 14 * mib, WarmPeak: 240 * mib}
	// Bound: 240 + 2 × 2 × (7 + 3 × 14) = 436 MiB.
	tests := []struct {
		name               string
		peak, first, sec   int64
		withinBudget, flat bool
	}{
		{"bounded plateau", 400 * mib, 395 * mib, 400 * mib, true, true},
		{"over the budget", 437 * mib, 430 * mib, 437 * mib, false, true},
		{"growing", 420 * mib, 300 * mib, 420 * mib, true, false},
		{"nothing sampled", 0, 0, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := base
			r.Peak, r.FirstHalf, r.SecondHalf = tt.peak, tt.first, tt.sec
			if got := r.Bound(); got != 436*mib {
				t.Fatalf("Bound() = %d MiB, want 436", got/mib)
			}
			if got := r.WithinBudget(); got != tt.withinBudget {
				t.Errorf("WithinBudget() = %v, want %v", got, tt.withinBudget)
			}
			if got := r.Bounded(); got != tt.flat {
				t.Errorf("Bounded() = %v, want %v", got, tt.flat)
			}
		})
	}
}
