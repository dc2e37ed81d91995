package actors

// Adversarial tests of issue 11: what a hostile agent (one with a valid,
// possibly scoped token) can and cannot do to main.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// syncBuf is a log sink shared by main's goroutines and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), substr)
}

// bridgePair is an authenticated connection: main's end and the agent's.
func bridgePair(t *testing.T) (mainEnd, agentEnd *bridge.Conn) {
	t.Helper()
	accepted := make(chan *bridge.Conn, 1)
	port, err := bridge.ServePort("127.0.0.1:0", bridge.ListenConfig{Role: bridge.RoleMain, Keys: bridge.Keys{{Name: "hostile", Token: []byte(tokenA)}},
		Accept: func(c *bridge.Conn) error { accepted <- c; return nil }},
		func(err error) { t.Errorf("listener: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(port.Stop)
	agentEnd, err = bridge.Dial(t.Context(), bridge.DialConfig{URL: "ws://" + port.Addr().String(), Role: bridge.RoleAgent, Key: bridge.Key{Name: "main", Token: []byte(tokenA)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agentEnd.Close(bridge.CodeNormal, "test over") })
	select {
	case mainEnd = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
	}
	return mainEnd, agentEnd
}

// requested is a message a probe received with Request.
type requested struct {
	msg    any
	sender *actor.PID
}

// probe is an actor that hands every user message to the test.
func probe(t *testing.T, sys *actor.ActorSystem, name string, answer func(ctx actor.Context)) (*actor.PID, chan requested) {
	t.Helper()
	got := make(chan requested, 1024)
	pid, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
			return
		}
		if answer != nil {
			answer(ctx)
		}
		got <- requested{ctx.Message(), ctx.Sender()}
	}), name)
	if err != nil {
		t.Fatal(err)
	}
	return pid, got
}

func nextSet(t *testing.T, got chan requested, within time.Duration) (messages.ContainerSet, *actor.PID, bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case r := <-got:
			if set, ok := r.msg.(messages.ContainerSet); ok {
				return set, r.sender, true
			}
		case <-deadline:
			return messages.ContainerSet{}, nil, false
		}
	}
}

// TestSessionKeepsOnlyTheNewestSnapshot: an agent that sends snapshots
// faster than the registry takes them makes the session hold one, the
// newest; the registry gets the next only once it answered the last, and
// the agent's ack waits for that answer too. (Before, every frame went into
// an unbounded mailbox and was acked at once: two agents looping 7 MB
// snapshots took main from 177 to 618 MB.)
func TestSessionKeepsOnlyTheNewestSnapshot(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	reg, sets := probe(t, sys, "registry", nil)
	dir, _ := probe(t, sys, "agents", func(ctx actor.Context) {
		if _, ok := ctx.Message().(AgentConnected); ok {
			ctx.Respond(messages.AgentAdmission{})
		}
	})
	mainEnd, agentEnd := bridgePair(t)
	sys.Root.Spawn(NewAgentSessionProps(AgentSessionConfig{Conn: mainEnd, Registry: reg, Agents: dir, Logger: slog.New(slog.DiscardHandler)}))

	const n = 100
	send := func(v uint64) {
		set := messages.ContainerSet{Version: v, Containers: []messages.Container{{Name: "c", Labels: map[string]string{"v": fmt.Sprint(v)}}}}
		if err := agentEnd.Send(t.Context(), bridge.Snapshot{Set: set}); err != nil {
			t.Fatal(err)
		}
	}
	send(1)
	first, sender, ok := nextSet(t, sets, 5*time.Second)
	if !ok || first.Version != 1 || first.Source != "agent:hostile" {
		t.Fatalf("the registry's first set: %v %+v, want version 1 of agent:hostile", ok, first)
	}
	// While the registry has not answered, the agent floods.
	for v := uint64(2); v <= n; v++ {
		send(v)
	}
	if more, _, ok := nextSet(t, sets, 500*time.Millisecond); ok {
		t.Fatalf("the registry got version %d before it answered version %d", more.Version, first.Version)
	}
	select {
	case f := <-agentEnd.Recv():
		t.Fatalf("the agent got %s before the registry took its snapshot", f.Type())
	default:
	}

	sys.Root.Send(sender, messages.SetApplied{Source: first.Source, Version: first.Version})
	if f := <-agentEnd.Recv(); f.Body != (bridge.Ack{Version: first.Version}) {
		t.Fatalf("the agent got %+v, want the ack of version %d", f.Body, first.Version)
	}
	last, sender, ok := nextSet(t, sets, 5*time.Second)
	if !ok || last.Version != n {
		t.Fatalf("after version %d the registry got version %d (%v), want only the newest, %d", first.Version, last.Version, ok, n)
	}
	sys.Root.Send(sender, messages.SetApplied{Source: last.Source, Version: n})
	if f := <-agentEnd.Recv(); f.Body != (bridge.Ack{Version: n}) {
		t.Fatalf("the agent got %+v, want the ack of version %d", f.Body, n)
	}
	if more, _, ok := nextSet(t, sets, 300*time.Millisecond); ok {
		t.Fatalf("the registry got version %d after the newest", more.Version)
	}
}

