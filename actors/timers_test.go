package actors

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
)

// callCounter is a fake cloudflare actor: it counts the operations asked of
// it by type and answers them, failing the first failZones zone lists.
type callCounter struct {
	mu        sync.Mutex
	calls     map[string]int
	failZones int
}

func (c *callCounter) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

func (c *callCounter) props() *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		req, ok := ctx.Message().(cfRequest)
		if !ok {
			return
		}
		c.mu.Lock()
		name := typeName(req.Op)
		c.calls[name]++
		var res any
		var err error
		switch req.Op.(type) {
		case opListZones:
			if c.failZones > 0 {
				c.failZones--
				err = errors.New("simulated outage")
			} else {
				res = []cfapi.Zone{{ID: "z1", Name: "example.com"}}
			}
		case opGetTunnelConfig:
			res = cfapi.TunnelConfig{}
		}
		c.mu.Unlock()
		ctx.Respond(cfResponse{ID: req.ID, Result: res, Err: err})
	})
}

// fakeOwnedStore answers owned-object loads, failing the first failLoads
// (which makes a planner panic and its supervisor restart it).
func fakeOwnedStore(failLoads int) *actor.Props {
	var mu sync.Mutex
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(storeLoadOwned); ok {
			mu.Lock()
			var err error
			if failLoads > 0 {
				failLoads--
				err = errors.New("simulated store failure")
			}
			mu.Unlock()
			ctx.Respond(storeOwnedLoaded{Kind: m.Kind, Scope: m.Scope, Err: err})
		}
	})
}

const opListZonesName = "actors.opListZones"

// After N failed zone lists (each schedules a retry), the DNS actor still
// lists zones once per interval: the retries replaced the periodic schedule
// instead of adding a chain each.
func TestDNSZoneListFailuresKeepOneSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const failures = 6
		const interval = 10 * time.Minute
		sys := newTestSystem()
		cf := &callCounter{calls: map[string]int{}, failZones: failures}
		cfPID := sys.Root.Spawn(cf.props())
		st := sys.Root.Spawn(fakeOwnedStore(0))
		logger := slog.New(slog.DiscardHandler)
		dns := sys.Root.Spawn(NewDNSProps(DNSConfig{
			PlannerConfig:    PlannerConfig{Interval: interval, Store: st, Logger: logger, Debounce: time.Millisecond},
			Credentials:      map[string]*actor.PID{"default": cfPID},
			RecordCredential: func(messages.DesiredRecord) string { return "default" },
			ZoneCredential:   func(string, []string) string { return "default" },
		}))
		// The first list and the failures' retries (retryDelay apart).
		time.Sleep(failures*retryDelay + time.Second)
		synctest.Wait()
		if got := cf.count(opListZonesName); got != failures+1 {
			t.Fatalf("zone lists after %d failures = %d, want %d (one first list, one retry per failure)", failures, got, failures+1)
		}
		// From now on: one list per interval, not one per failure.
		before := cf.count(opListZonesName)
		const periods = 5
		time.Sleep(periods * interval)
		synctest.Wait()
		if got := cf.count(opListZonesName) - before; got != periods {
			t.Errorf("zone lists in %d intervals after recovery = %d, want %d", periods, got, periods)
		}
		_ = sys.Root.StopFuture(dns).Wait()
		sys.Shutdown()
		settle()
	})
}

