package actors

import (
	"bytes"
	"github.com/labelgate/labelgate/messages"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ---------------------------------------------------------------------------
// BackoffStrategy.Delay (pure).

func TestBackoffDelayExponentialCappedJittered(t *testing.T) {
	s := &BackoffStrategy{Initial: 100 * time.Millisecond, Max: 30 * time.Second}
	const samples = 500
	prevMax := time.Duration(0)
	for n := 1; n <= 40; n++ {
		nominal := min(s.Initial<<min(n-1, 30), s.Max)
		lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
		for range samples {
			d := s.Delay(n)
			if !inJitter(d, nominal) {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, d, nominal-nominal/5, nominal)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// The jitter is real and spans most of its 20 % range.
		if hi-lo < nominal/10 {
			t.Errorf("Delay(%d) ranged only %v..%v over %d samples", n, lo, hi, samples)
		}
		// Exponential below the cap: even the shortest delay of step n
		// (≥ 0.8·2·nominal(n-1)) beats the longest of step n-1.
		if n > 1 && nominal < s.Max && lo <= prevMax {
			t.Errorf("Delay(%d) min %v does not exceed Delay(%d) max %v", n, lo, n-1, prevMax)
		}
		prevMax = hi
	}
	// The cap is reached at 100ms·2^9 = 51.2s > 30s, i.e. from n = 10.
	if d := s.Delay(9); d > 25600*time.Millisecond {
		t.Errorf("Delay(9) = %v, want ≤ 25.6s", d)
	}
	for _, n := range []int{10, 64, 1000, math.MaxInt} {
		if d := s.Delay(n); !inJitter(d, s.Max) {
			t.Errorf("Delay(%d) = %v, want the 30s cap minus ≤20%%", n, d)
		}
	}
	// n ≤ 1 is the first delay; an Initial above Max is capped.
	if d := s.Delay(0); !inJitter(d, s.Initial) {
		t.Errorf("Delay(0) = %v", d)
	}
	big := &BackoffStrategy{Initial: time.Minute, Max: 10 * time.Second}
	if d := big.Delay(1); !inJitter(d, 10*time.Second) {
		t.Errorf("Initial above Max: Delay(1) = %v, want ≤ 10s", d)
	}
}

func TestBackoffDefaults(t *testing.T) {
	s := DefaultBackoff(nil)
	if s.Initial != 100*time.Millisecond || s.Max != 30*time.Second || s.Reset != time.Minute {
		t.Errorf("DefaultBackoff = %+v", s)
	}
}

// ---------------------------------------------------------------------------
// Test actors.

type boom struct{}  // makes a testChild panic
type ping struct{}  // makes a testChild report "pong"
type event struct { // what a testChild reports
	Who, What string
	At        time.Duration
}

// testChild reports its (re)starts and pongs, and panics on boom. Built by
// PropsFromProducer, so every restart is a fresh instance.
type testChild struct {
	name   string
	t0     time.Time
	events chan<- event
}

func (c *testChild) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		c.events <- event{c.name, "started", time.Since(c.t0)}
	case boom:
		panic("boom in " + c.name)
	case ping:
		c.events <- event{c.name, "pong", time.Since(c.t0)}
	}
}

type supHarness struct {
	t      *testing.T
	sys    *actor.ActorSystem
	t0     time.Time
	events chan event
	sup    *actor.PID
}

// newSupHarness must be called inside a synctest bubble.
func newSupHarness(t *testing.T) *supHarness {
	h := &supHarness{t: t, sys: newTestSystem(), t0: time.Now(), events: make(chan event, 1024)}
	t.Cleanup(func() {
		if h.sup != nil {
			_ = h.sys.Root.StopFuture(h.sup).Wait()
		}
		h.sys.Shutdown()
		settle()
	})
	return h
}

func (h *supHarness) props(name string, mw ...actor.ReceiverMiddleware) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &testChild{name: name, t0: h.t0, events: h.events} },
		actor.WithReceiverMiddleware(mw...))
}

func (h *supHarness) spec(name string, mw ...actor.ReceiverMiddleware) ChildSpec {
	return ChildSpec{Name: name, Props: func(map[string]*actor.PID) *actor.Props { return h.props(name, mw...) }}
}

func (h *supHarness) now() time.Duration { return time.Since(h.t0) }