// dialAgent connects to main's agent port as the agent with token; it
// returns the connection (the handshake done) or the error.
func dialAgent(t *testing.T, url, token string) (*bridge.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := bridge.Dial(ctx, bridge.DialConfig{URL: url, Role: bridge.RoleAgent, Key: bridge.Key{Name: "main", Token: []byte(token)}})
	if err == nil {
		t.Cleanup(func() { c.Close(bridge.CodeNormal, "test over") })
	}
	return c, err
}

func routeSet(version uint64, host string) messages.ContainerSet {
	return messages.ContainerSet{Version: version, Containers: []messages.Container{{ID: "c-" + host, Name: "web-" + host, State: "running",
		Labels: labelsOf("labelgate.tunnel.web.hostname", host, "labelgate.tunnel.web.service", "http://web:80", "labelgate.tunnel.web.cleanup", "true")}}}
}

// wantRefused waits for main to close c with 4008 and a reason containing
// fragment.
func wantRefused(t *testing.T, c *bridge.Conn, fragment string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("main did not close the connection")
	}
	var ce *bridge.CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != bridge.CodeRefused || !ce.Remote || !strings.Contains(ce.Reason, fragment) {
		t.Fatalf("connection ended with %v, want main's 4008 containing %q", c.Err(), fragment)
	}
}

func (p *pipeline) hostnames() map[string]messages.HostnameState {
	p.t.Helper()
	out := map[string]messages.HostnameState{}
	for _, h := range p.hostnameStates() {
		out[h.Hostname] = h
	}
	return out
}

