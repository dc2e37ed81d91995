package dockerwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"

	"github.com/labelgate/labelgate/dockerwatch/dockertest"
	"github.com/labelgate/labelgate/messages"
)

// recorder collects what Run reports.
type recorder struct {
	mu       sync.Mutex
	sets     []messages.ContainerSet
	statuses []Status
}

func (r *recorder) emit(s messages.ContainerSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, s)
}

func (r *recorder) status(s Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, s)
}

func (r *recorder) emitted() []messages.ContainerSet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sets)
}

func (r *recorder) lastStatus() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.statuses) == 0 {
		return Status{}
	}
	return r.statuses[len(r.statuses)-1]
}

func (r *recorder) allStatuses() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.statuses)
}

// last returns the newest emitted set; it fails the test if there is none.
func (r *recorder) last(t *testing.T) messages.ContainerSet {
	t.Helper()
	sets := r.emitted()
	if len(sets) == 0 {
		t.Fatalf("nothing emitted")
	}
	return sets[len(sets)-1]
}

// The fake engine the tests drive has the Client method set.
var _ Client = (*dockertest.Engine)(nil)

// harness runs a Watcher over a fake engine inside a synctest bubble.
type harness struct {
	t    *testing.T
	fc   *dockertest.Engine
	w    *Watcher
	rec  *recorder
	stop func()
}

// testConfig keeps the defaults that matter in the tests explicit.
func testConfig() Config {
	return Config{
		PollInterval: time.Minute,
		Debounce:     500 * time.Millisecond,
		Backoff:      BackoffConfig{Initial: 500 * time.Millisecond, Max: 8 * time.Second, Jitter: 0.2},
	}
}

// startWatcher runs the watcher and waits until it is idle. stop cancels
// it and checks that Run returned the context's error. Call inside a
// synctest bubble.
func startWatcher(t *testing.T, fc *dockertest.Engine, cfg Config) *harness {
	t.Helper()
	w := New(fc, cfg, nil)
	w.rand = func() float64 { return 0 } // no jitter: waits are exact
	rec := &recorder{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, rec.emit, rec.status) }()
	synctest.Wait()
	return &harness{t: t, fc: fc, w: w, rec: rec, stop: func() {
		t.Helper()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		if n := fc.OpenStreams(); n != 0 {
			t.Errorf("%d event streams still open after Run returned", n)
		}
	}}
}

// after advances the bubble's clock by d and waits until idle.
func after(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func names(s messages.ContainerSet) []string {
	var out []string
	for _, c := range s.Containers {
		out = append(out, c.Name)
	}
	return out
}

func wantNames(t *testing.T, s messages.ContainerSet, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, names(s)); diff != "" {
		t.Errorf("set %s names (-want +got):\n%s", s, diff)
	}
}