// next returns the next event, failing after a fake hour.
func (h *supHarness) next() event {
	h.t.Helper()
	select {
	case e := <-h.events:
		return e
	case <-time.After(time.Hour):
		h.t.Fatalf("no event within an hour")
		return event{}
	}
}

// expect reads the next event and checks who and what.
func (h *supHarness) expect(who, what string) event {
	h.t.Helper()
	e := h.next()
	if e.Who != who || e.What != what {
		h.t.Fatalf("event %+v, want %s %s", e, who, what)
	}
	return e
}

// drain takes n events in any order (children start concurrently).
func (h *supHarness) drain(n int) []event {
	h.t.Helper()
	var out []event
	for range n {
		out = append(out, h.next())
	}
	return out
}

func (h *supHarness) children(sup *actor.PID) map[string]*actor.PID {
	h.t.Helper()
	res, err := h.sys.Root.RequestFuture(sup, messages.QueryChildren{}, 10*time.Second).Result()
	if err != nil {
		h.t.Fatalf("messages.QueryChildren: %v", err)
	}
	m, ok := res.(map[string]*actor.PID)
	if !ok {
		h.t.Fatalf("messages.QueryChildren answered %T", res)
	}
	return m
}

// syncBuffer is a bytes.Buffer safe for a slog handler writing from actor
// goroutines while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ---------------------------------------------------------------------------
// Restart with backoff through the real supervisor (DefaultBackoff:
// 100 ms, ×2, 30 s cap, 1 min reset).

func TestSupervisorRestartsPanickingChildAfterBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newSupHarness(t)
		h.sup = h.sys.Root.Spawn(NewSupervisorProps([]ChildSpec{h.spec("flaky"), h.spec("steady")}, slog.New(slog.DiscardHandler)))
		kids := h.children(h.sup)
		h.drain(2) // both started

		t0 := h.now()
		h.sys.Root.Send(kids["flaky"], boom{})
		h.sys.Root.Send(kids["flaky"], ping{}) // waits in the suspended mailbox
		h.sys.Root.Send(kids["steady"], ping{})

		// The sibling answers at once, during flaky's backoff.
		if e := h.expect("steady", "pong"); e.At != t0 {
			t.Errorf("steady answered at %v, want %v: a crashing sibling must not hold it up", e.At, t0)
		}
		e := h.expect("flaky", "started")
		if d := e.At - t0; !inJitter(d, 100*time.Millisecond) {
			t.Errorf("flaky restarted %v after the panic, want 80–100ms", d)
		}
		// The message sent during the backoff is delivered to the new
		// instance; the one that panicked is dropped.
		if p := h.expect("flaky", "pong"); p.At != e.At {
			t.Errorf("queued ping answered at %v, want right after the restart (%v)", p.At, e.At)
		}
		// Same PIDs, and nothing else happened (steady was never restarted).
		if again := h.children(h.sup); !maps.EqualFunc(again, kids, func(a, b *actor.PID) bool { return a.Equal(b) }) {
			t.Errorf("children after the restart %v, want %v", again, kids)
		}
		time.Sleep(time.Hour) // a re-delivered boom would show as another restart
		synctest.Wait()
		if len(h.events) != 0 {
			t.Errorf("unexpected events: %+v", h.drain(len(h.events)))
		}
	})
}

func TestSupervisorRepeatedFailuresBackOffLongerThenReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newSupHarness(t)
		h.sup = h.sys.Root.Spawn(NewSupervisorProps([]ChildSpec{h.spec("flaky"), h.spec("steady")}, slog.New(slog.DiscardHandler)))
		kids := h.children(h.sup)
		h.drain(2)

		// crash panics flaky now and returns how long its restart took,
		// checking that steady keeps answering meanwhile.
		crash := func() time.Duration {
			t.Helper()
			at := h.now()
			h.sys.Root.Send(kids["flaky"], boom{})
			h.sys.Root.Send(kids["steady"], ping{})
			if e := h.expect("steady", "pong"); e.At != at {
				t.Fatalf("steady answered at %v, want %v", e.At, at)
			}
			return h.expect("flaky", "started").At - at
		}

		// Consecutive failures: 0.1, 0.2, 0.4 … 25.6 s, then the 30 s cap.
		var delays []time.Duration
		for n := 1; n <= 12; n++ {
			d := crash()
			nominal := min(100*time.Millisecond<<(n-1), 30*time.Second)
			if !inJitter(d, nominal) {
				t.Errorf("failure %d: restarted after %v, want %v minus ≤20%%", n, d, nominal)
			}
			delays = append(delays, d)
		}
		for i := 1; i < 9; i++ {
			if delays[i] <= delays[i-1] {
				t.Errorf("delays do not grow: %v", delays)
				break
			}
		}

		// A failure within Reset (1 min) of the previous one keeps counting...
		time.Sleep(59*time.Second - delays[len(delays)-1])
		if d := crash(); !inJitter(d, 30*time.Second) {
			t.Errorf("failure 59s after the previous one restarted after %v, want the 30s cap", d)
		}
		// ...a child quiet for longer than Reset starts over from Initial.
		time.Sleep(61 * time.Second)
		if d := crash(); !inJitter(d, 100*time.Millisecond) {
			t.Errorf("failure after a quiet minute restarted after %v, want 80–100ms", d)
		}
		if d := crash(); !inJitter(d, 200*time.Millisecond) {
			t.Errorf("next failure restarted after %v, want 160–200ms", d)
		}
		time.Sleep(time.Hour) // a re-delivered boom would show as another restart
		synctest.Wait()
		if len(h.events) != 0 {
			t.Errorf("unexpected events (a sibling restarted?): %+v", h.drain(len(h.events)))
		}
	})
}

