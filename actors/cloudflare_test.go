package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/cfapi"
)

// Every test here runs inside a synctest bubble: the token bucket, the 429
// pause, the retry backoff and the call timeout all run on the fake clock, so
// "30 s later" costs nothing, and start times can be checked exactly.

// ---------------------------------------------------------------------------
// A scriptable fake cfapi.API.

// fakeStep is the scripted outcome of one call.
type fakeStep struct {
	err   error
	hold  chan struct{} // block until closed (or the call's context ends)
	delay time.Duration // take this long on the fake clock
}

// fakeCall is what the fake saw of one call.
type fakeCall struct {
	Method, Arg string
	At, End     time.Duration // since the harness started
	Deadline    time.Duration // the context's deadline since start, -1 if none
	Err         error         // what the call returned
}

func (c fakeCall) String() string { return c.Method + "(" + c.Arg + ")" }

type fakeAPI struct {
	name string
	t0   time.Time

	mu           sync.Mutex
	script       map[string][]fakeStep // by "Method" or "Method arg"
	defaultDelay time.Duration
	calls        []fakeCall
	running      int
	maxRunning   int
}

func newFakeAPI(name string, t0 time.Time) *fakeAPI {
	return &fakeAPI{name: name, t0: t0, script: map[string][]fakeStep{}}
}

// on scripts the next calls of method (optionally "Method arg"); calls
// beyond the script succeed after defaultDelay.
func (f *fakeAPI) on(key string, steps ...fakeStep) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[key] = append(f.script[key], steps...)
}

func (f *fakeAPI) snapshot() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeAPI) peak() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxRunning
}

func (f *fakeAPI) next(method, arg string) fakeStep {
	for _, key := range []string{method + " " + arg, method} {
		if steps := f.script[key]; len(steps) > 0 {
			f.script[key] = steps[1:]
			return steps[0]
		}
	}
	return fakeStep{delay: f.defaultDelay}
}

func (f *fakeAPI) do(ctx context.Context, method, arg string) error {
	f.mu.Lock()
	now := time.Since(f.t0)
	c := fakeCall{Method: method, Arg: arg, At: now, Deadline: -1}
	if dl, ok := ctx.Deadline(); ok {
		c.Deadline = dl.Sub(f.t0) - now
	}
	idx := len(f.calls)
	f.calls = append(f.calls, c)
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	step := f.next(method, arg)
	f.mu.Unlock()

	err := step.err
	switch {
	case step.hold != nil:
		select {
		case <-step.hold:
		case <-ctx.Done():
			err = ctx.Err()
		}
	case step.delay > 0:
		tm := time.NewTimer(step.delay)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			err = ctx.Err()
		}
	}

	f.mu.Lock()
	f.running--
	f.calls[idx].End = time.Since(f.t0)
	f.calls[idx].Err = err
	f.mu.Unlock()
	return err
}

func (f *fakeAPI) VerifyToken(ctx context.Context) (cfapi.TokenStatus, error) {
	return cfapi.TokenStatus{ID: f.name, Status: "active"}, f.do(ctx, "VerifyToken", "")
}
func (f *fakeAPI) ListZones(ctx context.Context) ([]cfapi.Zone, error) {
	return []cfapi.Zone{{ID: "zone-of-" + f.name}}, f.do(ctx, "ListZones", "")
}
func (f *fakeAPI) ListRecords(ctx context.Context, zoneID string, _ cfapi.RecordFilter) ([]cfapi.Record, error) {
	return []cfapi.Record{{ID: "rec", ZoneID: zoneID}}, f.do(ctx, "ListRecords", zoneID)
}
func (f *fakeAPI) BatchRecords(ctx context.Context, zoneID string, b cfapi.Batch) (cfapi.BatchResult, error) {
	return cfapi.BatchResult{Posts: b.Posts}, f.do(ctx, "BatchRecords", zoneID)
}
func (f *fakeAPI) GetTunnelConfig(ctx context.Context, tunnelID string) (cfapi.TunnelConfig, error) {
	return cfapi.TunnelConfig{TunnelID: tunnelID, Source: f.name}, f.do(ctx, "GetTunnelConfig", tunnelID)
}
func (f *fakeAPI) PutTunnelConfig(ctx context.Context, tunnelID string, cfg cfapi.TunnelConfig) (cfapi.TunnelConfig, error) {
	return cfg, f.do(ctx, "PutTunnelConfig", tunnelID)
}
func (f *fakeAPI) GetTunnel(ctx context.Context, tunnelID string) (cfapi.Tunnel, error) {
	return cfapi.Tunnel{ID: tunnelID, Status: cfapi.TunnelHealthy}, f.do(ctx, "GetTunnel", tunnelID)
}
func (f *fakeAPI) ListTunnelConnections(ctx context.Context, tunnelID string) ([]cfapi.TunnelConnector, error) {
	return nil, f.do(ctx, "ListTunnelConnections", tunnelID)
}
func (f *fakeAPI) ListAccessApps(ctx context.Context) ([]cfapi.AccessApp, error) {
	return []cfapi.AccessApp{{ID: "app-of-" + f.name}}, f.do(ctx, "ListAccessApps", "")
}
func (f *fakeAPI) CreateAccessApp(ctx context.Context, app cfapi.AccessApp) (cfapi.AccessApp, error) {
	app.ID = "new-app"
	return app, f.do(ctx, "CreateAccessApp", app.Name)
}
func (f *fakeAPI) UpdateAccessApp(ctx context.Context, app cfapi.AccessApp) (cfapi.AccessApp, error) {
	return app, f.do(ctx, "UpdateAccessApp", app.ID)
}
func (f *fakeAPI) DeleteAccessApp(ctx context.Context, appID string) error {
	return f.do(ctx, "DeleteAccessApp", appID)
}
func (f *fakeAPI) ListAccessPolicies(ctx context.Context) ([]cfapi.AccessPolicy, error) {
	return nil, f.do(ctx, "ListAccessPolicies", "")
}
func (f *fakeAPI) CreateAccessPolicy(ctx context.Context, p cfapi.AccessPolicy) (cfapi.AccessPolicy, error) {
	p.ID = "new-policy"
	return p, f.do(ctx, "CreateAccessPolicy", p.Name)
}
func (f *fakeAPI) UpdateAccessPolicy(ctx context.Context, p cfapi.AccessPolicy) (cfapi.AccessPolicy, error) {
	return p, f.do(ctx, "UpdateAccessPolicy", p.ID)
}
func (f *fakeAPI) DeleteAccessPolicy(ctx context.Context, id string) error {
	return f.do(ctx, "DeleteAccessPolicy", id)
}