// checkVersions asserts strictly increasing versions and name order in
// every emitted set.
func checkVersions(t *testing.T, sets []messages.ContainerSet) {
	t.Helper()
	for i, s := range sets {
		if i > 0 && s.Version <= sets[i-1].Version {
			t.Errorf("set %d has version %d, not above %d", i, s.Version, sets[i-1].Version)
		}
		if !slices.IsSortedFunc(s.Containers, func(a, b messages.Container) int {
			return cmpString(a.Name, b.Name)
		}) {
			t.Errorf("set %d is not sorted by name: %v", i, names(s))
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestInitialListIsEmitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		web := fc.Add("web", labels("labelgate.tunnel.hostname", "web.example.com", "com.docker.compose.project", "demo"))
		fc.Edit(web, func(c *dockertest.Container) {
			c.Health = container.Healthy
			c.Networks["zeta"] = "10.0.9.2"
			c.Networks["alpha"] = "10.0.1.2"
		})
		fc.Add("api", labels("labelgate.dns.hostname", "api.example.com"))
		fc.Add("db", labels("com.example.role", "database")) // no labelgate label
		stopped := fc.Add("old", labels("labelgate.tunnel.hostname", "old.example.com"))
		fc.Edit(stopped, func(c *dockertest.Container) { c.State = container.StateExited })
		paused := fc.Add("paused", labels("labelgate.tunnel.hostname", "p.example.com"))
		fc.Edit(paused, func(c *dockertest.Container) { c.State = container.StatePaused })

		h := startWatcher(t, fc, testConfig())
		defer h.stop()

		sets := h.rec.emitted()
		if len(sets) != 1 {
			t.Fatalf("emitted %d sets, want 1", len(sets))
		}
		s := sets[0]
		if s.Source != messages.LocalSource || s.Version == 0 || !s.ObservedAt.Equal(time.Now()) {
			t.Errorf("set header = %q v%d at %v, want local, non-zero version, observed now", s.Source, s.Version, s.ObservedAt)
		}
		wantNames(t, s, "api", "paused", "web")

		var got messages.Container
		for _, c := range s.Containers {
			if c.Name == "web" {
				got = c
			}
		}
		fw, _ := fc.Get(web)
		want := messages.Container{
			ID:     web,
			Name:   "web",
			Labels: labels("labelgate.tunnel.hostname", "web.example.com", "com.docker.compose.project", "demo"),
			State:  "running",
			Health: "healthy",
			Networks: []messages.Network{
				{Name: "alpha", IPv4: "10.0.1.2"},
				{Name: "bridge", IPv4: fw.Networks["bridge"]},
				{Name: "zeta", IPv4: "10.0.9.2"},
			},
			Created: fw.Created,
			Started: fw.Started,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("web container (-want +got):\n%s", diff)
		}

		st := h.rec.lastStatus()
		if !st.Connected || st.Failures != 0 || st.LastError != nil || st.Reconnects != 0 {
			t.Errorf("status = %+v, want connected without errors", st)
		}
	})
}

func TestEmptyFirstListIsEmitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startWatcher(t, dockertest.New(), testConfig())
		defer h.stop()
		sets := h.rec.emitted()
		if len(sets) != 1 || len(sets[0].Containers) != 0 {
			t.Fatalf("emitted %v, want one empty set", sets)
		}
	})
}

func TestBurstOfStartsIsDebounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		h := startWatcher(t, fc, testConfig())
		defer h.stop()

		// docker compose up: 50 containers, one every 20 ms (1 s in all,
		// twice the debounce window but inside its 5× cap).
		for i := range 50 {
			fc.Start(fmt.Sprintf("svc-%02d", i), labels("labelgate.tunnel.hostname", fmt.Sprintf("s%d.example.com", i)))
			time.Sleep(20 * time.Millisecond)
		}
		after(5 * time.Second)

		sets := h.rec.emitted()
		t.Logf("50 starts: %d sets", len(sets)-1)
		if n := len(sets) - 1; n < 1 || n > 3 {
			t.Errorf("50 starts produced %d sets, want 1..3", n)
		}
		if got := len(h.rec.last(t).Containers); got != 50 {
			t.Errorf("last set has %d containers, want 50", got)
		}
		checkVersions(t, sets)
		if _, lists, _ := fc.Counts(); lists > 4 {
			t.Errorf("%d lists for the burst, want at most 4", lists)
		}
	})
}

func TestContinuousEventsStillEmit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		cfg := testConfig()
		h := startWatcher(t, fc, cfg)
		defer h.stop()

		// An event every 200 ms for 10 s never leaves a quiet window of
		// 500 ms; the 5× cap must still re-list every 2.5 s.
		start := time.Now()
		var times []time.Duration
		seen := len(h.rec.emitted())
		for i := range 50 {
			fc.Start(fmt.Sprintf("c%02d", i), labels("labelgate.x", "y"))
			time.Sleep(200 * time.Millisecond)
			synctest.Wait()
			if n := len(h.rec.emitted()); n > seen {
				seen = n
				times = append(times, time.Since(start))
			}
		}
		t.Logf("sets at %v", times)
		if len(times) < 3 {
			t.Fatalf("emitted at %v during 10 s of events, want at least 3 sets", times)
		}
		if times[0] > 5*cfg.Debounce+200*time.Millisecond {
			t.Errorf("first set after %v, want within 5×debounce of the first event", times[0])
		}
		for i := 1; i < len(times); i++ {
			if gap := times[i] - times[i-1]; gap > 5*cfg.Debounce+200*time.Millisecond {
				t.Errorf("gap of %v between sets, want at most 5×debounce", gap)
			}
		}
	})
}

func TestLifecycleEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		a := fc.Add("a", labels("labelgate.tunnel.hostname", "a.example.com"))
		b := fc.Add("b", labels("labelgate.tunnel.hostname", "b.example.com"))
		c := fc.Add("c", labels("labelgate.tunnel.hostname", "c.example.com"))
		h := startWatcher(t, fc, testConfig())
		defer h.stop()
		wantNames(t, h.rec.last(t), "a", "b", "c")

		fc.Stop(a)
		after(time.Second)
		wantNames(t, h.rec.last(t), "b", "c")

		fc.Stop(b)
		fc.Remove(b)
		after(time.Second)
		wantNames(t, h.rec.last(t), "c")

		fc.Rename(c, "z-renamed")
		after(time.Second)
		s := h.rec.last(t)
		wantNames(t, s, "z-renamed")
		if s.Containers[0].ID != c {
			t.Errorf("renamed container has ID %s, want %s", s.Containers[0].ID, c)
		}

		fc.SetHealth(c, "unhealthy")
		after(time.Second)
		if got := h.rec.last(t).Containers[0].Health; got != "unhealthy" {
			t.Errorf("health = %q after health_status event, want unhealthy", got)
		}

		sets := h.rec.emitted()
		if len(sets) != 5 {
			t.Errorf("emitted %d sets, want 5 (initial + one per change)", len(sets))
		}
		checkVersions(t, sets)
	})
}

func TestOnlyChangedContainersAreInspected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		var ids []string
		for i := range 10 {
			ids = append(ids, fc.Add(fmt.Sprintf("c%d", i), labels("labelgate.a", "b")))
		}
		fc.Add("plain", labels("other", "x")) // never inspected: not selected
		h := startWatcher(t, fc, testConfig())
		defer h.stop()
		_, _, inspects := fc.Counts()
		if inspects != 10 {
			t.Errorf("first list inspected %d containers, want 10", inspects)
		}

		fc.SetHealth(ids[3], "healthy")
		after(time.Second)
		_, _, now := fc.Counts()
		if now-inspects != 1 {
			t.Errorf("health event caused %d inspects, want 1", now-inspects)
		}
	})
}

func TestNetworkEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		web := fc.Add("web", labels("labelgate.a", "b"))
		plain := fc.Add("plain", labels("x", "y"))
		h := startWatcher(t, fc, testConfig())
		defer h.stop()

		_, lists, _ := fc.Counts()
		fc.Connect(plain, "tunnel", "10.5.0.3") // not in the set: ignored
		after(time.Second)
		if _, now, _ := fc.Counts(); now != lists {
			t.Errorf("a network event for an unselected container caused %d lists", now-lists)
		}

		fc.Connect(web, "tunnel", "10.5.0.2")
		after(time.Second)
		got := h.rec.last(t).Containers[0].Networks
		if !slices.Contains(got, messages.Network{Name: "tunnel", IPv4: "10.5.0.2"}) {
			t.Errorf("networks after connect = %v, want tunnel 10.5.0.2 among them", got)
		}
	})
}

func TestInspectNotFoundDropsContainer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		fc.Add("a", labels("labelgate.a", "b"))
		gone := fc.Add("gone", labels("labelgate.a", "b"))
		fc.SetInspectGone(gone, true)
		h := startWatcher(t, fc, testConfig())
		defer h.stop()
		wantNames(t, h.rec.last(t), "a")
		if !h.rec.lastStatus().Connected {
			t.Errorf("status = %+v, want connected: a vanished container is not an error", h.rec.lastStatus())
		}
	})
}