// The strategy works for any parent, with its own numbers.
func TestBackoffStrategyCustomParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newSupHarness(t)
		buf := &syncBuffer{}
		strategy := &BackoffStrategy{Initial: time.Second, Max: 4 * time.Second, Reset: 10 * time.Second,
			Logger: slog.New(slog.NewTextHandler(buf, nil))}
		kid := make(chan *actor.PID, 1)
		h.sup = h.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			if _, ok := ctx.Message().(*actor.Started); ok {
				kid <- ctx.Spawn(h.props("child"))
			}
		}, actor.WithSupervisor(strategy)))
		child := <-kid
		h.expect("child", "started")
		for n, nominal := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
			at := h.now()
			h.sys.Root.Send(child, boom{})
			if d := h.expect("child", "started").At - at; !inJitter(d, nominal) {
				t.Errorf("failure %d: restart after %v, want %v minus ≤20%%", n+1, d, nominal)
			}
		}
		time.Sleep(11 * time.Second)
		at := h.now()
		h.sys.Root.Send(child, boom{})
		if d := h.expect("child", "started").At - at; !inJitter(d, time.Second) {
			t.Errorf("after Reset: restart after %v, want ~1s", d)
		}
		logs := buf.String()
		for _, want := range []string{`msg="actor failed; restarting after backoff"`, "actor=" + child.Id, `reason="boom in child"`, "failures=4", "failures=1"} {
			if !strings.Contains(logs, want) {
				t.Errorf("strategy log lacks %q:\n%s", want, logs)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// PanicLogger.

func TestPanicLoggerLogsStackAndActorRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newSupHarness(t)
		buf := &syncBuffer{}
		logger := slog.New(slog.NewTextHandler(buf, nil))
		h.sup = h.sys.Root.Spawn(NewSupervisorProps([]ChildSpec{h.spec("flaky", PanicLogger(logger))}, logger))
		kids := h.children(h.sup)
		h.expect("flaky", "started")

		// Normal messages pass through untouched and log nothing.
		h.sys.Root.Send(kids["flaky"], ping{})
		h.expect("flaky", "pong")
		synctest.Wait()
		if strings.Contains(buf.String(), "actor panicked") {
			t.Fatalf("logged a panic without one:\n%s", buf)
		}

		at := h.now()
		h.sys.Root.Send(kids["flaky"], boom{})
		if d := h.expect("flaky", "started").At - at; !inJitter(d, 100*time.Millisecond) {
			t.Errorf("restart %v after the panic, want 80–100ms: the middleware must re-panic so supervision runs", d)
		}
		h.sys.Root.Send(kids["flaky"], ping{})
		h.expect("flaky", "pong")

		logs := buf.String()
		var line string
		for l := range strings.SplitSeq(logs, "\n") {
			if strings.Contains(l, `msg="actor panicked"`) {
				if line != "" {
					t.Errorf("the panic was logged twice:\n%s", logs)
				}
				line = l
			}
		}
		if line == "" {
			t.Fatalf("no panic logged:\n%s", logs)
		}
		for _, want := range []string{
			"level=ERROR",
			"actor=" + kids["flaky"].Id,
			`panic="boom in flaky"`,
			"message_type=actors.boom",
			`stack="goroutine `,
			"(*testChild).Receive", // the frame that panicked
			"supervision_test.go",
			"runtime/debug.Stack",
		} {
			if !strings.Contains(line, want) {
				t.Errorf("panic log lacks %q:\n%s", want, line)
			}
		}
		// The supervisor's strategy logged the restart with the same logger.
		if !strings.Contains(logs, `msg="actor failed; restarting after backoff"`) {
			t.Errorf("no restart logged:\n%s", logs)
		}
	})
}