// TestDecommissionRevokes: a decommissioned agent is refused, with its
// token, until an operator enables it again (across a restart of main too),
// or its token changes. Before, it reconnected at once with the same token
// and its new claims were accepted.
func TestDecommissionRevokes(t *testing.T) {
	listen := freePort(t)
	url := "ws://" + listen
	p := newPipeline(t, func(c *config.Config) {
		c.Agent.Enabled = true
		c.Agent.Listen = listen
		c.Agent.HeartbeatInterval = 200 * time.Millisecond
		c.Agent.Agents = map[string]config.AgentEntry{"nas": {Token: tokenA}}
	})
	var c *bridge.Conn
	eventually(t, 10*time.Second, "main's agent listener", func() bool {
		var err error
		c, err = dialAgent(t, url, tokenA)
		return err == nil
	})
	if err := c.Send(t.Context(), bridge.Snapshot{Set: routeSet(1, "nas.example.com")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the agent's route", func() bool { return p.hasRule("nas.example.com>http://web:80") })

	if err := p.agentAction(messages.DecommissionAgent{Name: "nas"}); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, c, "decommissioned")

	// The same token again: authenticated, then refused; what it sends in
	// between never reaches the registry.
	refusedWith := func(token string) {
		t.Helper()
		c, err := dialAgent(t, url, token)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		_ = c.Send(t.Context(), bridge.Snapshot{Set: routeSet(1, "back.example.com")})
		wantRefused(t, c, "decommissioned")
		time.Sleep(300 * time.Millisecond)
		if _, ok := p.hostnames()["back.example.com"]; ok {
			t.Fatal("a decommissioned agent's snapshot reached the registry")
		}
	}
	refusedWith(tokenA)
	p.restart()
	eventually(t, 10*time.Second, "main's agent listener after the restart", func() bool {
		c, err := dialAgent(t, url, tokenA)
		if err != nil {
			return false
		}
		wantRefused(t, c, "decommissioned")
		return true
	})
	refusedWith(tokenA)
	if ags := p.agents(); len(ags) != 1 || ags[0].State != messages.AgentStatusDecommissioned {
		t.Fatalf("agents after the restart: %+v", ags)
	}

	// An operator enables it: it connects and its claims count again.
	if err := p.agentAction(messages.EnableAgent{Name: "nas"}); err != nil {
		t.Fatal(err)
	}
	c, err := dialAgent(t, url, tokenA)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(t.Context(), bridge.Snapshot{Set: routeSet(1, "back.example.com")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the enabled agent's route", func() bool { return p.hasRule("back.example.com>http://web:80") })

	// Decommissioned again, then given a new token: the new token gets in.
	if err := p.agentAction(messages.DecommissionAgent{Name: "nas"}); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, c, "decommissioned")
	p.stop()
	p.cfg.Agent.Agents = map[string]config.AgentEntry{"nas": {Token: tokenB}}
	p.start()
	eventually(t, 10*time.Second, "the agent with its new token", func() bool {
		c, err := dialAgent(t, url, tokenB)
		if err != nil {
			return false
		}
		return c.Send(t.Context(), bridge.Snapshot{Set: routeSet(2, "new.example.com")}) == nil
	})
	eventually(t, 10*time.Second, "the new token's route", func() bool { return p.hasRule("new.example.com>http://web:80") })
	if err := p.agentAction(messages.EnableAgent{Name: "nobody"}); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("enabling an unknown agent: %v, want ErrUnknownAgent", err)
	}
}

// TestPerAgentRequireTLS: an agent with require_tls is refused over ws://
// and accepted over wss://; another agent is not affected.
func TestPerAgentRequireTLS(t *testing.T) {
	listen := freePort(t)
	newPipeline(t, func(c *config.Config) {
		c.Agent.Enabled = true
		c.Agent.Listen = listen
		c.Agent.Agents = map[string]config.AgentEntry{"secure": {Token: tokenA, RequireTLS: true}, "plain": {Token: tokenB}}
	})
	var err error
	eventually(t, 10*time.Second, "main's agent listener", func() bool {
		_, err = dialAgent(t, "ws://"+listen, tokenB)
		return err == nil
	})
	_, err = dialAgent(t, "ws://"+listen, tokenA)
	var ce *bridge.CloseError
	if !errors.As(err, &ce) || ce.Code != bridge.CodeRefused || !strings.Contains(ce.Reason, "wss://") {
		t.Fatalf("ws:// for the require_tls agent: %v, want a 4008 refusal naming wss://", err)
	}
	c, err := dialAgent(t, "wss://"+listen, tokenA)
	if err != nil {
		t.Fatalf("wss:// for the require_tls agent: %v", err)
	}
	if c.Peer().Mode != bridge.ModeTokenBound {
		t.Errorf("mode %s, want token-bound", c.Peer().Mode)
	}
}

// TestLabelErrorFloodIsBounded: one snapshot with thousands of out-of-scope
// names (the report: 27,569 of them wrote 27,574 ERROR lines and a 7 MB
// /api/v1/label-errors answer) costs a bounded number of log lines, stored
// events and listed errors; the overview still counts them all.
func TestLabelErrorFloodIsBounded(t *testing.T) {
	listen := freePort(t)
	var logs syncBuf
	p := newPipelineLogged(t, func(c *config.Config) {
		c.Agent.Enabled = true
		c.Agent.Listen = listen
		c.Agent.Agents = map[string]config.AgentEntry{"att": {Token: tokenA, AllowedHostnames: []string{"*.att.example.com"}}}
	}, &logs)
	var c *bridge.Conn
	eventually(t, 10*time.Second, "main's agent listener", func() bool {
		var err error
		c, err = dialAgent(t, "ws://"+listen, tokenA)
		return err == nil
	})
	const containers, perContainer = 2000, 50
	var cs []messages.Container
	for i := range containers {
		l := map[string]string{}
		n := 1
		if i == 0 {
			n = perContainer
		}
		for j := range n {
			svc := fmt.Sprintf("s%d", j)
			l["labelgate.tunnel."+svc+".hostname"] = fmt.Sprintf("h%d-%d.victim.example.com", i, j)
			l["labelgate.tunnel."+svc+".service"] = "http://x:80"
		}
		cs = append(cs, messages.Container{ID: fmt.Sprint(i), Name: fmt.Sprintf("c%05d", i), State: "running", Labels: l})
	}
	total := containers - 1 + perContainer
	if err := c.Send(t.Context(), bridge.Snapshot{Set: messages.ContainerSet{Version: 1, Containers: cs}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the errors counted", func() bool {
		n, _, err := p.labelErrors()
		return err == nil && n == total
	})
	_, errs, err := p.labelErrors()
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > maxErrorsServedPerSource+1 {
		t.Errorf("%d label errors listed, want at most %d and a closing line", len(errs), maxErrorsServedPerSource)
	}
	if last := errs[len(errs)-1]; !strings.Contains(last, fmt.Sprintf("%d more label errors", total-maxErrorsServedPerSource)) {
		t.Errorf("the closing line says %q", last)
	}
	time.Sleep(300 * time.Millisecond) // the store writes behind
	evs := p.events(t, store.EventQuery{Limit: 10000})
	n := 0
	for _, e := range evs {
		if e.Kind == "label_error" {
			n++
		}
	}
	if n == 0 || n > errorEventBurst+1 {
		t.Errorf("%d label_error events stored, want 1 to %d", n, errorEventBurst+1)
	}
	if n := logs.count("level=ERROR"); n > errorEventBurst+1 {
		t.Errorf("%d ERROR log lines, want at most %d", n, errorEventBurst+1)
	}
	// Nothing else happens: the errors over the budget are still summed up
	// once the budget allows one more line.
	eventually(t, errorEventEvery+5*time.Second, "the summary of the errors not logged one by one", func() bool {
		return logs.count("more label errors were not logged one by one") == 1
	})
}

// TestMainReportsItsAgentListener: /readyz's agent_listener check comes
// from the listener itself.
func TestMainReportsItsAgentListener(t *testing.T) {
	listen := freePort(t)
	p := newPipeline(t, func(c *config.Config) {
		c.Agent.Enabled = true
		c.Agent.Listen = listen
		c.Agent.Agents = map[string]config.AgentEntry{"a": {Token: tokenA}}
	})
	if !p.main.Has(ChildListener) {
		t.Fatal("no agent listener")
	}
	// The listener reports "not serving" until its port is up.
	eventually(t, 10*time.Second, "the listener to report that it accepts", func() bool {
		res, err := p.main.Ask(t.Context(), ChildListener, messages.QueryListenerHealth{})
		return err == nil && res.(messages.ListenerHealth).Err == nil
	})
	if _, err := net.Dial("tcp", listen); err != nil {
		t.Fatalf("the listener does not accept: %v", err)
	}
}

// TestReconnectLoopIsPaced: an agent with a valid token that reconnects in a
// loop gets a burst of sessions, then is refused until its budget refills;
// what it costs in stored events stays bounded.
func TestReconnectLoopIsPaced(t *testing.T) {
	listen := freePort(t)
	p := newPipeline(t, func(c *config.Config) {
		c.Agent.Enabled = true
		c.Agent.Listen = listen
		c.Agent.Agents = map[string]config.AgentEntry{"loop": {Token: tokenA}}
	})
	eventually(t, 10*time.Second, "main's agent listener", func() bool {
		conn, err := net.Dial("tcp", listen)
		if err == nil {
			_ = conn.Close() // the test is done with it
		}
		return err == nil
	})
	admitted, refused := 0, 0
	for range 3 * admissionBurst {
		c, err := dialAgent(t, "ws://"+listen, tokenA)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		// An admitted session stays open; a refused one is closed by main.
		select {
		case <-c.Done():
			var ce *bridge.CloseError
			if !errors.As(c.Err(), &ce) || ce.Code != bridge.CodeRefused || !strings.Contains(ce.Reason, "reconnects too often") {
				t.Fatalf("session ended with %v, want a 4008 for reconnecting too often", c.Err())
			}
			refused++
		case <-time.After(500 * time.Millisecond):
			admitted++
			c.Close(bridge.CodeNormal, "again")
			<-c.Done()
		}
	}
	if admitted != admissionBurst || refused != 2*admissionBurst {
		t.Errorf("%d sessions admitted and %d refused, want %d and %d", admitted, refused, admissionBurst, 2*admissionBurst)
	}
	time.Sleep(300 * time.Millisecond) // the store writes behind
	evs := p.events(t, store.EventQuery{Limit: 10000})
	connects := 0
	for _, e := range evs {
		if e.Kind == "agent_connected" {
			connects++
		}
	}
	if connects != admissionBurst {
		t.Errorf("%d agent_connected events, want %d", connects, admissionBurst)
	}
}

// TestDecommissionWhileFlooding: an agent that keeps sending snapshots while
// it is decommissioned cannot bring its claims back with a snapshot still in
// flight (the registry refuses a revoked source's sets).
func TestDecommissionWhileFlooding(t *testing.T) {
	listen := freePort(t)
	p := newPipeline(t, func(c *config.Config) {
		c.Agent.Enabled = true
		c.Agent.Listen = listen
		c.Agent.Agents = map[string]config.AgentEntry{"nas": {Token: tokenA}}
	})
	var c *bridge.Conn
	eventually(t, 10*time.Second, "main's agent listener", func() bool {
		var err error
		c, err = dialAgent(t, "ws://"+listen, tokenA)
		return err == nil
	})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := uint64(1); ; v++ {
			select {
			case <-stop:
				return
			default:
			}
			set := routeSet(v, "nas.example.com")
			set.Containers[0].Labels["labelgate.tunnel.web.service"] = fmt.Sprintf("http://web:%d", 1000+v%2)
			if c.Send(context.Background(), bridge.Snapshot{Set: set}) != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	eventually(t, 10*time.Second, "the agent's route", func() bool {
		_, ok := p.hostnames()["nas.example.com"]
		return ok
	})
	if err := p.agentAction(messages.DecommissionAgent{Name: "nas"}); err != nil {
		t.Fatal(err)
	}
	// The grace (2 s) passes; the hostname must be gone for good.
	eventually(t, 10*time.Second, "the decommissioned agent's hostname to go", func() bool {
		_, ok := p.hostnames()["nas.example.com"]
		return !ok
	})
	time.Sleep(time.Second)
	if st, ok := p.hostnames()["nas.example.com"]; ok {
		t.Fatalf("the decommissioned agent's hostname came back: %+v", st)
	}
}

// TestSessionPacesAnnounces: announces that change in a loop reach the
// directory at a paced rate (the newest kept meanwhile); identical ones do
// not reach it at all.
func TestSessionPacesAnnounces(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	reg, _ := probe(t, sys, "registry", nil)
	dir, got := probe(t, sys, "agents", func(ctx actor.Context) {
		if _, ok := ctx.Message().(AgentConnected); ok {
			ctx.Respond(messages.AgentAdmission{})
		}
	})
	mainEnd, agentEnd := bridgePair(t)
	sys.Root.Spawn(NewAgentSessionProps(AgentSessionConfig{Conn: mainEnd, Registry: reg, Agents: dir, Logger: slog.New(slog.DiscardHandler)}))
	start := time.Now()
	const n = 1000
	for i := range n {
		if err := agentEnd.Send(t.Context(), bridge.Announce{Hostname: "h", DefaultTunnel: fmt.Sprint("t", i%2)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	announces := 0
	var last AgentAnnounced
	for len(got) > 0 {
		if a, ok := (<-got).msg.(AgentAnnounced); ok {
			announces++
			last = a
		}
	}
	if limit := announceBurst + int(time.Since(start)/announceEvery) + 1; announces > limit {
		t.Errorf("%d of %d announces reached the directory in %s, want at most %d", announces, n, time.Since(start).Round(time.Millisecond), limit)
	}
	if announces == 0 {
		t.Fatal("no announce reached the directory")
	}
	// Identical announces are not passed on.
	for range 50 {
		if err := agentEnd.Send(t.Context(), bridge.Announce{Hostname: "h", DefaultTunnel: last.DefaultTunnel}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * announceEvery)
	for len(got) > 0 {
		if a, ok := (<-got).msg.(AgentAnnounced); ok {
			t.Fatalf("an identical announce reached the directory: %+v", a)
		}
	}
}