func TestFailedObservationEmitsNothing(t *testing.T) {
	boom := errors.New("permission denied on /var/run/docker.sock")
	tests := []struct {
		name string
		fail func(e *dockertest.Engine)
	}{
		{"ping fails", func(e *dockertest.Engine) { e.SetPingError(boom) }},
		{"list fails", func(e *dockertest.Engine) { e.SetListError(boom) }},
		{"inspect fails", func(e *dockertest.Engine) { e.SetInspectError(boom) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := dockertest.New()
				fc.Add("a", labels("labelgate.a", "b"))
				tt.fail(fc)
				h := startWatcher(t, fc, testConfig())
				defer h.stop()

				after(10 * time.Second)
				if sets := h.rec.emitted(); len(sets) != 0 {
					t.Fatalf("emitted %v from failed observations", sets)
				}
				st := h.rec.lastStatus()
				if st.Connected || !errors.Is(st.LastError, boom) || st.Failures < 3 {
					t.Fatalf("status = %+v, want disconnected, the error, several failures", st)
				}

				fc.SetPingError(nil)
				fc.SetListError(nil)
				fc.SetInspectError(nil)
				after(10 * time.Second)
				wantNames(t, h.rec.last(t), "a")
				st = h.rec.lastStatus()
				if !st.Connected || st.Failures != 0 || st.Reconnects != 0 {
					t.Errorf("status = %+v, want connected, no failures, first connection", st)
				}
				if !errors.Is(st.LastError, boom) {
					t.Errorf("LastError = %v, want the old error kept for diagnostics", st.LastError)
				}
			})
		})
	}
}

func TestFailedRelistKeepsLastSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		fc.Add("a", labels("labelgate.a", "b"))
		h := startWatcher(t, fc, testConfig())
		defer h.stop()
		first := h.rec.last(t)

		// The engine answers the stream but fails the list: the event's
		// re-list fails, and that must not read as "no containers".
		boom := errors.New("engine overloaded")
		fc.SetListError(boom)
		fc.Start("b", labels("labelgate.a", "b"))
		after(time.Second)
		if got := h.rec.emitted(); len(got) != 1 {
			t.Fatalf("emitted %d sets, want only the first", len(got))
		}
		if st := h.rec.lastStatus(); st.Connected || !errors.Is(st.LastError, boom) {
			t.Fatalf("status = %+v, want disconnected with the list error", st)
		}

		fc.SetListError(nil)
		after(2 * time.Second)
		s := h.rec.last(t)
		wantNames(t, s, "a", "b")
		if s.Version <= first.Version {
			t.Errorf("version %d after recovery, not above %d", s.Version, first.Version)
		}
		if st := h.rec.lastStatus(); !st.Connected || st.Reconnects != 1 {
			t.Errorf("status = %+v, want connected after one reconnect", st)
		}
	})
}

func TestStreamErrorReconnectsWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		fc.Start("a", labels("labelgate.a", "b")) // before Run: not seen as event
		h := startWatcher(t, fc, testConfig())
		defer h.stop()

		b := fc.Start("b", labels("labelgate.a", "b"))
		after(time.Second)
		wantNames(t, h.rec.last(t), "a", "b")
		lastEvent := time.Now().Add(-time.Second).UnixNano() // b's start event
		pings, lists, _ := fc.Counts()

		// The daemon goes away; while it is gone one container is created
		// silently and another removed (no events reach us).
		fc.SetPingError(errors.New("connection refused"))
		fc.BreakStreams(errors.New("unexpected EOF"))
		synctest.Wait()
		fc.Add("c", labels("labelgate.a", "b"))
		fc.RemoveSilently(b)

		st := h.rec.lastStatus()
		if st.Connected || st.LastError == nil || st.RetryAt.Sub(st.LastErrorAt) != 500*time.Millisecond {
			t.Fatalf("status = %+v, want disconnected, retry in 500ms", st)
		}
		after(499 * time.Millisecond)
		if p, _, _ := fc.Counts(); p != pings {
			t.Fatalf("reconnected before the backoff wait")
		}

		// Failed attempts back off 0.5 s, 1 s, 2 s, 4 s…
		after(time.Millisecond) // attempt 1 fails
		after(time.Second)      // attempt 2 fails
		after(2 * time.Second)  // attempt 3 fails
		var waits []time.Duration
		for _, s := range h.rec.allStatuses() {
			if !s.Connected && !s.RetryAt.IsZero() {
				waits = append(waits, s.RetryAt.Sub(s.LastErrorAt))
			}
		}
		want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
		if diff := cmp.Diff(want, waits); diff != "" {
			t.Errorf("backoff waits (-want +got):\n%s", diff)
		}

		fc.SetPingError(nil)
		after(4 * time.Second)
		wantNames(t, h.rec.last(t), "a", "c")
		st = h.rec.lastStatus()
		if !st.Connected || st.Reconnects != 1 || st.Failures != 0 {
			t.Errorf("status = %+v, want connected, one reconnect", st)
		}
		if _, l, _ := fc.Counts(); l <= lists {
			t.Errorf("no re-list after the reconnect")
		}

		allOpts := fc.EventOptions()
		opts := allOpts[len(allOpts)-2:]
		for _, o := range opts {
			if o.Since == "" {
				t.Errorf("resubscribed without Since: %+v", o)
				continue
			}
			var sec, nsec int64
			if _, err := fmt.Sscanf(o.Since, "%d.%d", &sec, &nsec); err != nil || sec*int64(time.Second)+nsec < lastEvent {
				t.Errorf("Since = %q, want the last event time (≥ %d)", o.Since, lastEvent)
			}
		}
		checkVersions(t, h.rec.emitted())
	})
}

func TestBackoffResetsAfterHealthyConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		cfg := testConfig() // Max 8 s
		h := startWatcher(t, fc, cfg)
		defer h.stop()

		lastWait := func() time.Duration {
			st := h.rec.lastStatus()
			return st.RetryAt.Sub(st.LastErrorAt)
		}
		// Flapping: every connection dies at once, so waits grow.
		for range 3 {
			fc.BreakStreams(errors.New("EOF"))
			synctest.Wait()
			after(lastWait())
		}
		fc.BreakStreams(errors.New("EOF"))
		synctest.Wait()
		if got := lastWait(); got != 4*time.Second {
			t.Fatalf("fourth quick loss waits %v, want 4s", got)
		}
		after(lastWait())

		// This connection stays up longer than Max: the next loss starts over.
		after(cfg.Backoff.Max)
		fc.BreakStreams(errors.New("EOF"))
		synctest.Wait()
		if got := lastWait(); got != cfg.Backoff.Initial {
			t.Errorf("loss after a healthy connection waits %v, want %v", got, cfg.Backoff.Initial)
		}
	})
}

func TestPollEmitsOnlyOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		a := fc.Add("a", labels("labelgate.a", "b"))
		cfg := testConfig()
		h := startWatcher(t, fc, cfg)
		defer h.stop()

		_, lists, inspects := fc.Counts()
		after(cfg.PollInterval)
		_, l2, i2 := fc.Counts()
		if l2 != lists+1 || i2 != inspects+1 {
			t.Errorf("poll made %d lists and %d inspects, want 1 and 1 (full re-inspect)", l2-lists, i2-inspects)
		}
		if n := len(h.rec.emitted()); n != 1 {
			t.Errorf("an unchanged poll emitted: %d sets", n)
		}

		// Changes nobody announced (a lost event): only the poll sees them.
		fc.Add("b", labels("labelgate.a", "b"))
		fc.Edit(a, func(c *dockertest.Container) { c.Health = container.Starting })
		after(cfg.PollInterval)
		s := h.rec.last(t)
		wantNames(t, s, "a", "b")
		if s.Containers[0].Health != "starting" {
			t.Errorf("health after poll = %q, want starting (poll re-inspects)", s.Containers[0].Health)
		}
		after(cfg.PollInterval)
		if n := len(h.rec.emitted()); n != 2 {
			t.Errorf("emitted %d sets, want 2", n)
		}
		checkVersions(t, h.rec.emitted())
	})
}

