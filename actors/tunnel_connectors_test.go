package actors

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// connectorCloud is a fake cloudflare actor for the connector read: it
// answers the tunnel GET and the connections list from a state the test
// sets, can hold the list's answers back, and counts reads and the most
// that ran at once. Configuration reads and writes succeed.
type connectorCloud struct {
	mu         sync.Mutex
	status     string
	connectors []cfapi.TunnelConnector
	failGets   int
	hold       bool
	held       []heldAnswer
	gets       int
	running    int // reads started (GET asked) and not answered (list answered or a failure)
	maxRunning int
}

type heldAnswer struct {
	to  *actor.PID
	res cfResponse
}

func (c *connectorCloud) set(status string, connectors ...cfapi.TunnelConnector) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status, c.connectors = status, connectors
}

func (c *connectorCloud) counts() (gets, maxRunning int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets, c.maxRunning
}

func (c *connectorCloud) props() *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		req, ok := ctx.Message().(cfRequest)
		if !ok {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		res := cfResponse{ID: req.ID}
		switch op := req.Op.(type) {
		case opGetTunnel:
			if req.Priority != prioBackground {
				panic("the connector read must run at background priority")
			}
			c.gets++
			c.running++
			c.maxRunning = max(c.maxRunning, c.running)
			if c.failGets > 0 {
				c.failGets--
				c.running--
				res.Err = errors.New("simulated outage")
				break
			}
			res.Result = cfapi.Tunnel{ID: op.TunnelID, Status: c.status}
		case opListTunnelConnections:
			res.Result = append([]cfapi.TunnelConnector(nil), c.connectors...)
			if c.hold {
				c.held = append(c.held, heldAnswer{to: ctx.Sender(), res: res})
				return
			}
			c.running--
		case opGetTunnelConfig:
			res.Result = cfapi.TunnelConfig{TunnelID: op.TunnelID}
		case opPutTunnelConfig:
			res.Result = op.Config
		}
		ctx.Respond(res)
	})
}

// release answers the held lists.
func (c *connectorCloud) release(sys *actor.ActorSystem) {
	c.mu.Lock()
	held := c.held
	c.held, c.hold = nil, false
	c.running -= len(held)
	c.mu.Unlock()
	for _, h := range held {
		sys.Root.Send(h.to, h.res)
	}
}

// eventStore answers owned-object loads (nothing owned) and keeps the
// events it is sent.
type eventStore struct {
	mu     sync.Mutex
	events []store.Event
}

func (s *eventStore) props() *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case storeLoadOwned:
			ctx.Respond(storeOwnedLoaded{Kind: m.Kind, Scope: m.Scope})
		case storeAppendEvents:
			s.mu.Lock()
			s.events = append(s.events, m.Events...)
			s.mu.Unlock()
		}
	})
}

// connectorEvents are the events of the connector kinds, as "level kind".
func (s *eventStore) connectorEvents() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events {
		if strings.HasPrefix(e.Kind, "tunnel_connector") {
			out = append(out, e.Level+" "+e.Kind)
		}
	}
	return out
}

// logCount counts s in what the actors logged.
func logCount(b *syncBuffer, s string) int { return strings.Count(b.String(), s) }

type connectorHarness struct {
	t      *testing.T
	sys    *actor.ActorSystem
	cloud  *connectorCloud
	store  *eventStore
	logs   *syncBuffer
	tunnel *actor.PID
}

// newConnectorHarness starts one tunnel actor over the fakes, inside a
// synctest bubble; routes is how many rules the desired state gives it.
func newConnectorHarness(t *testing.T, routes int, status string, connectors ...cfapi.TunnelConnector) *connectorHarness {
	t.Helper()
	h := &connectorHarness{t: t, sys: newTestSystem(), cloud: &connectorCloud{}, store: &eventStore{}, logs: &syncBuffer{}}
	h.cloud.set(status, connectors...)
	cf := h.sys.Root.Spawn(h.cloud.props())
	st := h.sys.Root.Spawn(h.store.props())
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pc := PlannerConfig{Interval: 24 * time.Hour, Debounce: time.Millisecond, Store: st, Cloudflare: cf, Logger: logger}
	h.tunnel = h.sys.Root.Spawn(NewTunnelProps("t", TunnelRef{TunnelID: "tid", AccountID: "acc"}, pc))
	var rules []messages.DesiredRule
	for i := range routes {
		rules = append(rules, messages.DesiredRule{Hostname: string(rune('a'+i)) + ".example.com", Service: "http://web:80"})
	}
	h.sys.Root.Send(h.tunnel, messages.DesiredState{Version: 1, Settled: true, Tunnels: map[string]messages.DesiredTunnel{"t": {Name: "t", Rules: rules}}})
	return h
}