var _ cfapi.API = (*fakeAPI)(nil)

// ---------------------------------------------------------------------------
// A recording CloudflareMetrics.

type fakeMetrics struct {
	mu           sync.Mutex
	credentials  map[string]bool
	calls        []string // "endpoint status"
	rateLimited  []time.Duration
	limiterWaits []time.Duration
	depths       []int
}

func (m *fakeMetrics) cred(c string) {
	if m.credentials == nil {
		m.credentials = map[string]bool{}
	}
	m.credentials[c] = true
}

func (m *fakeMetrics) Call(credential, endpoint, status string, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cred(credential)
	m.calls = append(m.calls, endpoint+" "+status)
}

func (m *fakeMetrics) RateLimited(credential string, pause time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cred(credential)
	m.rateLimited = append(m.rateLimited, pause)
}

func (m *fakeMetrics) LimiterWait(credential string, wait time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cred(credential)
	m.limiterWaits = append(m.limiterWaits, wait)
}

func (m *fakeMetrics) QueueDepth(credential string, depth int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cred(credential)
	m.depths = append(m.depths, depth)
}

type metricsView struct {
	credentials  []string
	calls        []string
	rateLimited  []time.Duration
	limiterWaits []time.Duration
	depths       []int
}

func (m *fakeMetrics) view() metricsView {
	m.mu.Lock()
	defer m.mu.Unlock()
	var creds []string
	for c := range m.credentials {
		creds = append(creds, c)
	}
	slices.Sort(creds)
	return metricsView{creds, slices.Clone(m.calls), slices.Clone(m.rateLimited), slices.Clone(m.limiterWaits), slices.Clone(m.depths)}
}

// ---------------------------------------------------------------------------
// The harness: a cloudflare actor and a probe actor that collects replies.

type cfReply struct {
	cfResponse
	At time.Duration // when the probe got it, since the harness started
}

type cfHarness struct {
	t       *testing.T
	sys     *actor.ActorSystem
	cf      *actor.PID
	probe   *actor.PID
	replies chan cfReply
	api     *fakeAPI
	metrics *fakeMetrics
	t0      time.Time
	seq     uint64
	stopped bool
}

func newTestSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
}

// newCFHarness must be called inside a synctest bubble. cfg.NewAPI and
// cfg.Metrics default to the harness's fakes.
func newCFHarness(t *testing.T, cfg CloudflareConfig) *cfHarness {
	t.Helper()
	h := &cfHarness{t: t, t0: time.Now(), metrics: &fakeMetrics{}, replies: make(chan cfReply, 1024)}
	h.api = newFakeAPI("default", h.t0)
	if cfg.NewAPI == nil {
		cfg.NewAPI = func(string) (cfapi.API, error) { return h.api, nil }
	}
	if cfg.Metrics == nil {
		cfg.Metrics = h.metrics
	}
	if cfg.Credential == "" {
		cfg.Credential = "cred-test"
	}
	h.sys = newTestSystem()
	h.probe = h.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if r, ok := ctx.Message().(cfResponse); ok {
			h.replies <- cfReply{r, time.Since(h.t0)}
		}
	}))
	h.cf = h.sys.Root.Spawn(NewCloudflareProps(cfg))
	t.Cleanup(h.stop)
	return h
}

// stop stops both actors (cancelling calls in flight) and the system, inside
// the bubble.
func (h *cfHarness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	_ = h.sys.Root.StopFuture(h.cf).Wait()
	_ = h.sys.Root.StopFuture(h.probe).Wait()
	h.sys.Shutdown()
	settle()
}

// settle lets the fake clock run past every timer the actors may have left
// (wake-ups, retries: at most DefaultPause) so that the dead letters they
// produce, and protoactor's dead-letter throttle goroutine (1 s ticker), are
// done before the bubble ends.
func settle() {
	time.Sleep(time.Hour)
	synctest.Wait()
}