// A planner restarted N times reconciles once per drift interval: the
// drift schedules of the incarnations that failed end with them.
func TestPlannerRestartsKeepOneDriftChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const restarts = 5
		const interval = 10 * time.Minute
		sys := newTestSystem()
		cf := &callCounter{calls: map[string]int{}}
		cfPID := sys.Root.Spawn(cf.props())
		st := sys.Root.Spawn(fakeOwnedStore(restarts))
		logger := slog.New(slog.DiscardHandler)
		pc := PlannerConfig{Interval: interval, Store: st, Cloudflare: cfPID, Logger: logger, Debounce: time.Millisecond}
		sup := sys.Root.Spawn(NewSupervisorProps([]ChildSpec{{Name: "tunnel-t", Props: func(map[string]*actor.PID) *actor.Props {
			return NewTunnelProps("t", TunnelRef{TunnelID: "tid"}, pc)
		}}}, logger))
		kids, err := sys.Root.RequestFuture(sup, messages.QueryChildren{}, time.Minute).Result()
		if err != nil {
			t.Fatal(err)
		}
		tunnel := kids.(map[string]*actor.PID)["tunnel-t"]
		// Every failed store load panics; the backoff restarts land within
		// a few seconds (100 ms doubling).
		time.Sleep(time.Minute)
		synctest.Wait()
		sys.Root.Send(tunnel, messages.DesiredState{Version: 1, Settled: true, Tunnels: map[string]messages.DesiredTunnel{"t": {}}})
		time.Sleep(time.Second)
		synctest.Wait()
		before := cf.count("actors.opGetTunnelConfig")
		if before != 1 {
			t.Fatalf("reads after the desired state = %d, want 1", before)
		}
		const periods = 5
		time.Sleep(periods * interval)
		synctest.Wait()
		if got := cf.count("actors.opGetTunnelConfig") - before; got != periods {
			t.Errorf("tunnel reads in %d drift intervals after %d restarts = %d, want %d", periods, restarts, got, periods)
		}
		_ = sys.Root.StopFuture(sup).Wait()
		sys.Shutdown()
		settle()
	})
}

type timerProbe struct {
	timers
	got chan string
}

type probeSchedule struct {
	purpose string
	d       time.Duration
	msg     string
	sooner  bool
}
type probeCancel struct{ purpose string }
type probeCrash struct{}

func (p *timerProbe) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case probeSchedule:
		if m.sooner {
			p.sooner(ctx, m.purpose, m.d, m.msg)
		} else {
			p.after(ctx, m.purpose, m.d, m.msg)
		}
	case probeCancel:
		p.cancel(m.purpose)
	case probeCrash:
		panic("probe crash")
	case string:
		p.got <- m
	}
}

// The helper's rules: one schedule per purpose (after replaces, sooner keeps
// the earlier), cancel drops it, and a restart ends every schedule of the
// failed incarnation.
func TestTimersOneSchedulePerPurpose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sys := newTestSystem()
		got := make(chan string, 16)
		logger := slog.New(slog.DiscardHandler)
		sup := sys.Root.Spawn(NewSupervisorProps([]ChildSpec{{Name: "probe", Props: func(map[string]*actor.PID) *actor.Props {
			return actor.PropsFromProducer(func() actor.Actor { return &timerProbe{got: got} }, withMiddleware(logger))
		}}}, logger))
		kids, err := sys.Root.RequestFuture(sup, messages.QueryChildren{}, time.Minute).Result()
		if err != nil {
			t.Fatal(err)
		}
		p := kids.(map[string]*actor.PID)["probe"]
		drain := func() []string {
			time.Sleep(time.Hour)
			synctest.Wait()
			var out []string
			for len(got) > 0 {
				out = append(out, <-got)
			}
			return out
		}
		send := func(msgs ...any) {
			for _, m := range msgs {
				sys.Root.Send(p, m)
			}
			synctest.Wait()
		}

		send(probeSchedule{"a", time.Minute, "a1", false}, probeSchedule{"a", 2 * time.Minute, "a2", false}, probeSchedule{"b", time.Minute, "b1", false})
		if out := drain(); !slices.Equal(sorted(out), []string{"a2", "b1"}) {
			t.Errorf("after replaces: got %v, want a2 and b1 only", out)
		}
		send(probeSchedule{"c", time.Minute, "c1", true}, probeSchedule{"c", 2 * time.Minute, "c2", true})
		if out := drain(); len(out) != 1 || out[0] != "c1" {
			t.Errorf("sooner keeps the earlier: got %v, want [c1]", out)
		}
		send(probeSchedule{"d", time.Minute, "d1", false}, probeCancel{"d"})
		if out := drain(); len(out) != 0 {
			t.Errorf("cancelled: got %v, want nothing", out)
		}
		send(probeSchedule{"e", time.Minute, "e1", false}, probeCrash{})
		if out := drain(); len(out) != 0 {
			t.Errorf("a restarted actor got its failed incarnation's timer: %v", out)
		}
		_ = sys.Root.StopFuture(sup).Wait()
		sys.Shutdown()
		settle()
	})
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