func (h *connectorHarness) status() TunnelConnectors {
	h.t.Helper()
	res, err := h.sys.Root.RequestFuture(h.tunnel, messages.QueryPlannerStatus{}, time.Minute).Result()
	if err != nil {
		h.t.Fatal(err)
	}
	return res.(PlannerStatus).Connectors
}

// wait lets d pass on the fake clock and the actors settle.
func (h *connectorHarness) wait(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func (h *connectorHarness) stop() {
	_ = h.sys.Root.StopFuture(h.tunnel).Wait()
	h.sys.Shutdown()
	settle()
}

func connector(colos ...string) cfapi.TunnelConnector {
	c := cfapi.TunnelConnector{ID: "c1", Version: "2025.11.1"}
	for _, colo := range colos {
		c.Connections = append(c.Connections, cfapi.TunnelConnection{ID: colo + "-conn", ConnectorID: "c1", Colo: colo, OriginIP: "192.0.2.10"})
	}
	return c
}

// A tunnel that carries routes loses its connector: one WARN event, none
// while it stays down, one INFO event when a connector is back; one read
// per period, reported on the planner status.
func TestTunnelConnectorsLostAndRestored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newConnectorHarness(t, 2, cfapi.TunnelHealthy, connector("ams01", "fra02"))
		if st := h.status(); st.Read() {
			t.Fatalf("read before the first read was due: %+v", st)
		}
		h.wait(connectorsFirstRead + time.Second)
		st := h.status()
		if st.Status != cfapi.TunnelHealthy || st.Active() != 2 || !st.Read() || len(st.Connectors[0].Connections) != 2 {
			t.Fatalf("first read: %+v", st)
		}
		if ev := h.store.connectorEvents(); len(ev) != 0 {
			t.Fatalf("events of a healthy tunnel: %v", ev)
		}
		// The status is a copy: changing it changes nothing in the actor.
		st.Connectors[0].Connections[0].Colo = "changed"
		if h.status().Connectors[0].Connections[0].Colo != "ams01" {
			t.Fatal("the planner status shares the connectors with the actor")
		}

		// cloudflared stops.
		h.cloud.set(cfapi.TunnelDown)
		h.wait(connectorsPeriod)
		if st := h.status(); st.Status != cfapi.TunnelDown || st.Active() != 0 {
			t.Fatalf("after the connector left: %+v", st)
		}
		if ev := h.store.connectorEvents(); len(ev) != 1 || ev[0] != "warn "+eventConnectorLost {
			t.Fatalf("events after the connector left: %v", ev)
		}
		// Still down: nothing new.
		h.wait(3 * connectorsPeriod)
		if ev := h.store.connectorEvents(); len(ev) != 1 {
			t.Fatalf("events while it stays down: %v", ev)
		}
		// A connection pending reconnect serves nothing: still down.
		pending := connector("ams01")
		pending.Connections[0].PendingReconnect = true
		h.cloud.set(cfapi.TunnelDown, pending)
		h.wait(connectorsPeriod)
		if st := h.status(); st.Active() != 0 || len(h.store.connectorEvents()) != 1 {
			t.Fatalf("a pending connection counted: %+v %v", st, h.store.connectorEvents())
		}
		// It comes back.
		h.cloud.set(cfapi.TunnelHealthy, connector("ams01"))
		h.wait(connectorsPeriod)
		if st := h.status(); st.Status != cfapi.TunnelHealthy || st.Active() != 1 {
			t.Fatalf("after the connector came back: %+v", st)
		}
		ev := h.store.connectorEvents()
		if len(ev) != 2 || ev[1] != "info "+eventConnectorRestored {
			t.Fatalf("events after the connector came back: %v", ev)
		}
		if n := logCount(h.logs, `level=WARN msg="tunnel t lost its last connector`); n != 1 {
			t.Errorf("WARN lines for the loss: %d, want 1", n)
		}
		if n := logCount(h.logs, `level=INFO msg="tunnel t has a connector again`); n != 1 {
			t.Errorf("INFO lines for the return: %d, want 1", n)
		}
		// One read per period, never more: first read + 6 periods.
		if gets, peak := h.cloud.counts(); gets != 7 || peak != 1 {
			t.Errorf("reads %d (want 7), at most %d at once (want 1)", gets, peak)
		}
		h.stop()
	})
}