// send asks the cloudflare actor to run op; the reply goes to the probe.
func (h *cfHarness) send(prio int, account string, op cfOp) uint64 {
	h.seq++
	h.sys.Root.RequestWithCustomSender(h.cf, cfRequest{ID: h.seq, Priority: prio, Account: account, Op: op}, h.probe)
	return h.seq
}

// await returns the next n replies, failing if they do not come within a
// (fake) day.
func (h *cfHarness) await(n int) []cfReply {
	h.t.Helper()
	out := make([]cfReply, 0, n)
	timeout := time.After(24 * time.Hour)
	for len(out) < n {
		select {
		case r := <-h.replies:
			out = append(out, r)
		case <-timeout:
			h.t.Fatalf("got %d of %d replies within a day: %+v", len(out), n, out)
		}
	}
	return out
}

// byID indexes replies and fails on a duplicate.
func (h *cfHarness) byID(rs []cfReply) map[uint64]cfReply {
	h.t.Helper()
	out := map[uint64]cfReply{}
	for _, r := range rs {
		if _, dup := out[r.ID]; dup {
			h.t.Errorf("request %d answered twice", r.ID)
		}
		out[r.ID] = r
	}
	return out
}

// quiet lets an hour of fake time pass and checks that no further reply
// arrived (nothing answered twice, no retry answered late).
func (h *cfHarness) quiet() {
	h.t.Helper()
	time.Sleep(time.Hour)
	synctest.Wait()
	for {
		select {
		case r := <-h.replies:
			h.t.Errorf("unexpected extra reply %+v", r)
		default:
			return
		}
	}
}

func startTimes(calls []fakeCall) []time.Duration {
	var out []time.Duration
	for _, c := range calls {
		out = append(out, c.At)
	}
	return out
}

func callNames(calls []fakeCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.String())
	}
	return out
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// inJitter reports whether d is a backoff delay of the nominal value: at
// most nominal, at least 80 % of it.
func inJitter(d, nominal time.Duration) bool { return d <= nominal && d >= nominal-nominal/5 }

func rateLimited(retryAfter time.Duration) error {
	return &cfapi.Error{Kind: cfapi.ErrRateLimited, Op: "test", StatusCode: 429, RetryAfter: retryAfter}
}

func transient(status int) error {
	return &cfapi.Error{Kind: cfapi.ErrTransient, Op: "test", StatusCode: status}
}

// ---------------------------------------------------------------------------
// 1. Token bucket.

func TestCloudflareTokenBucketBurstThenRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The in-flight cap is out of the way: only the bucket throttles.
		h := newCFHarness(t, CloudflareConfig{Rate: 3, Burst: 10, MaxInflight: 100})
		const n = 30
		for i := range n {
			h.send(prioDNS, "", opListRecords{ZoneID: fmt.Sprint(i)})
		}
		replies := h.await(n)
		for _, r := range replies {
			if r.Err != nil {
				t.Fatalf("request %d: %v", r.ID, r.Err)
			}
		}
		calls := h.api.snapshot()
		if len(calls) != n {
			t.Fatalf("%d calls, want %d", len(calls), n)
		}
		// Calls run in goroutines, so the fake sees the burst in any order;
		// the start time of each request is what counts. Same-priority
		// requests start in arrival order: request i gets token i.
		for _, c := range calls {
			var i int
			if _, err := fmt.Sscan(c.Arg, &i); err != nil {
				t.Fatalf("call argument %q: %v", c.Arg, err)
			}
			// The first 10 use the burst; then one token every 1/3 s.
			var want time.Duration
			if i >= 10 {
				want = time.Duration(float64(i-9) * float64(time.Second) / 3)
			}
			if absDur(c.At-want) > time.Millisecond {
				t.Errorf("request %d started at %v, want %v", i, c.At, want)
			}
		}
		slices.SortStableFunc(calls, func(a, b fakeCall) int { return int(a.At - b.At) })
		// The bucket invariant at every start: at most Burst + Rate·t calls
		// have started by time t.
		for i, c := range calls {
			if limit := 10 + 3*c.At.Seconds() + 1e-6; float64(i+1) > limit {
				t.Errorf("%d calls started by %v, the bucket allows %.2f", i+1, c.At, limit)
			}
		}
		// The last call waited its 20/3 s in the queue, and the metrics say so.
		m := h.metrics.view()
		if len(m.limiterWaits) != n {
			t.Fatalf("%d LimiterWait reports, want %d", len(m.limiterWaits), n)
		}
		if w := slices.Max(m.limiterWaits); absDur(w-20*time.Second/3) > time.Millisecond {
			t.Errorf("longest LimiterWait %v, want ~6.67s", w)
		}
		if !slices.Contains(m.depths, 20) || m.depths[len(m.depths)-1] != 0 {
			t.Errorf("QueueDepth reports %v: want 20 waiting after the burst and 0 at the end", m.depths)
		}
		h.quiet()
	})
}

// ---------------------------------------------------------------------------
// 2. Priority.

func TestCloudflarePriorityOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCFHarness(t, CloudflareConfig{MaxInflight: 1})
		release := make(chan struct{})
		h.api.on("VerifyToken", fakeStep{hold: release})
		h.send(prioBackground, "", opVerifyToken{}) // the slow call in flight
		synctest.Wait()

		// Queued behind it, lowest priority first, interleaved; out-of-range
		// priorities are clamped.
		h.send(prioBackground, "", opListZones{})
		h.send(prioDNS, "", opListRecords{ZoneID: "z1"})
		h.send(prioAccess, "", opListApps{})
		h.send(prioTunnel, "", opGetTunnelConfig{TunnelID: "t1"})
		h.send(prioDNS, "", opListRecords{ZoneID: "z2"})
		h.send(99, "", opBatch{ZoneID: "late"})
		h.send(prioTunnel, "", opGetTunnelConfig{TunnelID: "t2"})
		h.send(prioAccess, "", opListPolicies{})
		h.send(-5, "", opGetTunnelConfig{TunnelID: "t3"})
		synctest.Wait()
		if calls := h.api.snapshot(); len(calls) != 1 {
			t.Fatalf("with MaxInflight 1 and a call in flight, calls = %v", callNames(calls))
		}

		close(release)
		h.await(10)
		got := callNames(h.api.snapshot()[1:])
		want := []string{
			"GetTunnelConfig(t1)", "GetTunnelConfig(t2)", "GetTunnelConfig(t3)", // tunnel
			"ListAccessApps()", "ListAccessPolicies()", // access
			"ListRecords(z1)", "ListRecords(z2)", // DNS
			"ListZones()", "BatchRecords(late)", // background
		}
		if !slices.Equal(got, want) {
			t.Errorf("run order\n got %v\nwant %v", got, want)
		}
		h.quiet()
	})
}

// ---------------------------------------------------------------------------
// 3. 429: pause everything, then run the same call again.

func TestCloudflareRateLimitPausesEveryCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCFHarness(t, CloudflareConfig{MaxInflight: 4})
		h.api.on("ListZones", fakeStep{err: rateLimited(30 * time.Second)})
		a := h.send(prioBackground, "", opListZones{})
		synctest.Wait() // the 429 is back: everything is paused

		time.Sleep(time.Second)
		b := h.send(prioTunnel, "", opGetTunnelConfig{TunnelID: "t1"})
		c := h.send(prioDNS, "", opListRecords{ZoneID: "z1"})
		time.Sleep(28*time.Second + 999*time.Millisecond)
		synctest.Wait()
		if calls := h.api.snapshot(); len(calls) != 1 {
			t.Fatalf("calls started during the 30 s pause: %v at %v", callNames(calls), startTimes(calls))
		}
		if len(h.replies) != 0 {
			t.Fatalf("a caller was answered during the pause")
		}

		got := h.byID(h.await(3))
		for _, id := range []uint64{a, b, c} {
			r, ok := got[id]
			if !ok || r.Err != nil {
				t.Errorf("request %d: reply %+v, want one success", id, r)
			}
		}
		if zones, _ := got[a].Result.([]cfapi.Zone); len(zones) != 1 || zones[0].ID != "zone-of-default" {
			t.Errorf("rate-limited call answered %#v, want the result of its successful re-run", got[a].Result)
		}
		calls := h.api.snapshot()
		if len(calls) != 4 {
			t.Fatalf("calls %v, want the 429, then three", callNames(calls))
		}
		for _, c := range calls[1:] {
			if c.At != 30*time.Second {
				t.Errorf("%s started at %v, want exactly when the pause ends (30s)", c, c.At)
			}
		}
		// The rate-limited call itself runs again (the three start together,
		// so the fake sees them in goroutine order).
		if got, want := slices.Sorted(slices.Values(callNames(calls[1:]))), []string{"GetTunnelConfig(t1)", "ListRecords(z1)", "ListZones()"}; !slices.Equal(got, want) {
			t.Errorf("calls after the pause %v, want %v", got, want)
		}

		m := h.metrics.view()
		if !slices.Equal(m.rateLimited, []time.Duration{30 * time.Second}) {
			t.Errorf("RateLimited reports %v, want [30s]", m.rateLimited)
		}
		if !slices.Equal(m.credentials, []string{"cred-test"}) {
			t.Errorf("metrics labelled with credentials %v", m.credentials)
		}
		if !slices.Contains(m.calls, "list_zones 429") || !slices.Contains(m.calls, "list_zones ok") {
			t.Errorf("Call reports %v, want a 429 and an ok for list_zones", m.calls)
		}
		h.quiet()
	})
}

func TestCloudflareRateLimitDefaultPause(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   time.Duration
		pause time.Duration
	}{
		{"built-in default is five minutes", 0, 5 * time.Minute},
		{"configured", 90 * time.Second, 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newCFHarness(t, CloudflareConfig{DefaultPause: tc.cfg})
				// No Retry-After, and wrapped on the way: still a 429.
				h.api.on("PutTunnelConfig", fakeStep{err: fmt.Errorf("put: %w", rateLimited(0))})
				id := h.send(prioTunnel, "acc", opPutTunnelConfig{TunnelID: "t1"})
				synctest.Wait()
				time.Sleep(tc.pause - time.Millisecond)
				h.send(prioTunnel, "acc", opGetTunnelConfig{TunnelID: "t2"})
				synctest.Wait()
				if calls := h.api.snapshot(); len(calls) != 1 {
					t.Fatalf("calls started during the pause: %v at %v", callNames(calls), startTimes(calls))
				}
				got := h.byID(h.await(2))
				if r := got[id]; r.Err != nil || r.At != tc.pause {
					t.Errorf("rate-limited call answered %+v, want success at %v", r, tc.pause)
				}
				for _, c := range h.api.snapshot()[1:] {
					if c.At != tc.pause {
						t.Errorf("%s started at %v, want %v", c, c.At, tc.pause)
					}
				}
				if m := h.metrics.view(); !slices.Equal(m.rateLimited, []time.Duration{tc.pause}) {
					t.Errorf("RateLimited reports %v, want [%v]", m.rateLimited, tc.pause)
				}
				h.quiet()
			})
		})
	}
}

func TestCloudflareRateLimitAgainExtendsPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCFHarness(t, CloudflareConfig{})
		// A non-idempotent create that hits 429 twice: a 429 means the call
		// did not run, so it is re-run even though it is a create.
		h.api.on("CreateAccessApp", fakeStep{err: rateLimited(30 * time.Second)}, fakeStep{err: rateLimited(10 * time.Second)})
		id := h.send(prioAccess, "acc", opCreateApp{App: cfapi.AccessApp{Name: "app"}})
		r := h.await(1)[0]
		if r.ID != id || r.Err != nil || r.At != 40*time.Second {
			t.Errorf("reply %+v, want success at 40s", r)
		}
		if got, want := startTimes(h.api.snapshot()), []time.Duration{0, 30 * time.Second, 40 * time.Second}; !slices.Equal(got, want) {
			t.Errorf("call starts %v, want %v", got, want)
		}
		if m := h.metrics.view(); !slices.Equal(m.rateLimited, []time.Duration{30 * time.Second, 10 * time.Second}) {
			t.Errorf("RateLimited reports %v", m.rateLimited)
		}
		h.quiet()
	})
}

// The call that hit the 429 keeps its place: after the pause it runs before
// same-priority calls that queued behind it.
func TestCloudflareRateLimitedCallKeepsItsPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCFHarness(t, CloudflareConfig{MaxInflight: 1})
		// The others queue while the first is in flight; its 429 comes a
		// second later.
		h.api.on("ListRecords first", fakeStep{delay: time.Second, err: rateLimited(10 * time.Second)})
		h.send(prioDNS, "", opListRecords{ZoneID: "first"})
		h.send(prioDNS, "", opListRecords{ZoneID: "second"})
		h.send(prioDNS, "", opListRecords{ZoneID: "third"})
		for _, r := range h.await(3) {
			if r.Err != nil || r.At != 11*time.Second {
				t.Errorf("reply %+v, want success at 11s", r)
			}
		}
		want := []string{"ListRecords(first)", "ListRecords(first)", "ListRecords(second)", "ListRecords(third)"}
		if got := callNames(h.api.snapshot()); !slices.Equal(got, want) {
			t.Errorf("calls %v, want %v", got, want)
		}
		h.quiet()
	})
}

// A 429 while other calls are in flight: they finish and are answered; the
// pause holds back only calls that have not started.
func TestCloudflareRateLimitWithCallsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCFHarness(t, CloudflareConfig{MaxInflight: 4})
		h.api.on("ListZones", fakeStep{delay: 5 * time.Second})
		h.api.on("ListRecords", fakeStep{delay: time.Second, err: rateLimited(20 * time.Second)})
		slow := h.send(prioBackground, "", opListZones{})
		limited := h.send(prioDNS, "", opListRecords{ZoneID: "z"})
		time.Sleep(2 * time.Second)
		later := h.send(prioTunnel, "", opGetTunnelConfig{TunnelID: "t"})

		got := h.byID(h.await(3))
		if r := got[slow]; r.Err != nil || r.At != 5*time.Second {
			t.Errorf("call in flight during the 429 answered %+v, want success at 5s", r)
		}
		for _, id := range []uint64{limited, later} {
			if r := got[id]; r.Err != nil || r.At != 21*time.Second {
				t.Errorf("request %d answered %+v, want success at 21s (1s + 20s pause)", id, r)
			}
		}
		h.quiet()
	})
}

// ---------------------------------------------------------------------------
// 4. Transient errors: retry idempotent calls with growing backoff.

func TestCloudflareTransientRetrySucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCFHarness(t, CloudflareConfig{RetryBase: time.Second, RetryMax: time.Minute})
		h.api.on("GetTunnelConfig", fakeStep{err: transient(503)}, fakeStep{err: transient(502)})
		id := h.send(prioTunnel, "acc", opGetTunnelConfig{TunnelID: "t1"})
		r := h.await(1)[0]
		if r.ID != id || r.Err != nil {
			t.Fatalf("reply %+v, want success", r)
		}
		if cfg, ok := r.Result.(cfapi.TunnelConfig); !ok || cfg.TunnelID != "t1" {
			t.Errorf("result %#v, want the tunnel config", r.Result)
		}
		calls := h.api.snapshot()
		if len(calls) != 3 {
			t.Fatalf("calls %v, want 3", callNames(calls))
		}
		gap1, gap2 := calls[1].At-calls[0].At, calls[2].At-calls[1].At
		if !inJitter(gap1, time.Second) || !inJitter(gap2, 2*time.Second) || gap2 <= gap1 {
			t.Errorf("retry delays %v, %v: want ~1s then ~2s (≤20%% jitter below), growing", gap1, gap2)
		}
		if r.At != calls[2].End {
			t.Errorf("answered at %v, want as soon as the third call succeeded (%v)", r.At, calls[2].End)
		}
		if m := h.metrics.view(); !slices.Equal(m.calls, []string{"get_tunnel_config 503", "get_tunnel_config 502", "get_tunnel_config ok"}) {
			t.Errorf("Call reports %v", m.calls)
		}
		h.quiet()
	})
}