func TestSelection(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		prefix string
		want   []string
	}{
		{name: "prefix only", want: []string{"both", "prefixed", "prefixed-off"}},
		{name: "filter key", filter: "com.example.expose", want: []string{"both"}},
		{name: "filter key=value", filter: "labelgate.enable=true", want: []string{"prefixed"}},
		{name: "filter value mismatch excluded", filter: "labelgate.enable=false", want: []string{"prefixed-off"}},
		{name: "custom prefix", prefix: "lg", want: []string{"custom"}},
		{name: "prefix needs the dot", prefix: "labelgat", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := dockertest.New()
				fc.Add("prefixed", labels("labelgate.enable", "true", "labelgate.tunnel.hostname", "p.example.com"))
				fc.Add("prefixed-off", labels("labelgate.enable", "false"))
				fc.Add("both", labels("com.example.expose", "", "labelgate.dns.hostname", "b.example.com"))
				fc.Add("filter-only", labels("com.example.expose", "1"))
				fc.Add("custom", labels("lg.tunnel.hostname", "c.example.com"))
				fc.Add("none", nil)
				cfg := testConfig()
				cfg.FilterLabel, cfg.LabelPrefix = tt.filter, tt.prefix
				h := startWatcher(t, fc, cfg)
				defer h.stop()
				wantNames(t, h.rec.last(t), tt.want...)

				// The filter runs in the engine, for the list and the
				// container events.
				listOpts, eventOpts := fc.ListOptions(), fc.EventOptions()
				gotList := listOpts[0].Filters["label"]
				gotEvents := eventOpts[0].Filters["label"]
				if tt.filter == "" {
					if len(gotList) != 0 || len(gotEvents) != 0 {
						t.Errorf("label filters %v / %v without a filter label", gotList, gotEvents)
					}
				} else if !gotList[tt.filter] || !gotEvents[tt.filter] {
					t.Errorf("label filters %v / %v, want %q in both", gotList, gotEvents, tt.filter)
				}
				if st := listOpts[0].Filters["status"]; !st["running"] || !st["paused"] || !st["restarting"] || len(st) != 3 {
					t.Errorf("status filter = %v", st)
				}
			})
		})
	}
}

func TestFilterAppliesToEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		cfg := testConfig()
		cfg.FilterLabel = "labelgate.enable=true"
		h := startWatcher(t, fc, cfg)
		defer h.stop()
		_, lists, _ := fc.Counts()
		fc.Start("off", labels("labelgate.enable", "false"))
		after(time.Second)
		if _, l, _ := fc.Counts(); l != lists {
			t.Errorf("an event for a filtered-out container caused a list")
		}
		fc.Start("on", labels("labelgate.enable", "true"))
		after(time.Second)
		wantNames(t, h.rec.last(t), "on")
	})
}

func TestRunArguments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		rec := &recorder{}

		if err := New(dockertest.New(), Config{}, nil).Run(ctx, nil, nil); err == nil {
			t.Errorf("Run with a nil emit returned nil")
		}
		if err := New(dockertest.New(), Config{FilterLabel: "=x"}, nil).Run(ctx, rec.emit, nil); err == nil {
			t.Errorf("Run with an invalid config returned nil")
		}

		w := New(dockertest.New(), Config{}, nil)
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, rec.emit, nil) }() // nil status is fine
		synctest.Wait()
		if err := w.Run(ctx, rec.emit, nil); err == nil {
			t.Errorf("a second concurrent Run returned nil")
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		if len(rec.emitted()) != 1 {
			t.Errorf("emitted %d sets, want 1", len(rec.emitted()))
		}
	})
}

func TestRunStopsDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		fc.SetPingError(errors.New("no such file"))
		h := startWatcher(t, fc, testConfig())
		after(3 * time.Second)
		h.stop() // must return while waiting, without the wait elapsing
	})
}

func TestVersionsSurviveANewWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		h := startWatcher(t, fc, testConfig())
		v1 := h.rec.last(t).Version
		h.stop()
		// A restart takes time; versions come from the clock, so the new
		// watcher's first set is newer than anything the old one sent.
		after(time.Millisecond)

		h2 := startWatcher(t, fc, testConfig())
		defer h2.stop()
		if v2 := h2.rec.last(t).Version; v2 <= v1 {
			t.Errorf("a new watcher started at version %d, not above %d", v2, v1)
		}
	})
}

func TestNextVersion(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name string
		prev uint64
		now  time.Time
		want uint64
	}{
		{"from the clock", 0, now, uint64(now.UnixNano())},
		{"clock behind", uint64(now.UnixNano()) + 10, now, uint64(now.UnixNano()) + 11},
		{"same instant", uint64(now.UnixNano()), now, uint64(now.UnixNano()) + 1},
		{"clock before 1970", 7, time.Unix(-5, 0), 8},
	}
	for _, tt := range tests {
		if got := nextVersion(tt.prev, tt.now); got != tt.want {
			t.Errorf("%s: nextVersion(%d) = %d, want %d", tt.name, tt.prev, got, tt.want)
		}
	}
}