// ---------------------------------------------------------------------------
// supervisorActor: start order, earlier PIDs, messages.QueryChildren.

func TestSupervisorStartsChildrenInOrderWithEarlierPIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newSupHarness(t)
		var order []string
		got := map[string]map[string]*actor.PID{}
		spec := func(name string) ChildSpec {
			return ChildSpec{Name: name, Props: func(started map[string]*actor.PID) *actor.Props {
				order = append(order, name) // builders run on the supervisor's goroutine, one at a time
				got[name] = maps.Clone(started)
				started["scribble-"+name] = nil // must not leak into later builders or messages.QueryChildren
				return h.props(name)
			}}
		}
		sup, err := h.sys.Root.SpawnNamed(NewSupervisorProps([]ChildSpec{spec("store"), spec("cloudflare"), spec("tunnel")},
			slog.New(slog.DiscardHandler)), "sup")
		if err != nil {
			t.Fatal(err)
		}
		h.sup = sup
		kids := h.children(sup)
		h.drain(3)

		if !slices.Equal(order, []string{"store", "cloudflare", "tunnel"}) {
			t.Errorf("props built in order %v", order)
		}
		if len(kids) != 3 {
			t.Fatalf("messages.QueryChildren = %v", kids)
		}
		for name, pid := range kids {
			if pid.Id != "sup/"+name {
				t.Errorf("child %s has id %q, want sup/%s", name, pid.Id, name)
			}
		}
		pidEq := func(a, b *actor.PID) bool { return a.Equal(b) }
		wantStarted := map[string]map[string]*actor.PID{
			"store":      {},
			"cloudflare": {"store": kids["store"]},
			"tunnel":     {"store": kids["store"], "cloudflare": kids["cloudflare"]},
		}
		for name, want := range wantStarted {
			if !maps.EqualFunc(got[name], want, pidEq) {
				t.Errorf("builder of %s got %v, want %v", name, got[name], want)
			}
		}
		// Every child is live at the PID reported.
		for _, name := range []string{"store", "cloudflare", "tunnel"} {
			h.sys.Root.Send(kids[name], ping{})
			h.expect(name, "pong")
		}
		// messages.QueryChildren answers a copy.
		delete(kids, "store")
		if again := h.children(sup); len(again) != 3 || again["store"] == nil {
			t.Errorf("messages.QueryChildren after the caller mutated its answer: %v", again)
		}
	})
}

// A panicking child of a nested supervisor does not disturb the other
// branch of the tree.
func TestSupervisorNestedFailureStaysLocal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newSupHarness(t)
		discard := slog.New(slog.DiscardHandler)
		inner := ChildSpec{Name: "inner", Props: func(map[string]*actor.PID) *actor.Props {
			return NewSupervisorProps([]ChildSpec{h.spec("leaf")}, discard)
		}}
		h.sup = h.sys.Root.Spawn(NewSupervisorProps([]ChildSpec{inner, h.spec("other")}, discard))
		top := h.children(h.sup)
		leaf := h.children(top["inner"])["leaf"]
		h.drain(2)

		for i := range 3 {
			at := h.now()
			h.sys.Root.Send(leaf, boom{})
			h.sys.Root.Send(top["other"], ping{})
			h.expect("other", "pong")
			nominal := time.Duration(100<<i) * time.Millisecond
			if d := h.expect("leaf", "started").At - at; !inJitter(d, nominal) {
				t.Errorf("leaf restart %d after %v, want %v minus ≤20%%", i+1, d, nominal)
			}
		}
		if again := h.children(top["inner"])["leaf"]; !again.Equal(leaf) {
			t.Errorf("leaf PID changed: %v → %v", leaf, again)
		}
		time.Sleep(time.Hour) // a re-delivered boom would show as another restart
		synctest.Wait()
		if len(h.events) != 0 {
			t.Errorf("unexpected events: %+v", h.drain(len(h.events)))
		}
	})
}