// A tunnel already without a connector when main starts: one WARN line,
// no event; a connector that then arrives is an event. A tunnel without
// routes is no one's concern.
func TestTunnelConnectorsDownAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newConnectorHarness(t, 1, cfapi.TunnelInactive)
		h.wait(connectorsFirstRead + 3*connectorsPeriod)
		if st := h.status(); st.Status != cfapi.TunnelInactive || st.Active() != 0 || !st.Read() {
			t.Fatalf("status %+v", st)
		}
		if ev := h.store.connectorEvents(); len(ev) != 0 {
			t.Fatalf("events at start-up: %v", ev)
		}
		if n := logCount(h.logs, "tunnel t carries 1 route(s) and has no connector (status inactive)"); n != 1 {
			t.Fatalf("start-up warnings: %d, want 1\n%s", n, h.logs.String())
		}
		h.cloud.set(cfapi.TunnelHealthy, connector("ams01"))
		h.wait(connectorsPeriod)
		if ev := h.store.connectorEvents(); len(ev) != 1 || ev[0] != "info "+eventConnectorRestored {
			t.Fatalf("events after a connector arrived: %v", ev)
		}
		h.stop()

		// No routes: neither warnings nor events, whatever happens.
		h = newConnectorHarness(t, 0, cfapi.TunnelHealthy, connector("ams01"))
		h.wait(connectorsFirstRead + connectorsPeriod)
		h.cloud.set(cfapi.TunnelDown)
		h.wait(2 * connectorsPeriod)
		if st := h.status(); st.Status != cfapi.TunnelDown {
			t.Fatalf("status %+v", st)
		}
		if ev := h.store.connectorEvents(); len(ev) != 0 || logCount(h.logs, "no connector") != 0 || logCount(h.logs, "lost its last") != 0 {
			t.Fatalf("a tunnel without routes was reported: %v\n%s", ev, h.logs.String())
		}
		h.stop()
	})
}

// A read never overlaps another: while one waits for its answer, neither
// its period nor a resync starts a second; the next starts a period after
// it ended. A failed read keeps the last good reading, is logged once for
// a run of failures and retried on the next period.
func TestTunnelConnectorsReadsNeverOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newConnectorHarness(t, 1, cfapi.TunnelHealthy, connector("ams01"))
		h.wait(connectorsFirstRead + time.Second)
		if gets, _ := h.cloud.counts(); gets != 1 {
			t.Fatalf("reads %d, want 1", gets)
		}
		first := h.status().ReadAt

		// The next read's list hangs for five periods; resyncs come in.
		h.cloud.mu.Lock()
		h.cloud.hold = true
		h.cloud.mu.Unlock()
		h.wait(connectorsPeriod)
		for range 3 {
			h.sys.Root.Send(h.tunnel, messages.ResyncNow{})
			h.wait(connectorsPeriod)
		}
		h.wait(connectorsPeriod)
		if gets, peak := h.cloud.counts(); gets != 2 || peak != 1 {
			t.Fatalf("while a read hangs: %d reads (want 2), %d at once (want 1)", gets, peak)
		}
		if st := h.status(); !st.ReadAt.Equal(first) {
			t.Fatalf("a read that has not ended changed the status: %+v", st)
		}
		h.cloud.release(h.sys)
		synctest.Wait()
		if st := h.status(); st.ReadAt.Equal(first) || st.Active() != 1 {
			t.Fatalf("the late answer was not taken: %+v", st)
		}
		h.wait(connectorsPeriod - time.Second)
		if gets, _ := h.cloud.counts(); gets != 2 {
			t.Fatalf("a read started %v after the last ended: %d reads", connectorsPeriod-time.Second, gets)
		}
		h.wait(2 * time.Second)
		if gets, _ := h.cloud.counts(); gets != 3 {
			t.Fatalf("no read a period after the last ended: %d reads", gets)
		}

		// Three failures in a row: one log line, the last reading kept.
		good := h.status()
		h.cloud.mu.Lock()
		h.cloud.failGets = 3
		h.cloud.mu.Unlock()
		h.wait(3 * connectorsPeriod)
		st := h.status()
		if st.Status != cfapi.TunnelHealthy || st.Active() != 1 || !st.ReadAt.Equal(good.ReadAt) || !strings.Contains(st.LastError, "simulated outage") {
			t.Fatalf("after failed reads: %+v", st)
		}
		if n := logCount(h.logs, "reading the tunnel's connectors failed"); n != 1 {
			t.Errorf("failure lines: %d, want 1", n)
		}
		if ev := h.store.connectorEvents(); len(ev) != 0 {
			t.Errorf("a failed read caused events: %v", ev)
		}
		h.wait(connectorsPeriod)
		if st := h.status(); st.LastError != "" || st.ReadAt.Equal(good.ReadAt) {
			t.Fatalf("after the outage: %+v", st)
		}
		if n := logCount(h.logs, "reading the tunnel's connectors works again"); n != 1 {
			t.Errorf("recovery lines: %d, want 1", n)
		}
		if gets, peak := h.cloud.counts(); gets != 7 || peak != 1 {
			t.Errorf("reads %d (want 7), at most %d at once", gets, peak)
		}
		h.stop()
	})
}