func TestCloudflareTransientGivesUpAfterMaxAttempts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      CloudflareConfig
		attempts int
		nominal  []time.Duration // the expected delays between attempts
	}{
		{"defaults: 6 attempts, 1s base", CloudflareConfig{}, 6,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}},
		{"capped at RetryMax", CloudflareConfig{MaxAttempts: 7, RetryBase: 500 * time.Millisecond, RetryMax: 3 * time.Second}, 7,
			[]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second}},
		{"one attempt means no retry", CloudflareConfig{MaxAttempts: 1}, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newCFHarness(t, tc.cfg)
				fail := &cfapi.Error{Kind: cfapi.ErrTransient, Op: "batch", Err: context.DeadlineExceeded}
				for range 20 {
					h.api.on("BatchRecords", fakeStep{err: fail})
				}
				// A batch without posts is idempotent.
				id := h.send(prioDNS, "", opBatch{ZoneID: "z", Batch: cfapi.Batch{Deletes: []string{"r1"}}})
				r := h.await(1)[0]
				if r.ID != id || !errors.Is(r.Err, cfapi.ErrTransient) || !errors.Is(r.Err, context.DeadlineExceeded) {
					t.Errorf("reply %+v, want the transient error", r)
				}
				h.quiet()
				calls := h.api.snapshot()
				if len(calls) != tc.attempts {
					t.Fatalf("%d calls at %v, want %d", len(calls), startTimes(calls), tc.attempts)
				}
				for i := 1; i < len(calls); i++ {
					if gap := calls[i].At - calls[i-1].At; !inJitter(gap, tc.nominal[i-1]) {
						t.Errorf("delay before attempt %d is %v, want %v minus ≤20%%", i+1, gap, tc.nominal[i-1])
					}
				}
				if m := h.metrics.view(); len(m.calls) != tc.attempts || m.calls[0] != "batch_dns_records transport_error" {
					t.Errorf("Call reports %v", m.calls)
				}
			})
		})
	}
}

func TestCloudflareNonIdempotentNeverRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCFHarness(t, CloudflareConfig{})
		for _, m := range []string{"CreateAccessApp", "CreateAccessPolicy", "BatchRecords"} {
			for range 5 {
				h.api.on(m, fakeStep{err: transient(500)})
			}
		}
		ops := map[uint64]cfOp{}
		for _, op := range []cfOp{
			opCreateApp{App: cfapi.AccessApp{Name: "app"}},
			opCreatePolicy{Policy: cfapi.AccessPolicy{Name: "pol"}},
			opBatch{ZoneID: "posts", Batch: cfapi.Batch{Posts: []cfapi.Record{{Name: "a.example.com"}}}},
			opBatch{ZoneID: "mixed", Batch: cfapi.Batch{Deletes: []string{"r1"}, Posts: []cfapi.Record{{Name: "b.example.com"}}}},
		} {
			if op.idempotent() {
				t.Fatalf("%T %+v claims to be idempotent", op, op)
			}
			ops[h.send(prioAccess, "acc", op)] = op
		}
		for _, r := range h.await(len(ops)) {
			if !errors.Is(r.Err, cfapi.ErrTransient) || r.At != 0 {
				t.Errorf("%T answered %+v, want the transient error at once", ops[r.ID], r)
			}
		}
		h.quiet()
		if calls := h.api.snapshot(); len(calls) != len(ops) {
			t.Errorf("calls %v, want exactly one per request", callNames(calls))
		}
	})
}

// ---------------------------------------------------------------------------
// 5. Other errors: answered at once, no retry.

func TestCloudflareOtherErrorsAnsweredAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCFHarness(t, CloudflareConfig{})
		cases := map[string]error{
			"validation": &cfapi.Error{Kind: cfapi.ErrValidation, StatusCode: 400, Codes: []int{9005}, Messages: []string{"bad content"}},
			"notfound":   &cfapi.Error{Kind: cfapi.ErrNotFound, StatusCode: 404},
			"conflict":   &cfapi.Error{Kind: cfapi.ErrConflict, StatusCode: 409, Codes: []int{11010}, Messages: []string{"access.api.error.application_already_exists"}},
			// Cloudflare answers the CNAME/A clashes with 400 (81053, 81054).
			"clash":        &cfapi.Error{Kind: cfapi.ErrConflict, StatusCode: 400, Codes: []int{81054}, Messages: []string{"A CNAME record with that host already exists."}},
			"unauthorized": &cfapi.Error{Kind: cfapi.ErrUnauthorized, StatusCode: 401},
			"forbidden":    &cfapi.Error{Kind: cfapi.ErrForbidden, StatusCode: 403},
			"plain":        errors.New("something else"),
			"canceled":     fmt.Errorf("get: %w", context.Canceled),
		}
		want := map[uint64]error{}
		for name, err := range cases {
			h.api.on("GetTunnelConfig "+name, fakeStep{err: err}, fakeStep{err: err})
			want[h.send(prioTunnel, "acc", opGetTunnelConfig{TunnelID: name})] = err
		}
		for _, r := range h.await(len(cases)) {
			if r.Err != want[r.ID] || r.At != 0 {
				t.Errorf("request %d answered %v at %v, want %v at once", r.ID, r.Err, r.At, want[r.ID])
			}
		}
		h.quiet()
		if calls := h.api.snapshot(); len(calls) != len(cases) {
			t.Errorf("calls %v, want one per request", callNames(calls))
		}
		m := h.metrics.view()
		for _, s := range []string{"400", "404", "409", "401", "403", "error"} {
			if !slices.Contains(m.calls, "get_tunnel_config "+s) {
				t.Errorf("Call reports %v lack status %s", m.calls, s)
			}
		}
	})
}

func TestCloudflareCallStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{rateLimited(time.Second), "429"},
		{fmt.Errorf("wrapped: %w", transient(503)), "503"},
		{&cfapi.Error{Kind: cfapi.ErrTransient, Err: errors.New("connection reset")}, "transport_error"},
		{context.DeadlineExceeded, "transport_error"},
		{errors.New("other"), "error"},
		{&cfapi.Error{Kind: cfapi.ErrValidation}, "error"},
	} {
		if got := callStatus(tc.err); got != tc.want {
			t.Errorf("callStatus(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// ---------------------------------------------------------------------------
// 6. In-flight cap.

func TestCloudflareMaxInflight(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
		want int
	}{{"configured 3", 3, 3}, {"default 4", 0, 4}, {"one", 1, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newCFHarness(t, CloudflareConfig{Rate: 1000, Burst: 1000, MaxInflight: tc.max})
				h.api.defaultDelay = time.Second
				// Some calls fail transiently first: retries must respect
				// the cap too.
				h.api.on("ListRecords 0", fakeStep{delay: time.Second, err: transient(503)})
				h.api.on("ListRecords 1", fakeStep{delay: time.Second, err: transient(503)})
				const n = 20
				for i := range n {
					h.send(prioDNS, "", opListRecords{ZoneID: fmt.Sprint(i)})
				}
				for _, r := range h.await(n) {
					if r.Err != nil {
						t.Errorf("request %d: %v", r.ID, r.Err)
					}
				}
				if got := h.api.peak(); got != tc.want {
					t.Errorf("peak concurrent calls %d, want %d", got, tc.want)
				}
				// Each one-second wave runs exactly `want` calls.
				waves := map[time.Duration]int{}
				for _, c := range h.api.snapshot() {
					waves[c.At]++
				}
				for at, k := range waves {
					if k > tc.want {
						t.Errorf("%d calls started at %v, cap %d", k, at, tc.want)
					}
				}
				h.quiet()
			})
		})
	}
}

// ---------------------------------------------------------------------------
// 7. NewAPI: once per account; its error goes to the caller.

func TestCloudflareNewAPIOncePerAccount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		errNoAccount := errors.New("no such account")
		var mu sync.Mutex
		made := map[string]int{}
		apis := map[string]*fakeAPI{}
		h := newCFHarness(t, CloudflareConfig{NewAPI: func(account string) (cfapi.API, error) {
			mu.Lock()
			defer mu.Unlock()
			made[account]++
			if account == "bad" {
				return nil, errNoAccount
			}
			api := newFakeAPI(account, t0)
			apis[account] = api
			return api, nil
		}})
		ids := map[uint64]string{}
		for _, acc := range []string{"a", "b", "a", "", "bad", "a", "b", "", "bad"} {
			var op cfOp = opListApps{}
			if acc == "" {
				op = opListZones{}
			}
			ids[h.send(prioAccess, acc, op)] = acc
		}
		for _, r := range h.await(len(ids)) {
			acc := ids[r.ID]
			switch {
			case acc == "bad":
				if !errors.Is(r.Err, errNoAccount) {
					t.Errorf("request for the bad account answered %+v, want the NewAPI error", r)
				}
			case r.Err != nil:
				t.Errorf("request for account %q: %v", acc, r.Err)
			case acc == "":
				if zones := r.Result.([]cfapi.Zone); zones[0].ID != "zone-of-" {
					t.Errorf("account-less call ran on %v", zones)
				}
			default:
				if apps := r.Result.([]cfapi.AccessApp); apps[0].ID != "app-of-"+acc {
					t.Errorf("call for account %q ran on the client of %v", acc, apps)
				}
			}
		}
		h.quiet()
		mu.Lock()
		defer mu.Unlock()
		for _, acc := range []string{"a", "b", ""} {
			if made[acc] != 1 {
				t.Errorf("NewAPI(%q) called %d times, want once", acc, made[acc])
			}
		}
		if made["bad"] < 1 {
			t.Errorf("NewAPI(bad) never called")
		}
		for acc, want := range map[string]int{"a": 3, "b": 2, "": 2} {
			if got := len(apis[acc].snapshot()); got != want {
				t.Errorf("account %q client got %d calls, want %d", acc, got, want)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Call timeout and stopping.

func TestCloudflareCallTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     time.Duration
		timeout time.Duration
	}{{"configured", 5 * time.Second, 5 * time.Second}, {"default", 0, time.Minute}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newCFHarness(t, CloudflareConfig{CallTimeout: tc.cfg})
				h.api.on("GetTunnelConfig", fakeStep{hold: make(chan struct{})}) // never answers
				h.send(prioTunnel, "acc", opGetTunnelConfig{TunnelID: "t"})
				r := h.await(1)[0]
				// The fake returns the bare context error, which is not
				// ErrTransient: answered, not retried.
				if !errors.Is(r.Err, context.DeadlineExceeded) || r.At != tc.timeout {
					t.Errorf("reply %+v, want DeadlineExceeded at %v", r, tc.timeout)
				}
				if calls := h.api.snapshot(); len(calls) != 1 || calls[0].Deadline != tc.timeout {
					t.Errorf("calls %+v, want one with a %v deadline", calls, tc.timeout)
				}
				h.quiet()
			})
		})
	}
}

func TestCloudflareStopCancelsCallsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCFHarness(t, CloudflareConfig{})
		h.api.on("ListZones", fakeStep{hold: make(chan struct{})})
		h.send(prioBackground, "", opListZones{})
		synctest.Wait()
		h.stop()
		synctest.Wait()
		calls := h.api.snapshot()
		if len(calls) != 1 || !errors.Is(calls[0].Err, context.Canceled) || calls[0].End != 0 {
			t.Errorf("calls %+v, want the call in flight cancelled when the actor stops", calls)
		}
	})
}

// ---------------------------------------------------------------------------
// Restart.

// panicAccount makes NewAPI panic: a way to crash the actor's
// Receive from outside.
const panicAccount = "panic"

func TestCloudflareRestartKeepsInflightCap(t *testing.T) {
	// A restart must not let the previous incarnation's calls count against
	// the new one's in-flight cap (calls are tagged with their incarnation).
	synctest.Test(t, func(t *testing.T) {
		var h *cfHarness
		h = newCFHarness(t, CloudflareConfig{MaxInflight: 3, Rate: 1000, Burst: 1000, NewAPI: func(account string) (cfapi.API, error) {
			if account == panicAccount {
				panic("NewAPI exploded")
			}
			return h.api, nil
		}})
		for i := range 2 {
			h.api.on(fmt.Sprintf("ListRecords old%d", i), fakeStep{hold: make(chan struct{})})
			h.send(prioDNS, "", opListRecords{ZoneID: fmt.Sprintf("old%d", i)})
		}
		synctest.Wait()
		h.send(prioDNS, panicAccount, opListApps{}) // crashes Receive: the root guardian restarts the actor
		time.Sleep(time.Second)
		synctest.Wait()
		h.await(2) // the old calls, cancelled by the restart, are answered

		for i := range 6 {
			h.api.on(fmt.Sprintf("ListRecords new%d", i), fakeStep{delay: time.Second})
			h.send(prioDNS, "", opListRecords{ZoneID: fmt.Sprintf("new%d", i)})
		}
		h.await(6)
		if got := h.api.peak(); got > 3 {
			t.Errorf("%d calls ran at once after a restart, MaxInflight is 3", got)
		}
	})
}

// The fake itself: unscripted calls succeed, scripted ones consume their
// steps in order, "Method arg" beats "Method".
func TestCloudflareFakeAPIScript(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI("x", time.Now())
		f.on("ListRecords", fakeStep{err: cfapi.ErrConflict})
		f.on("ListRecords z2", fakeStep{err: cfapi.ErrNotFound})
		ctx := context.Background()
		var errs []string
		for _, z := range []string{"z1", "z2", "z2", "z1"} {
			_, err := f.ListRecords(ctx, z, cfapi.RecordFilter{})
			errs = append(errs, fmt.Sprint(err))
		}
		if got := strings.Join(errs, ","); got != "conflict,not found,<nil>,<nil>" {
			t.Errorf("scripted outcomes %s", got)
		}
	})
}

// TestCloudflareAgingPreventsStarvation: a steady stream of tunnel calls
// faster than the bucket (an overload) must not keep a DNS call waiting for
// as long as the stream lasts; it gains a priority level every agingStep.
func TestCloudflareAgingPreventsStarvation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCFHarness(t, CloudflareConfig{MaxInflight: 1, Rate: 1, Burst: 1})
		h.send(prioTunnel, "", opGetTunnelConfig{TunnelID: "first"}) // takes the only token
		h.send(prioDNS, "", opListRecords{ZoneID: "z"})              // waits behind the stream below
		// Two tunnel calls a second against a bucket of one a second.
		stop := time.Now().Add(30 * time.Second)
		for time.Now().Before(stop) {
			h.send(prioTunnel, "", opGetTunnelConfig{TunnelID: "t"})
			h.send(prioTunnel, "", opGetTunnelConfig{TunnelID: "t"})
			time.Sleep(time.Second)
			synctest.Wait()
		}
		h.await(62)
		var dnsAt time.Duration = -1
		for _, c := range h.api.snapshot() {
			if c.Method == "ListRecords" {
				dnsAt = c.At
			}
		}
		// Without aging it would run only once the stream stopped (after 30 s).
		if dnsAt < 0 || dnsAt >= 25*time.Second {
			t.Fatalf("the DNS call ran at %v under a 30 s stream of tunnel calls; it must not wait for the stream to end", dnsAt)
		}
	})
}
